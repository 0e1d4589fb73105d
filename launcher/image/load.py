"""``launcher load -i ARCHIVE``: images from an archive into the store.

Accepts what ``save`` writes and what Docker, skopeo and podman write: an OCI
image layout (``oci-layout`` + ``index.json``, in a tar or a directory) or a
docker-archive (``manifest.json``); the OCI layout wins when an archive has
both (Docker 25+ writes both). The tar may be gzip- or zstd-compressed. A
stream that cannot seek (stdin), or a compressed one, is first spooled into an
unlinked temp file in the store's tmp/.

Three phases, so that nothing is indexed unless everything verified:

1. Plan (load_plan.py): parse and verify every manifest and config (OCI:
   against their descriptors' digests and sizes; size caps of
   archive.JSON_MAX/CONFIG_MAX) and check every layer member exists as a
   regular file (of the descriptor's size). Member names are plain relative
   paths; links are never followed.
2. Layers: each is streamed once into a BlobWriter (digest and size checked
   at commit) while ``unpack_layer`` applies it and checks the config's diff
   id. An OCI layer blob is kept as it is; a docker-archive layer is stored
   as its uncompressed tar (blob digest = diff id) under a synthesized Docker
   v2 manifest, as Docker's own loader does.
3. One index transaction names every image.

A failure leaves no index entry and nothing in tmp/ (verified blobs and
layers may stay: content-addressed, GC removes them if nothing uses them).

Names: docker-archive ``RepoTags``; OCI ``io.containerd.image.name``, else
``org.opencontainers.image.ref.name`` when it is a whole reference (contains
``:`` or ``/``; a bare ``latest`` is only a tag and names nothing). Index
entries with no name load as untagged images (``Loaded image ID``). Several
entries under one name that carry platforms (a multi-platform index), and a
nested image index, load the one manifest for the host's platform; the same
name twice without platforms is refused as ambiguous.
"""

from __future__ import annotations

import os

from launcher import fastjson
from launcher.errors import ImageError
from launcher.image import archive as ar
from launcher.image import digest as dg
from launcher.image.load_plan import LAYER_TYPES as LAYER_TYPES
from launcher.image.load_plan import PlannedImage, PlannedLayer, plan
from launcher.registry import mediatypes as mt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from launcher.image.archive import Archive
    from launcher.image.store import ImageStore


def load(store: ImageStore, source: BinaryIO | str) -> list[str]:
    """Load every image of the archive ``source`` (a path, a directory, ``-``
    for stdin, or a binary stream). Returns what was loaded, in archive order:
    familiar references (``busybox:latest``), or ``sha256:…`` image ids for
    untagged images; :func:`message` words each as Docker does."""
    from launcher.image.lock import store_lock

    store.ensure_dirs()
    try:
        with store_lock(store.paths, exclusive=False), \
                ar.Opened(source, store.paths.storage_tmp) as archive:
            images = plan(archive)
            for image in images:
                _store_layers(store, archive, image)
            _index(store, images)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise ImageError(f"load: {where}{exc.strerror or exc}") from exc
    loaded: list[str] = []
    for image in images:
        for shown in [n.familiar() for n in image.names] or [image.config_digest]:
            if shown not in loaded:
                loaded.append(shown)
    return loaded


def message(loaded: str) -> str:
    """Docker's line for one item of :func:`load`'s result."""
    if loaded.startswith(dg.PREFIX):
        return f"Loaded image ID: {loaded}"
    return f"Loaded image: {loaded}"


# ---- phase 2: layers


def _store_layers(store: ImageStore, archive: Archive, image: PlannedImage) -> None:
    for layer in image.layers:
        try:
            _store_layer(store, archive, layer)
        except ImageError as exc:
            raise ImageError(f"{image.where}: layer {layer.member}: {exc}") from None
    if not image.manifest:
        image.manifest = _docker_manifest(image)
        image.manifest_digest = dg.of_bytes(image.manifest)


def _store_layer(store: ImageStore, archive: Archive, layer: PlannedLayer) -> None:
    """One pass over the member: into a BlobWriter and through unpack_layer."""
    from launcher.image import decompress

    if store.has_layer(layer.diff_id) and store.has_blob(layer.digest):
        if layer.size is None:
            layer.size = os.path.getsize(store.blob_path(layer.digest))
        return
    with archive.open(layer.member, "layer") as raw, \
            store.blob_writer(layer.digest, layer.size) as blob:
        src: dg.Reader = decompress.open_stream(raw) if layer.inflate else raw
        tee = dg.TeeReader(src, blob.write)
        store.unpack_layer(tee, layer.diff_id)
        while tee.read(ar.CHUNK):  # all of it, also when the layer was already unpacked
            pass
        blob.commit()
        layer.size = blob.size


def _docker_manifest(image: PlannedImage) -> bytes:
    """The Docker v2 manifest of a docker-archive image: uncompressed layers."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": {"mediaType": mt.DOCKER_CONFIG, "size": len(image.config),
                   "digest": image.config_digest},
        "layers": [{"mediaType": mt.DOCKER_LAYER, "size": layer.size, "digest": layer.digest}
                   for layer in image.layers],
    }
    return fastjson.dumps(manifest).encode()


# ---- phase 3: the index


def _index(store: ImageStore, images: list[PlannedImage]) -> None:
    from launcher.image import index as ix

    for image in images:
        if image.index:
            store.put_blob(image.index)
        store.put_blob(image.manifest, image.manifest_digest)
        store.put_blob(image.config, image.config_digest)
        for layer in image.layers:
            if not store.has_layer(layer.diff_id):  # pragma: no cover - phase 2 made it
                raise ImageError(f"{image.where}: layer {layer.diff_id} is not in the store")

    def change(entries: dict[str, Any]) -> None:
        for image in images:
            index = dg.of_bytes(image.index) if image.index else ""
            for name in image.names:
                record = ix.ImageRecord(str(name), image.manifest_digest, image.config_digest,
                                        image.created, index)
                ix.set_ref(entries, record.key, record.to_json())
            if not image.names and not ix.keys_of(entries, image.config_digest):
                record = ix.ImageRecord("", image.manifest_digest, image.config_digest,
                                        image.created)
                entries[record.key] = record.to_json()

    store.update_index(change)
