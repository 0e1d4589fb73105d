"""The image index, ``images.json``: references (and dangling images) -> records.

Document::

    {"version": 1,
     "images": {
       "docker.io/library/busybox:latest":
           {"manifest": "sha256:…", "config": "sha256:…", "created": "…",
            "index": "sha256:…",     # optional: the image index pulled, if any
            "tagged": "…"},          # optional: RFC 3339 time of the last `tag`
       "sha256:<config hex>": {…}    # a dangling image, as Docker's <none>:<none>
     }}

A key is either a full normalised reference (always ``domain/path…``, so it
contains ``/``) or, for an image that lost its last reference while it had to
stay (a tag moved to another image; ``rmi -f`` of an image a container uses),
its image id ``sha256:<hex>``. An image id has at most one entry of the second
kind and never has one while any reference points at it.

The functions below change an ``images`` dict in place; the store applies them
inside :meth:`ImageStore.update_index` (read-modify-write under the index lock,
replaced atomically), so one call is one transaction.
"""

from __future__ import annotations

import os

from launcher import fastjson
from launcher.errors import ImageError, StateError
from launcher.image import blobs
from launcher.image import digest as dg

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from launcher.image.reference import Reference
    from launcher.paths import Paths

INDEX_VERSION = 1
MIN_ID_PREFIX = 12
NEVER = "0001-01-01T00:00:00Z"  # Go's zero time, as Docker prints "never"


class ImageRecord:
    """One index entry: what a reference (or a dangling image id) points at.

    ``reference`` is the full normalised reference, or ``""`` for a dangling
    entry (whose index key is the image id).
    """

    __slots__ = ("config", "created", "index", "manifest", "reference", "tagged")

    def __init__(
        self,
        reference: str,
        manifest: str,
        config: str,
        created: str,
        index: str = "",
        tagged: str = "",
    ) -> None:
        self.reference = reference
        self.manifest = manifest
        self.config = config  # the image id
        self.created = created
        self.index = index  # digest of the image index the manifest was chosen from
        self.tagged = tagged

    @property
    def key(self) -> str:
        return self.reference or self.config

    @property
    def dangling(self) -> bool:
        return not self.reference

    def to_json(self) -> dict[str, str]:
        out = {"manifest": self.manifest, "config": self.config, "created": self.created}
        if self.index:
            out["index"] = self.index
        if self.tagged:
            out["tagged"] = self.tagged
        return out

    @classmethod
    def from_json(cls, key: str, obj: Any) -> ImageRecord:
        if type(obj) is not dict:
            raise ValueError(f"entry {key!r} is not an object")
        config = dg.validate(obj.get("config"), "config digest")
        if is_id_key(key) and key != config:
            raise ValueError(f"dangling entry {key!r} names image {config}")
        index = obj.get("index")
        return cls(
            "" if is_id_key(key) else key,
            dg.validate(obj.get("manifest"), "manifest digest"),
            config,
            str(obj.get("created") or ""),
            dg.validate(index, "index digest") if index else "",
            str(obj.get("tagged") or ""),
        )


def is_id_key(key: str) -> bool:
    """True for a dangling entry's key (an image id, never a reference: those have ``/``)."""
    return key.startswith(dg.PREFIX) and "/" not in key


# ---- reading and writing images.json


def read(path: str) -> dict[str, Any]:
    """The ``images`` object of the index at ``path`` ({} when there is none yet)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise StateError(f"cannot read image index {path}: {exc.strerror}") from None
    try:
        doc = fastjson.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StateError(f"corrupt image index {path}: {exc}") from None
    images = doc.get("images") if type(doc) is dict else None
    if type(images) is not dict:
        raise StateError(f"corrupt image index {path}: no 'images' object")
    return images


def update(paths: Paths, change: Callable[[dict[str, Any]], object]) -> None:
    """Read-modify-write images.json under its lock, replacing it atomically.

    Holds the store lock shared as well (before the index lock: the one order
    everyone uses), so GC, which sweeps tmp/, never removes our temp file.
    An exception from ``change`` leaves the index untouched.
    """
    import fcntl

    from launcher.image.lock import store_lock

    path = paths.images_index
    with store_lock(paths, exclusive=False):
        lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            images = read(path)
            change(images)
            _write(paths, {"version": INDEX_VERSION, "images": images})
        finally:
            os.close(lock)  # releases the flock


def _write(paths: Paths, doc: dict[str, Any]) -> None:
    tmp, fd = blobs.tmp_file(paths.storage_tmp, "index")
    try:
        try:
            os.write(fd, fastjson.dumps(doc, sort_keys=True).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, paths.images_index)
    except BaseException:
        blobs.unlink_quiet(tmp)
        raise
    blobs.fsync_dir(paths.storage)


def record(key: str, raw: Any, index_path: str) -> ImageRecord:
    try:
        return ImageRecord.from_json(key, raw)
    except (ValueError, ImageError) as exc:
        raise StateError(f"corrupt image index {index_path}: {exc}") from None


def records(images: dict[str, Any], index_path: str) -> list[ImageRecord]:
    return [record(k, v, index_path) for k, v in sorted(images.items())]


# ---- lookups


def looks_like_id(text: str) -> bool:
    """An image id or a prefix of one (at least 12 hex digits, ``sha256:`` optional)."""
    hexpart = text[len(dg.PREFIX) :] if text.startswith(dg.PREFIX) else text
    return MIN_ID_PREFIX <= len(hexpart) <= dg.HEX_LEN and dg.is_hex(
        hexpart.ljust(dg.HEX_LEN, "0")
    )


def find_id(images: dict[str, Any], text: str) -> str | None:
    """The image id that ``text`` (an id or id prefix) names, if any."""
    if not looks_like_id(text):
        return None
    want = dg.PREFIX + (text[len(dg.PREFIX) :] if text.startswith(dg.PREFIX) else text)
    ids = {str(v.get("config")) for v in images.values() if type(v) is dict}
    matches = [i for i in ids if i.startswith(want)]
    if len(matches) > 1:
        raise ImageError(f"image id prefix {text!r} is ambiguous")
    return matches[0] if matches else None


def find_ref(images: dict[str, Any], ref: Reference) -> str | None:
    """The index key for ``ref``: itself, or for ``name@digest`` a reference
    of that repository whose manifest (or index) has that digest."""
    key = str(ref)
    if key in images:
        return key
    if ref.digest and not ref.tag:
        for k, v in sorted(images.items()):
            if _same_repo_digest(k, v, ref):
                return k
    return None


def keys_of(images: dict[str, Any], image_id: str) -> list[str]:
    """Every key (references, or the dangling entry) that points at ``image_id``."""
    return sorted(k for k, v in images.items() if type(v) is dict and v.get("config") == image_id)


def refs_of(images: dict[str, Any], image_id: str) -> list[str]:
    """The references (not the dangling entry) that point at ``image_id``."""
    return [k for k in keys_of(images, image_id) if not is_id_key(k)]


def _same_repo_digest(key: str, raw: Any, ref: Reference) -> bool:
    if type(raw) is not dict or ref.digest not in (raw.get("manifest"), raw.get("index")):
        return False
    from launcher.image.reference import parse

    try:
        return parse(key, default_tag=False).name == ref.name
    except Exception:
        return False


# ---- changes (inside update())


def set_ref(images: dict[str, Any], key: str, entry: dict[str, Any]) -> str | None:
    """Point reference ``key`` at ``entry``. The image it pointed at before, if
    it differs and has no other reference, stays as a dangling entry (its id
    is returned). The new image's dangling entry, if any, goes."""
    old = images.get(key)
    images[key] = entry
    images.pop(entry["config"], None)
    if type(old) is not dict:
        return None
    old_id = old.get("config")
    if not isinstance(old_id, str) or old_id == entry["config"] or refs_of(images, old_id):
        return None
    keep = dict(old)
    keep.pop("tagged", None)
    images[old_id] = keep
    return old_id


def drop_ref(images: dict[str, Any], key: str, *, keep_dangling: bool) -> bool:
    """Remove reference ``key``; True when that was the image's last reference.

    ``keep_dangling``: the image then stays as a dangling entry (a container
    uses it) instead of leaving the index.
    """
    raw = images.pop(key)
    image_id = raw.get("config") if type(raw) is dict else None
    if not isinstance(image_id, str) or refs_of(images, image_id):
        return False
    if keep_dangling:
        keep = dict(raw)
        keep.pop("tagged", None)
        images[image_id] = keep
    return True


def drop_image(images: dict[str, Any], image_id: str) -> list[str]:
    """Remove every entry of ``image_id``; the references removed."""
    gone = keys_of(images, image_id)
    for k in gone:
        del images[k]
    return [k for k in gone if not is_id_key(k)]
