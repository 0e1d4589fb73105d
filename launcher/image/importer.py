"""``launcher import ROOTFS.tar NAME[:TAG]``: a rootfs tarball as a one-layer image.

The tarball is read once: its bytes go into the blob store as they are (the
layer blob, digest of the bytes as given) while the decompressed stream is
hashed (the diff id) and applied into a temporary layer directory. Only when
all of that succeeded are the blob and the layer committed, then the OCI
config and manifest written and the reference tagged. A failure leaves no
layer and no index entry; importing the same tarball again shares the blob
and the layer.
"""

from __future__ import annotations

import time

from launcher import fastjson
from launcher.errors import ImageError, NotFoundError
from launcher.image import decompress
from launcher.image import digest as dg
from launcher.image.reference import Reference, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from launcher.image.store import Image, ImageStore

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {
    decompress.NONE: "application/vnd.oci.image.layer.v1.tar",
    decompress.GZIP: "application/vnd.oci.image.layer.v1.tar+gzip",
    decompress.ZSTD: "application/vnd.oci.image.layer.v1.tar+zstd",
}


def import_rootfs(
    store: ImageStore,
    source: str | BinaryIO,
    ref: str,
    *,
    created: str | None = None,
    limits: decompress.Limits | None = None,
) -> Image:
    """Import a (plain, gzip or zstd) rootfs tarball as image ``ref``.

    ``source`` is a path, ``-`` (stdin) or a binary stream. ``created`` pins the
    RFC 3339 creation time (reproducible images); default: now.
    """
    reference = parse(ref)
    if source == "-":
        import sys

        return import_rootfs(store, sys.stdin.buffer, ref, created=created, limits=limits)
    if isinstance(source, str):
        try:
            with open(source, "rb") as f:
                return import_rootfs(store, f, ref, created=created, limits=limits)
        except FileNotFoundError:
            raise NotFoundError(f"import: {source}: no such file") from None
        except IsADirectoryError:
            raise ImageError(f"import: {source} is a directory, not a tarball") from None
    from launcher.image.lock import store_lock

    # Shared store lock from the first blob to the index entry: GC waits.
    with store_lock(store.paths, exclusive=False):
        return _import(store, source, reference, created, limits)


def _import(store: ImageStore, source: BinaryIO, reference: Reference, created: str | None,
            limits: decompress.Limits | None) -> Image:
    layer = _store_layer(store, source, limits)
    when = created or rfc3339(time.time())
    config = _config(layer[2], when)
    config_bytes = fastjson.dumps(config, sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {
            "mediaType": CONFIG_TYPE,
            "digest": dg.of_bytes(config_bytes),
            "size": len(config_bytes),
        },
        "layers": [{"mediaType": LAYER_TYPES[layer[3]], "digest": layer[0], "size": layer[1]}],
    }
    manifest_bytes = fastjson.dumps(manifest, sort_keys=True).encode()
    return store.put_image(reference, manifest_bytes, config_bytes)


def _store_layer(
    store: ImageStore, source: BinaryIO, limits: decompress.Limits | None
) -> tuple[str, int, str, str]:
    """Blob + unpacked layer from one pass; (blob digest, size, diff id, compression)."""
    with store.blob_writer() as blob:
        raw = dg.TeeReader(source, blob.write)
        tmp = store.new_tmp_dir()
        try:
            stream = decompress.open_stream(raw, limits)
            tar = dg.HashingReader(stream)
            from launcher.image import unpack

            unpack.apply_tar(tar, tmp, stream.limits)
            tar.drain()
            while raw.read(decompress.CHUNK):  # bytes after the compressed stream
                pass
            diff_id = tar.digest()
            blob_digest = blob.commit()
            store.commit_layer(tmp, diff_id)
        except BaseException:
            store.remove_tmp(tmp)
            raise
        return blob_digest, blob.size, diff_id, stream.compression


def _config(diff_id: str, created: str) -> dict[str, Any]:
    from launcher.host import oci_arch

    return {
        "created": created,
        "architecture": oci_arch(),
        "os": "linux",
        "config": {"Env": [DEFAULT_PATH]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "launcher import"}],
    }


def rfc3339(seconds: float) -> str:
    """UTC timestamp as OCI wants it, without importing datetime."""
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}Z"
    )
