"""``launcher save -o ARCHIVE REF…``: images from the store into an archive.

Formats (see archive.py for the layouts; the writers are in archive_write.py):

* ``docker-archive`` (default): as classic ``docker save``. Layers are
  written uncompressed (``<diff id hex>/layer.tar``): a compressed stored blob
  is inflated into an unlinked temp file in the store's tmp/ first (the tar
  header needs the size) and checked against its diff id on the way.
* ``oci-archive``: an OCI image layout in a tar; blobs byte for byte as stored,
  so manifest digests survive the trip.
* ``oci-dir``: the same layout as a directory (``out`` is then a path).

References resolve as Docker's: ``name:tag`` saves that tag; a bare ``name``
with tags in the store saves every tag of that repository; an image id (or
``name@digest``) saves the image with no tag. Every reference is resolved
before anything is written (NotFoundError); images named twice share one copy
of their blobs. Output is deterministic: members in a fixed order, mtime 0,
root-owned. With a path as ``out``, the archive appears there only when
complete (written beside it, then renamed).

The store lock is held shared throughout, so GC cannot sweep a blob being read.
"""

from __future__ import annotations

import os

from launcher import fastjson
from launcher.errors import ImageError, UsageError
from launcher.image import archive as ar
from launcher.image import digest as dg
from launcher.image.archive_write import DirWriter, TarWriter
from launcher.image.blobs import unlink_quiet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from launcher.image.index import ImageRecord
    from launcher.image.reference import Reference
    from launcher.image.store import ImageStore

DOCKER_ARCHIVE = "docker-archive"
OCI_ARCHIVE = "oci-archive"
OCI_DIR = "oci-dir"
FORMATS = (DOCKER_ARCHIVE, OCI_ARCHIVE, OCI_DIR)
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class _Saved:
    """One image to write: its record, the tags to give it, manifest and config."""

    __slots__ = ("config", "diff_ids", "layers", "manifest", "manifest_size", "record", "tags")

    def __init__(self, record: ImageRecord) -> None:
        self.record = record
        self.tags: list[Reference] = []
        self.manifest: dict[str, Any] = {}
        self.manifest_size = 0
        self.config = b""
        self.layers: list[str] = []  # layer blob digests, base first
        self.diff_ids: list[str] = []


def save(
    store: ImageStore, refs: list[str], out: BinaryIO | str, *, format: str = DOCKER_ARCHIVE
) -> None:
    """Write the images ``refs`` name to ``out`` (a binary stream, or a path:
    ``-`` is stdout; for ``oci-dir`` a directory that is missing or empty)."""
    from launcher.image.lock import store_lock

    if format not in FORMATS:
        raise UsageError(f"unknown archive format {format!r} (want {', '.join(FORMATS)})")
    if not refs:
        raise UsageError("save: name at least one image")
    if format == OCI_DIR and not isinstance(out, str):
        raise UsageError("save: the oci-dir format writes to a directory path")
    try:
        with store_lock(store.paths, exclusive=False):
            images = _resolve(store, refs)
            for image in images:
                _describe(store, image)
            if format == OCI_DIR:
                assert isinstance(out, str)
                _to_dir(store, images, out)
            elif isinstance(out, str) and out != "-":
                _to_path(store, images, out, format)
            else:
                import sys

                stream = sys.stdout.buffer if isinstance(out, str) else out
                _write(store, images, TarWriter(stream), format)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise ImageError(f"save: {where}{exc.strerror or exc}") from exc


# ---- which images


def _resolve(store: ImageStore, refs: list[str]) -> list[_Saved]:
    """The images ``refs`` name, each once, in first-named order; NotFoundError
    (or UsageError for a malformed reference) before anything is written."""
    from launcher.image import index as ix

    images = store.read_index()
    found: dict[str, _Saved] = {}
    for text in refs:
        for key, tag in _matches(store, images, text):
            record = ix.record(key, images[key], store.paths.images_index)
            item = found.setdefault(record.config, _Saved(record))
            if tag is not None and tag not in item.tags:
                item.tags.append(tag)
    return list(found.values())


def _matches(
    store: ImageStore, images: dict[str, Any], text: str
) -> list[tuple[str, Reference | None]]:
    """Index keys ``text`` names, each with the tag to save it under (or None)."""
    from launcher.image import index as ix
    from launcher.image.reference import parse

    try:
        ref: Reference | None = parse(text, default_tag=False)
    except UsageError:
        ref = None
    if ref is not None and ref.tag is None and ref.digest is None:
        keys = [k for k in sorted(images) if not ix.is_id_key(k) and _repo_tag(k, ref.name)]
        if keys:  # a bare repository name: every tag of it, as `docker save` does
            return [(k, parse(k)) for k in keys]
        ref = None  # maybe an image id prefix: looked up below, saved without a tag
    key = store.lookup(images, text)
    if key is None:
        store.find(text)  # raises the NotFoundError (or UsageError) that explains it
        raise ImageError(f"image {text} not found")  # pragma: no cover - find raised
    if ref is not None:
        ref = parse(text)
    named = ref is not None and not ref.digest and key == str(ref)
    return [(key, ref if named else None)]


def _repo_tag(key: str, name: str) -> bool:
    from launcher.image.reference import parse

    ref = parse(key, default_tag=False)
    return ref.name == name and ref.tag is not None and ref.digest is None


def _describe(store: ImageStore, image: _Saved) -> None:
    """Read the image's manifest and config, and check its layer blobs are here."""
    from launcher.image.store import CONFIG_MAX

    rec = image.record
    shown = rec.reference or rec.config
    image.manifest = store.read_json(rec.manifest, "manifest")
    image.manifest_size = os.path.getsize(store.blob_path(rec.manifest))
    image.config = store.read_blob(rec.config, CONFIG_MAX)
    image.diff_ids = store.diff_ids(rec)
    layers = image.manifest.get("layers")
    if type(layers) is not list or len(layers) != len(image.diff_ids):
        raise ImageError(f"image {shown}: manifest layers do not match the config's diff ids")
    for layer in layers:
        digest = dg.validate(layer.get("digest") if type(layer) is dict else None,
                             "layer digest")
        if not store.has_blob(digest):
            raise ImageError(f"image {shown}: layer blob {digest} is not in the store "
                             "(pull the image again to save it)")
        image.layers.append(digest)


# ---- where to


def _to_path(store: ImageStore, images: list[_Saved], path: str, format: str) -> None:
    """Write beside ``path`` and rename: a failed save leaves no partial archive."""
    tmp = _sibling(path)
    try:
        with open(tmp, "xb") as f:
            _write(store, images, TarWriter(f), format)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        unlink_quiet(tmp)
        raise


def _to_dir(store: ImageStore, images: list[_Saved], path: str) -> None:
    """Fill a new directory beside ``path``, then rename it over ``path``
    (which may be missing or an empty directory: rename(2) replaces those)."""
    from launcher.fsutil import remove_tree

    try:
        if os.listdir(path):
            raise UsageError(f"save: {path} exists and is not empty")
    except FileNotFoundError:
        pass
    except NotADirectoryError:
        raise UsageError(f"save: {path} exists and is not a directory") from None
    tmp = _sibling(path)
    os.mkdir(tmp, 0o755)
    try:
        writer = DirWriter(tmp)
        try:
            _write_oci(store, images, writer)
        finally:
            writer.close()
        os.rename(tmp, path)
    except BaseException:
        remove_tree(tmp)
        raise


def _sibling(path: str) -> str:
    head, tail = os.path.split(os.path.abspath(path))
    return os.path.join(head, f".{tail}.tmp-{os.getpid()}-{os.urandom(4).hex()}")


def _write(store: ImageStore, images: list[_Saved], writer: TarWriter, format: str) -> None:
    if format == DOCKER_ARCHIVE:
        _write_docker(store, images, writer)
    else:
        _write_oci(store, images, writer)
    writer.close()


# ---- OCI layout


def _write_oci(store: ImageStore, images: list[_Saved], writer: TarWriter | DirWriter) -> None:
    """Blobs (sorted by digest), then index.json, then oci-layout."""
    digests: set[str] = set()
    for image in images:
        digests.update((image.record.manifest, image.record.config, *image.layers))
    writer.add_dir("blobs")
    writer.add_dir(ar.BLOBS_DIR)
    for digest in sorted(digests):
        with store.open_blob(digest) as blob:
            size = os.fstat(blob.fileno()).st_size
            writer.add_stream(ar.blob_name(dg.hex_of(digest)), size, blob)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": _descriptors(images)}
    writer.add_bytes(ar.INDEX_JSON, _json(index))
    writer.add_bytes(ar.OCI_LAYOUT, _json({"imageLayoutVersion": ar.LAYOUT_VERSION}))


def _descriptors(images: list[_Saved]) -> list[dict[str, Any]]:
    """One index entry per tag (per image if it has none), named as Docker
    names them: the tag in REF_NAME, the full reference in IMAGE_NAME."""
    out: list[dict[str, Any]] = []
    for image in images:
        media = image.manifest.get("mediaType")
        desc = {
            "mediaType": media if isinstance(media, str) else OCI_MANIFEST,
            "digest": image.record.manifest,
            "size": image.manifest_size,
        }
        if not image.tags:
            out.append(desc)
        for tag in image.tags:
            named = dict(desc)
            named["annotations"] = {ar.IMAGE_NAME: str(tag), ar.REF_NAME: tag.tag}
            out.append(named)
    return out


# ---- docker-archive


def _write_docker(store: ImageStore, images: list[_Saved], writer: TarWriter) -> None:
    """Layers (first use order), configs, manifest.json, repositories."""
    written: set[str] = set()
    for image in images:
        for digest, diff_id in zip(image.layers, image.diff_ids, strict=True):
            if diff_id not in written:
                _write_layer(store, writer, digest, diff_id)
                written.add(diff_id)
    entries: list[dict[str, Any]] = []
    repos: dict[str, dict[str, str]] = {}
    for image in images:
        config_name = dg.hex_of(image.record.config) + ".json"
        if config_name not in written:
            writer.add_bytes(config_name, image.config)
            written.add(config_name)
        tags = [t.familiar() for t in image.tags]
        entries.append({
            "Config": config_name,
            "RepoTags": tags or None,
            "Layers": [_layer_name(d) for d in image.diff_ids],
        })
        for t in image.tags:
            if image.diff_ids:  # legacy readers: the top layer's directory
                repos.setdefault(t.familiar_name(), {})[t.tag or "latest"] = dg.hex_of(
                    image.diff_ids[-1])
    writer.add_bytes(ar.MANIFEST_JSON, _json(entries))
    if repos:
        writer.add_bytes(ar.REPOSITORIES, _json(repos))


def _layer_name(diff_id: str) -> str:
    return dg.hex_of(diff_id, "diff id") + "/layer.tar"


def _write_layer(store: ImageStore, writer: TarWriter, digest: str, diff_id: str) -> None:
    """The layer as an uncompressed tar: the blob itself when it is one (its
    digest is the diff id), else inflated into a temp file and checked."""
    writer.add_dir(dg.hex_of(diff_id, "diff id"))
    with store.open_blob(digest) as blob:
        if digest == diff_id:
            writer.add_stream(_layer_name(diff_id), os.fstat(blob.fileno()).st_size, blob)
            return
        with _inflate(store, blob, digest, diff_id) as plain:
            size = plain.seek(0, os.SEEK_END)
            plain.seek(0)
            writer.add_stream(_layer_name(diff_id), size, plain)


def _inflate(store: ImageStore, blob: BinaryIO, digest: str, diff_id: str) -> BinaryIO:
    from launcher.image import decompress

    tmp = ar.anonymous_file(store.paths.storage_tmp, "save")
    try:
        plain = dg.HashingReader(decompress.open_stream(blob))
        while data := plain.read(ar.CHUNK):
            tmp.write(data)
        tmp.flush()
        if plain.digest() != diff_id:
            raise ImageError(f"layer {digest} in the store does not match its diff id "
                             f"{diff_id}: the store is damaged (pull the image again)")
    except BaseException:
        tmp.close()
        raise
    return tmp


def _json(obj: object) -> bytes:
    return fastjson.dumps(obj, compact=True).encode()
