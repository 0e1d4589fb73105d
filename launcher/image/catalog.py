"""``images``, ``rmi``, ``tag`` and ``image inspect``, with Docker's semantics.

Every change is one index transaction (ImageStore.update_index): it either
happens whole or not at all. Nothing here deletes content: ``remove`` only
drops index entries, and the caller runs :func:`launcher.image.gc.collect`
afterwards to sweep the blobs and layers no image or container uses any more.

Dangling images: when a tag moves to another image, or ``rmi -f`` removes the
last reference of an image a container uses, the image stays in the index
under its id (``<none>:<none>`` in listings); see index.py.
"""

from __future__ import annotations

import time

from launcher.errors import ConflictError, LauncherError, NotFoundError, UsageError
from launcher.image import digest as dg
from launcher.image import index as ix
from launcher.image.reference import Reference, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from launcher.image.store import ImageStore

NONE = "<none>"


class ImageSummary:
    """One row of ``images``: a reference (or a dangling image) and its image."""

    __slots__ = ("created", "digest", "id", "repository", "size", "tag")

    def __init__(self, repository: str, tag: str, image_id: str, digest: str, created: str,
                 size: int) -> None:
        self.repository = repository  # familiar name, or "<none>"
        self.tag = tag  # or "<none>"
        self.id = image_id  # sha256:…
        self.digest = digest  # repo digest "name@sha256:…", or ""
        self.created = created  # RFC 3339, from the image config
        self.size = size  # bytes, unpacked

    def __repr__(self) -> str:
        return f"ImageSummary({self.repository}:{self.tag} {self.id[:19]})"


def tag(store: ImageStore, source: str, target: str) -> None:
    """``tag SOURCE TARGET``: point ``target`` (normalised like Docker) at the
    image ``source`` names (a reference, an id or id prefix)."""
    want = parse(target)
    if want.digest:
        raise UsageError("refusing to create a tag with a digest reference")

    def change(images: dict[str, Any]) -> None:
        key = store.lookup(images, source)
        if key is None:
            raise NotFoundError(f"No such image: {source}")
        entry = dict(images[key])
        entry["tagged"] = _now()
        ix.set_ref(images, str(want), entry)

    store.update_index(change)


def remove(
    store: ImageStore,
    refs: list[str],
    *,
    force: bool,
    in_use: Mapping[str, Sequence[str]],
) -> list[tuple[str, str]]:
    """``rmi [-f] REF…``: untag, and drop images whose last reference went.

    Returns Docker's output lines, ``("Untagged", "busybox:latest")`` and
    ``("Deleted", "sha256:…")``. ``in_use`` maps image ids to the containers
    using them (usage.containers_using). Every REF is tried; the errors are
    raised together at the end, one line. Deletes no content: run gc.collect
    afterwards.
    """
    lines: list[tuple[str, str]] = []
    errors: list[LauncherError] = []
    for text in refs:
        out: list[tuple[str, str]] = []

        def change(images: dict[str, Any], text: str = text,
                   out: list[tuple[str, str]] = out) -> None:
            out.extend(_remove_one(store, images, text, force, in_use))

        try:
            store.update_index(change)
        except LauncherError as exc:
            errors.append(exc)
        else:
            lines.extend(out)
    if errors:
        raise _combined(errors)
    return lines


def _remove_one(store: ImageStore, images: dict[str, Any], text: str, force: bool,
                in_use: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    ref = _try_parse(text)
    if ref is not None:
        key = ix.find_ref(images, ref)
        if key is not None:
            return _untag(images, key, ref, text, force, in_use)
    image_id = ix.find_id(images, text)
    if image_id is None:
        if ref is None and not ix.looks_like_id(text):
            parse(text)  # the UsageError that says what is wrong with it
        raise NotFoundError(f"No such image: {text}")
    return _delete(images, image_id, text, force, in_use)


def _untag(images: dict[str, Any], key: str, ref: Reference, text: str, force: bool,
           in_use: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """Remove a reference; the image goes with its last one."""
    image_id = str(images[key]["config"])
    refs = ix.refs_of(images, image_id)
    # name@digest found by its digest (not a key itself): every reference of that repository
    exact = key == str(ref)
    removing = {key} if exact else {k for k in refs if _name(k) == ref.name}
    # As Docker: digest references go with the last tag of their repository.
    for name in {_name(k) for k in removing}:
        rest = [k for k in refs if k not in removing and _name(k) == name]
        if rest and all(_is_digest_ref(k) for k in rest):
            removing.update(rest)
    last = set(refs) <= removing
    users = in_use.get(image_id) or ()
    if last and users and not force:
        raise ConflictError(f"unable to remove {text} (must force) - image is being used "
                            f"by container {users[0][:12]}")
    lines = [("Untagged", _familiar(k)) for k in sorted(removing)]
    entry = dict(images[key])
    for k in removing:
        del images[k]
    if last:
        if users:  # forced: the image stays, dangling, for the containers using it
            entry.pop("tagged", None)
            images[image_id] = entry
        else:
            lines.append(("Deleted", image_id))
    return lines


def _delete(images: dict[str, Any], image_id: str, text: str, force: bool,
            in_use: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """Remove an image by id: all its references, then itself."""
    short = image_id[len(dg.PREFIX):][:12]
    refs = ix.refs_of(images, image_id)
    if not force and len({_name(k) for k in refs}) > 1:
        raise ConflictError(f"unable to delete {short} (must be forced) - image is referenced "
                            "in multiple repositories")
    users = in_use.get(image_id) or ()
    if users and not force:
        raise ConflictError(f"unable to remove {text} (must force) - image is being used "
                            f"by container {users[0][:12]}")
    if users and not refs:
        raise ConflictError(f"unable to delete {short} (cannot be forced) - image is being "
                            f"used by container {users[0][:12]}")
    keep = dict(images[ix.keys_of(images, image_id)[0]])
    lines = [("Untagged", _familiar(k)) for k in ix.drop_image(images, image_id)]
    if users:  # forced: the references go, the image stays for its containers
        keep.pop("tagged", None)
        images[image_id] = keep
    else:
        lines.append(("Deleted", image_id))
    return lines


def summaries(store: ImageStore) -> list[ImageSummary]:
    """The rows of ``images``, newest image first (as ``docker images``)."""
    records = ix.records(store.read_index(), store.paths.images_index)
    sizes: dict[str, int] = {}
    tagged = {(_name(r.reference), r.config) for r in records
              if r.reference and not _is_digest_ref(r.reference)}
    rows: list[ImageSummary] = []
    for r in records:
        if r.config not in sizes:
            sizes[r.config] = _size(store, r)
        if r.dangling:
            rows.append(ImageSummary(NONE, NONE, r.config, "", r.created, sizes[r.config]))
            continue
        ref = parse(r.reference, default_tag=False)
        if not ref.tag and (ref.name, r.config) in tagged:
            continue  # a digest reference: shown as the tag row's DIGEST, as Docker does
        name = ref.familiar_name()
        digest = f"{name}@{ref.digest or r.index or r.manifest}"
        rows.append(ImageSummary(name, ref.tag or NONE, r.config, digest, r.created,
                                 sizes[r.config]))
    rows.sort(key=lambda s: (s.repository == NONE, s.repository, s.tag))
    rows.sort(key=lambda s: epoch(s.created), reverse=True)
    return rows


def inspect(store: ImageStore, ref: str) -> dict[str, Any]:
    """Docker's ``image inspect`` object for ``ref``; launcher's extras under "Launcher"."""
    try:
        image = store.get(ref)
    except NotFoundError:
        raise NotFoundError(f"No such image: {ref}") from None
    images = store.read_index()
    record = image.record
    refs = [parse(k, default_tag=False) for k in ix.refs_of(images, image.id)]
    repo_digests: list[str] = []
    for r in refs:
        d = f"{r.familiar_name()}@{r.digest or record.index or record.manifest}"
        if d not in repo_digests:
            repo_digests.append(d)
    raw = image.raw_config
    config = raw.get("config")
    rootfs = raw.get("rootfs")
    tag_times = [str(v["tagged"]) for v in images.values()
                 if type(v) is dict and v.get("config") == image.id and v.get("tagged")]
    out: dict[str, Any] = {
        "Id": image.id,
        "RepoTags": [r.familiar() for r in refs if r.tag],
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": str(raw.get("comment") or ""),
        "Created": str(raw.get("created") or ix.NEVER),
        "DockerVersion": str(raw.get("docker_version") or ""),
        "Author": str(raw.get("author") or ""),
        "Config": config if type(config) is dict else {},
        "Architecture": str(raw.get("architecture") or ""),
    }
    if raw.get("variant"):
        out["Variant"] = str(raw["variant"])
    out["Os"] = str(raw.get("os") or "")
    if raw.get("os.version"):
        out["OsVersion"] = str(raw["os.version"])
    out["Size"] = store.size_of(image.diff_ids)
    out["RootFS"] = {"Type": str(rootfs.get("type") or "layers") if type(rootfs) is dict
                     else "layers", "Layers": list(image.diff_ids)}
    out["Metadata"] = {"LastTagTime": max(tag_times) if tag_times else ix.NEVER}
    out["Launcher"] = {
        "ManifestDigest": record.manifest,
        "IndexDigest": record.index,
        "MediaType": str(image.manifest.get("mediaType") or ""),
        "LayerDirs": list(image.layer_dirs),
    }
    return out


def epoch(stamp: str) -> float:
    """Seconds since the epoch of an RFC 3339 time (0 if it is not one), without
    datetime: ``2024-01-02T03:04:05.123Z``, ``…+02:00``."""
    import calendar

    try:
        date, _, clock = stamp.upper().partition("T")
        year, month, day = (int(p) for p in date.split("-"))
        zone_at = max(clock.find("Z"), clock.find("+"), clock.rfind("-"))
        hms, zone = (clock[:zone_at], clock[zone_at:]) if zone_at > 0 else (clock, "Z")
        whole, _, frac = hms.partition(".")
        hour, minute, second = (int(p) for p in whole.split(":"))
        offset = 0
        if zone not in ("Z", ""):
            oh, om = zone[1:].split(":")
            offset = (int(oh) * 3600 + int(om) * 60) * (1 if zone[0] == "+" else -1)
        base = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
        return base - offset + (float("0." + frac) if frac.isdigit() else 0.0)
    except ValueError:
        return 0.0


def _size(store: ImageStore, record: ix.ImageRecord) -> int:
    try:
        return store.size_of(store.diff_ids(record))
    except LauncherError:
        return 0  # a damaged image still lists (inspect/pull say what is wrong)


def _combined(errors: list[LauncherError]) -> LauncherError:
    if len(errors) == 1:
        return errors[0]
    kinds = {type(e) for e in errors}
    cls = kinds.pop() if len(kinds) == 1 else LauncherError
    return cls("; ".join(str(e) for e in errors))


def _try_parse(text: str) -> Reference | None:
    try:
        return parse(text)
    except UsageError:
        return None


def _name(key: str) -> str:
    """Repository name of an index key (``""`` for a dangling entry)."""
    return "" if ix.is_id_key(key) else parse(key, default_tag=False).name


def _is_digest_ref(key: str) -> bool:
    return "@" in key and not parse(key, default_tag=False).tag


def _familiar(key: str) -> str:
    return key if ix.is_id_key(key) else parse(key, default_tag=False).familiar()


def _now() -> str:
    t = time.gmtime()
    return (f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}Z")
