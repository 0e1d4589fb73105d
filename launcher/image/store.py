"""ImageStore: content-addressed blobs, unpacked layers and the image index.

On disk (names from launcher.paths, every directory 0700)::

    blobs/sha256/<hex>     manifests, configs, layer blobs as given (gzip/zstd/tar)
    layers/<diff id hex>/  one unpacked layer (overlay lower dir), shared by images
    layer-sizes/<hex>      a layer's unpacked size in bytes (decimal): what `images` sums
    images.json            the index (see index.py): reference or dangling id -> record
    images.json.lock       flock(2) taken for every index update
    gc.lock                the store lock: writers shared, GC exclusive (lock.py)
    tmp/                   blobs and unpacks in flight; never read as complete

Invariants: a blob file exists only after its bytes matched its digest (and
size, when known): written under tmp/, fsync'd, then renamed into place. A
layer directory exists only after its whole tar was applied and the diff id
computed (unpack into tmp/, syncfs, rename). The index is replaced atomically
(temp + fsync + rename) under the lock, so readers need no lock.

Sizes: each layer's unpacked size is recorded in its ``layer-sizes/``
sidecar when the layer is committed (layersize.py, imported only where a size
is written or read: it is not needed to start a container).

Writers: blob_writer(expected digest, size) -> unpack_layer(blob, expected
diff id) -> put_image, all under ``store_lock(paths, exclusive=False)``;
catalog.py tags and removes; gc.py marks from the index and sweeps.
"""

from __future__ import annotations

import os

from launcher.errors import ImageError, NotFoundError
from launcher.image import blobs
from launcher.image import digest as dg
from launcher.image import index as ix
from launcher.image.blobs import BlobWriter
from launcher.image.index import INDEX_VERSION, ImageRecord
from launcher.image.jsondoc import MANIFEST_TYPES as MANIFEST_TYPES
from launcher.image.jsondoc import json_object, manifest_diff_ids
from launcher.image.reference import Reference, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    import builtins
    from collections.abc import Callable, Iterable
    from typing import Any, BinaryIO

    from launcher.image.decompress import Limits
    from launcher.image.digest import Reader
    from launcher.paths import Paths
    from launcher.spec.image_config import ImageConfig

__all__ = ["INDEX_VERSION", "Image", "ImageRecord", "ImageStore"]

MANIFEST_MAX = 4 << 20
CONFIG_MAX = 8 << 20


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
        """The reference this image was found by; ImageError for a dangling image."""
        if self.record.dangling:
            raise ImageError(f"image {self.id} has no reference (dangling)")
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
        from launcher.fsutil import remove_tree

        try:
            remove_tree(path)
        except OSError:
            pass  # best effort: GC sweeps what is left in tmp/

    def commit_layer(self, tmp_dir: str, diff_id: str, size: int | None = None) -> str:
        """Make an unpacked tmp dir the layer ``diff_id`` (or drop it if present).

        ``size``: its unpacked size when the caller counted it (else one walk
        of ``tmp_dir`` counts it), recorded in the layer's sidecar.
        """
        from launcher.image import layersize

        final = self.layer_path(diff_id)
        if size is None:
            size = layersize.tree_size(tmp_dir)
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
        layersize.write_size(self.paths, diff_id, size)
        return final

    def unpack_layer(
        self, blob: Reader, expected_diff_id: str | None = None, limits: Limits | None = None
    ) -> str:
        """Apply a layer stream (any supported compression); return its diff id.

        With ``expected_diff_id`` (from the image config) a layer already
        present is not unpacked again, and a mismatch commits nothing.
        """
        from launcher.image import decompress, unpack
        from launcher.image.prefetch import Prefetch

        if expected_diff_id is not None and self.has_layer(expected_diff_id):
            return expected_diff_id
        tmp = self.new_tmp_dir()
        try:
            tar = dg.HashingReader(decompress.open_stream(blob, limits))
            # Inflate + hash in a helper thread while this one writes files.
            with Prefetch(tar) as ahead:
                stats = unpack.apply_tar(ahead, tmp, limits)
                while ahead.read():
                    pass
            diff_id = tar.digest()
            if expected_diff_id is not None and diff_id != expected_diff_id:
                raise ImageError(f"layer diff id mismatch: got {diff_id}, want {expected_diff_id}")
            self.commit_layer(tmp, diff_id, stats.bytes)
        except BaseException:
            self.remove_tmp(tmp)
            raise
        return diff_id

    @property
    def sizes_dir(self) -> str:
        # Beside layers/, not in it: layers/ holds nothing but overlay lower dirs.
        return self.paths.layer_sizes

    def size_path(self, diff_id: str) -> str:
        """The size sidecar of layer ``diff_id`` (layersize.py)."""
        from launcher.image import layersize

        return layersize.size_path(self.paths, diff_id)

    def layer_size(self, diff_id: str) -> int:
        """Unpacked size of a stored layer (0 if absent), from its sidecar."""
        from launcher.image import layersize

        return layersize.layer_size(self.paths, diff_id)

    def size_of(self, diff_ids: Iterable[str]) -> int:
        """An image's size: the sum of its layers' unpacked sizes."""
        return sum(self.layer_size(d) for d in diff_ids)

    # ---- images
    def put_image(
        self,
        ref: str | Reference,
        manifest_bytes: bytes,
        config_bytes: bytes,
        *,
        index: str | None = None,
    ) -> Image:
        """Store manifest and config blobs and point ``ref`` at them.

        ``index``: digest of the image index the manifest was chosen from
        (pull of a multi-platform image); GC keeps that blob too, and it is
        the image's repo digest. An image the reference pointed at before
        stays as a dangling image if nothing else refers to it.
        """
        from launcher.image.lock import store_lock

        reference = ref if isinstance(ref, Reference) else parse(ref)
        manifest = json_object(manifest_bytes, "manifest")
        raw_config = json_object(config_bytes, "image config")
        config_digest = dg.of_bytes(config_bytes)
        desc = manifest.get("config")
        if type(desc) is not dict or desc.get("digest") != config_digest:
            raise ImageError("manifest config descriptor does not match the config blob")
        diff_ids = manifest_diff_ids(manifest, raw_config)
        created = raw_config.get("created")
        # Shared store lock: GC must not sweep these blobs before they are indexed.
        with store_lock(self.paths, exclusive=False):
            for d in diff_ids:
                if not self.has_layer(d):
                    raise ImageError(f"layer {d} is not unpacked in the store")
            record = ImageRecord(
                str(reference),
                self.put_blob(manifest_bytes),
                self.put_blob(config_bytes, config_digest),
                created if isinstance(created, str) else "",
                dg.validate(index, "index digest") if index else "",
            )
            self.update_index(lambda images: ix.set_ref(images, record.key, record.to_json()))
        return self._load(record)

    def get(self, ref: str | Reference) -> Image:
        """The image named ``ref``: a reference, else an image id or id prefix
        (at least 12 hex digits), as ``docker`` resolves them."""
        return self._load(self.find(ref))

    def find(self, ref: str | Reference) -> ImageRecord:
        """The index record ``ref`` names (as :meth:`get`), without loading the image."""
        images = self.read_index()
        found = self.lookup(images, ref)
        if found is not None:
            return ix.record(found, images[found], self.paths.images_index)
        text = str(ref)
        key = ref if isinstance(ref, Reference) else _try_parse(text)
        if key is None and not ix.looks_like_id(text):
            parse(text)  # raises the UsageError that explains the bad reference
        shown = key.familiar() if key is not None else text
        raise NotFoundError(f"image {shown} not found (try `launcher pull`)")

    def lookup(self, images: dict[str, Any], ref: str | Reference) -> str | None:
        """The key in ``images`` that ``ref`` names (a reference, ``name@digest``,
        an image id or id prefix), or None. For an id: a reference if it has one."""
        text = str(ref)
        key = ref if isinstance(ref, Reference) else _try_parse(text)
        if key is not None:
            found = ix.find_ref(images, key)
            if found is not None:
                return found
        image_id = ix.find_id(images, text)
        if image_id is None:
            return None
        # An id with references has no dangling entry (index.py): any key will do.
        return ix.keys_of(images, image_id)[0]

    def list(self) -> builtins.list[ImageRecord]:
        """Every index entry, dangling images (reference ``""``) included."""
        return ix.records(self.read_index(), self.paths.images_index)

    def layer_dirs(self, image: Image) -> builtins.list[str]:
        """Unpacked layer directories, base layer first (image order)."""
        return list(image.layer_dirs)

    def read_index(self) -> dict[str, Any]:
        """The raw ``images`` object of the index (see index.py); a snapshot."""
        return ix.read(self.paths.images_index)

    def update_index(self, change: Callable[[dict[str, Any]], object]) -> None:
        """Apply ``change`` to the index as one atomic transaction (index.update)."""
        self.ensure_dirs()
        ix.update(self.paths, change)

    def read_json(self, digest: str, what: str, max_size: int = MANIFEST_MAX) -> dict[str, Any]:
        """A stored JSON object blob (manifest, config, index)."""
        return json_object(self.read_blob(digest, max_size), what)

    def diff_ids(self, record: ImageRecord) -> builtins.list[str]:
        """An image's layer diff ids, from its config (no manifest read)."""
        config = self.read_json(record.config, "image config", CONFIG_MAX)
        rootfs = config.get("rootfs")
        ids = rootfs.get("diff_ids") if type(rootfs) is dict else None
        if type(ids) is not list:
            raise ImageError(f"image {record.config}: config has no rootfs.diff_ids")
        return [dg.validate(d, "diff id") for d in ids]

    # ---- internals
    def _load(self, record: ImageRecord) -> Image:
        from launcher.spec.image_config import ImageConfig

        manifest = self.read_json(record.manifest, "manifest")
        raw_config = self.read_json(record.config, "image config", CONFIG_MAX)
        diff_ids = manifest_diff_ids(manifest, raw_config)
        dirs = [self.layer_path(d) for d in diff_ids]
        for d, path in zip(diff_ids, dirs, strict=True):
            if not os.path.isdir(path):
                shown = record.reference or record.config
                raise ImageError(f"image {shown}: layer {d} is missing from the store")
        config = ImageConfig.from_json(raw_config)
        return Image(record, manifest, raw_config, config, diff_ids, dirs)

    def _by_id(self, images: dict[str, Any], text: str) -> ImageRecord | None:
        image_id = ix.find_id(images, text)
        if image_id is None:
            return None
        key = ix.keys_of(images, image_id)[0]
        return ix.record(key, images[key], self.paths.images_index)

    # Older names, kept for callers written against them.
    _read_index = read_index
    _update_index = update_index


def _try_parse(text: str) -> Reference | None:
    from launcher.errors import UsageError

    try:
        return parse(text)
    except UsageError:
        return None

