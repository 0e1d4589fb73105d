"""ImageStore: content-addressed blobs, unpacked layers and the image index.

On disk (names from launcher.paths, every directory 0700)::

    blobs/sha256/<hex>     manifests, configs, layer blobs as given (gzip/zstd/tar)
    layers/<diff id hex>/  one unpacked layer (overlay lower dir), shared by images
    images.json            {"version": 1, "images": {ref: {manifest, config, created}}}
    images.json.lock       flock(2) taken for every index update
    tmp/                   blobs and unpacks in flight; never read as complete

Invariants: a blob file exists only after its bytes matched its digest (and
size, when known): written under tmp/, fsync'd, then renamed into place. A
layer directory exists only after its whole tar was applied and the diff id
computed (unpack into tmp/, syncfs, rename). The index is replaced atomically
(temp + fsync + rename) under the lock, so readers need no lock. Registry
pulls, ``rmi``/``tag`` and GC slot in as: blob_writer(expected digest, size)
-> unpack_layer(blob, expected diff id) -> put_image; _update_index for
(un)tagging; GC = lock, mark blobs/layers reachable from the index, sweep.
"""

from __future__ import annotations

import os

from launcher import fastjson
from launcher.errors import ImageError, NotFoundError, StateError
from launcher.image import blobs
from launcher.image import digest as dg
from launcher.image.blobs import BlobWriter
from launcher.image.reference import Reference, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    import builtins
    from collections.abc import Callable
    from typing import Any, BinaryIO

    from launcher.image.decompress import Limits
    from launcher.image.digest import Reader
    from launcher.paths import Paths
    from launcher.spec.image_config import ImageConfig

INDEX_VERSION = 1
MANIFEST_MAX = 4 << 20
CONFIG_MAX = 8 << 20
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_MIN_ID_PREFIX = 12


class ImageRecord:
    """One index entry: what a reference points at."""

    __slots__ = ("config", "created", "manifest", "reference")

    def __init__(self, reference: str, manifest: str, config: str, created: str) -> None:
        self.reference = reference  # full normalised form, the index key
        self.manifest = manifest
        self.config = config  # the image id
        self.created = created

    def to_json(self) -> dict[str, str]:
        return {"manifest": self.manifest, "config": self.config, "created": self.created}

    @classmethod
    def from_json(cls, ref: str, obj: Any) -> ImageRecord:
        if type(obj) is not dict:
            raise ValueError(f"entry {ref!r} is not an object")
        return cls(
            ref,
            dg.validate(obj.get("manifest"), "manifest digest"),
            dg.validate(obj.get("config"), "config digest"),
            str(obj.get("created") or ""),
        )


class Image:
    """A stored image: its record, manifest, config and ordered layer dirs."""

    __slots__ = ("config", "diff_ids", "layer_dirs", "manifest", "raw_config", "record")

    def __init__(
        self,
        record: ImageRecord,
        manifest: dict[str, Any],
        raw_config: dict[str, Any],
        config: ImageConfig,
        diff_ids: list[str],
        layer_dirs: list[str],
    ) -> None:
        self.record = record
        self.manifest = manifest
        self.raw_config = raw_config
        self.config = config
        self.diff_ids = diff_ids
        self.layer_dirs = layer_dirs  # base layer first (image order)

    @property
    def id(self) -> str:
        return self.record.config

    @property
    def reference(self) -> Reference:
        return parse(self.record.reference, default_tag=False)


class ImageStore:
    __slots__ = ("paths",)

    def __init__(self, paths: Paths) -> None:
        self.paths = paths

    def ensure_dirs(self) -> None:
        p = self.paths
        for d in (p.storage, p.blobs, p.layers, p.storage_tmp):
            os.makedirs(d, mode=0o700, exist_ok=True)

    # ---- blobs
    def blob_path(self, digest: str) -> str:
        return os.path.join(self.paths.blobs, dg.hex_of(digest))

    def has_blob(self, digest: str) -> bool:
        return os.path.isfile(self.blob_path(digest))

    def open_blob(self, digest: str) -> BinaryIO:
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} is not in the store") from None

    def read_blob(self, digest: str, max_size: int = MANIFEST_MAX, verify: bool = False) -> bytes:
        with self.open_blob(digest) as f:
            data = f.read(max_size + 1)
        if len(data) > max_size:
            raise ImageError(f"blob {digest} is larger than {max_size} bytes")
        if verify and dg.of_bytes(data) != digest:
            raise ImageError(f"blob {digest} is corrupt in the store")
        return data

    def blob_writer(self, expected: str | None = None, size: int | None = None) -> BlobWriter:
        self.ensure_dirs()
        return BlobWriter(self.paths, expected, size)

    def put_blob(self, data: bytes, expected: str | None = None) -> str:
        with self.blob_writer(expected, len(data) if expected else None) as w:
            w.write(data)
            return w.commit()

    # ---- layers
    def layer_path(self, diff_id: str) -> str:
        return os.path.join(self.paths.layers, dg.hex_of(diff_id, "diff id"))

    def has_layer(self, diff_id: str) -> bool:
        return os.path.isdir(self.layer_path(diff_id))

    def new_tmp_dir(self, kind: str = "layer") -> str:
        self.ensure_dirs()
        path = os.path.join(self.paths.storage_tmp, f"{kind}-{os.getpid()}-{os.urandom(6).hex()}")
        os.mkdir(path, 0o700)
        return path

    def remove_tmp(self, path: str) -> None:
        import shutil

        shutil.rmtree(path, ignore_errors=True)

    def commit_layer(self, tmp_dir: str, diff_id: str) -> str:
        """Make an unpacked tmp dir the layer ``diff_id`` (or drop it if present)."""
        final = self.layer_path(diff_id)
        blobs.syncfs(tmp_dir)
        try:
            os.rename(tmp_dir, final)
        except OSError as exc:
            if not os.path.isdir(final):
                self.remove_tmp(tmp_dir)
                raise ImageError(f"cannot store layer {diff_id}: {exc.strerror}") from None
            self.remove_tmp(tmp_dir)  # another unpack of the same layer won the race
        else:
            blobs.fsync_dir(self.paths.layers)
        return final

    def unpack_layer(
        self, blob: Reader, expected_diff_id: str | None = None, limits: Limits | None = None
    ) -> str:
        """Apply a layer stream (any supported compression); return its diff id.

        With ``expected_diff_id`` (from the image config) a layer already
        present is not unpacked again, and a mismatch commits nothing.
        """
        from launcher.image import decompress, unpack

        if expected_diff_id is not None and self.has_layer(expected_diff_id):
            return expected_diff_id
        tmp = self.new_tmp_dir()
        try:
            tar = dg.HashingReader(decompress.open_stream(blob, limits))
            unpack.apply_tar(tar, tmp, limits)
            tar.drain()
            diff_id = tar.digest()
            if expected_diff_id is not None and diff_id != expected_diff_id:
                raise ImageError(f"layer diff id mismatch: got {diff_id}, want {expected_diff_id}")
            self.commit_layer(tmp, diff_id)
        except BaseException:
            self.remove_tmp(tmp)
            raise
        return diff_id

    # ---- images
    def put_image(self, ref: str | Reference, manifest_bytes: bytes, config_bytes: bytes) -> Image:
        """Store manifest and config blobs and point ``ref`` at them."""
        reference = ref if isinstance(ref, Reference) else parse(ref)
        manifest = _json_object(manifest_bytes, "manifest")
        raw_config = _json_object(config_bytes, "image config")
        config_digest = dg.of_bytes(config_bytes)
        desc = manifest.get("config")
        if type(desc) is not dict or desc.get("digest") != config_digest:
            raise ImageError("manifest config descriptor does not match the config blob")
        diff_ids = _diff_ids(manifest, raw_config)
        for d in diff_ids:
            if not self.has_layer(d):
                raise ImageError(f"layer {d} is not unpacked in the store")
        manifest_digest = self.put_blob(manifest_bytes)
        self.put_blob(config_bytes, config_digest)
        created = raw_config.get("created")
        record = ImageRecord(
            str(reference),
            manifest_digest,
            config_digest,
            created if isinstance(created, str) else "",
        )

        def tag(images: dict[str, Any]) -> None:
            images[record.reference] = record.to_json()

        self._update_index(tag)
        return self._load(record)

    def get(self, ref: str | Reference) -> Image:
        """The image named ``ref``: a reference, else an image id or id prefix
        (at least 12 hex digits), as ``docker`` resolves them."""
        images = self._read_index()
        text = str(ref)
        key = ref if isinstance(ref, Reference) else _try_parse(text)
        if key is not None:
            raw = images.get(str(key))
            if raw is None and key.digest and not key.tag:
                raw = next((v for k, v in images.items() if _same_repo_digest(k, v, key)), None)
            if raw is not None:
                return self._load(_record(str(key), raw, self.paths.images_index))
        found = self._by_id(images, text)
        if found is not None:
            return self._load(found)
        if key is None and not _looks_like_id(text):
            parse(text)  # raises the UsageError that explains the bad reference
        shown = key.familiar() if key is not None else text
        raise NotFoundError(f"image {shown} not found (try `launcher pull`)")

    def list(self) -> builtins.list[ImageRecord]:
        images = self._read_index()
        return [_record(k, v, self.paths.images_index) for k, v in sorted(images.items())]

    def layer_dirs(self, image: Image) -> builtins.list[str]:
        """Unpacked layer directories, base layer first (image order)."""
        return list(image.layer_dirs)

    # ---- internals
    def _load(self, record: ImageRecord) -> Image:
        from launcher.spec.image_config import ImageConfig

        manifest = _json_object(self.read_blob(record.manifest, MANIFEST_MAX), "manifest")
        raw_config = _json_object(self.read_blob(record.config, CONFIG_MAX), "image config")
        diff_ids = _diff_ids(manifest, raw_config)
        dirs = [self.layer_path(d) for d in diff_ids]
        for d, path in zip(diff_ids, dirs, strict=True):
            if not os.path.isdir(path):
                raise ImageError(f"image {record.reference}: layer {d} is missing from the store")
        config = ImageConfig.from_json(raw_config)
        return Image(record, manifest, raw_config, config, diff_ids, dirs)

    def _by_id(self, images: dict[str, Any], text: str) -> ImageRecord | None:
        if not _looks_like_id(text):
            return None
        hexpart = text[len(dg.PREFIX) :] if text.startswith(dg.PREFIX) else text
        hits = {v.get("config"): (k, v) for k, v in images.items() if type(v) is dict}
        matches = [kv for cfg, kv in hits.items() if str(cfg).startswith(dg.PREFIX + hexpart)]
        if len(matches) > 1:
            raise ImageError(f"image id prefix {text!r} is ambiguous")
        if not matches:
            return None
        k, v = matches[0]
        return _record(k, v, self.paths.images_index)

    def _read_index(self) -> dict[str, Any]:
        path = self.paths.images_index
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StateError(f"cannot read image index {path}: {exc.strerror}") from None
        try:
            doc = fastjson.loads(data)
        except ValueError as exc:
            raise StateError(f"corrupt image index {path}: {exc}") from None
        images = doc.get("images") if type(doc) is dict else None
        if type(images) is not dict:
            raise StateError(f"corrupt image index {path}: no 'images' object")
        return images

    def _update_index(self, change: Callable[[dict[str, Any]], None]) -> None:
        """Read-modify-write images.json under its lock, replacing it atomically."""
        import fcntl

        self.ensure_dirs()
        path = self.paths.images_index
        lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            images = self._read_index()
            change(images)
            doc = {"version": INDEX_VERSION, "images": images}
            tmp, fd = blobs.tmp_file(self.paths.storage_tmp, "index")
            try:
                try:
                    os.write(fd, fastjson.dumps(doc, sort_keys=True).encode())
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.rename(tmp, path)
            except BaseException:
                blobs.unlink_quiet(tmp)
                raise
            blobs.fsync_dir(self.paths.storage)
        finally:
            os.close(lock)  # releases the flock


def _record(key: str, raw: Any, index_path: str) -> ImageRecord:
    try:
        return ImageRecord.from_json(key, raw)
    except (ValueError, ImageError) as exc:
        raise StateError(f"corrupt image index {index_path}: {exc}") from None


def _try_parse(text: str) -> Reference | None:
    from launcher.errors import UsageError

    try:
        return parse(text)
    except UsageError:
        return None


def _looks_like_id(text: str) -> bool:
    hexpart = text[len(dg.PREFIX) :] if text.startswith(dg.PREFIX) else text
    return _MIN_ID_PREFIX <= len(hexpart) <= dg.HEX_LEN and dg.is_hex(
        hexpart.ljust(dg.HEX_LEN, "0")
    )


def _same_repo_digest(key: str, raw: Any, ref: Reference) -> bool:
    if type(raw) is not dict or raw.get("manifest") != ref.digest:
        return False
    try:
        return parse(key, default_tag=False).name == ref.name
    except Exception:
        return False


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = fastjson.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImageError(f"{what} is not valid JSON: {exc}") from None
    if type(obj) is not dict:
        raise ImageError(f"{what} is not a JSON object")
    return obj


def _diff_ids(manifest: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """Layer diff ids from the config, checked against the manifest's layers."""
    if manifest.get("schemaVersion") != 2 or manifest.get("mediaType", MANIFEST_TYPES[0]) not in (
        MANIFEST_TYPES
    ):
        raise ImageError("not an OCI/Docker v2 image manifest")
    layers = manifest.get("layers")
    rootfs = config.get("rootfs")
    ids = rootfs.get("diff_ids") if type(rootfs) is dict else None
    if type(layers) is not list or type(ids) is not list or len(layers) != len(ids):
        raise ImageError("manifest layers and config rootfs.diff_ids do not match")
    for layer in layers:
        dg.validate(layer.get("digest") if type(layer) is dict else None, "layer digest")
    return [dg.validate(d, "diff id") for d in ids]
