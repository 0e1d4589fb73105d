"""Phase 1 of ``launcher load`` (load.py): read an archive into a verified plan.

``plan`` parses and checks every manifest and config of an OCI image layout or
a docker-archive, and that every layer member is there, before anything is
stored; the result is one PlannedImage per image to load, in archive order.
Naming and platform choice are as load.py's docstring describes.
"""

from __future__ import annotations

from launcher import fastjson
from launcher.errors import ImageError, UsageError
from launcher.image import archive as ar
from launcher.image import digest as dg
from launcher.image.jsondoc import config_diff_ids, json_object
from launcher.registry import mediatypes as mt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from launcher.image.archive import Archive
    from launcher.image.reference import Reference

LAYER_TYPES = (
    mt.OCI_LAYER, mt.OCI_LAYER_GZIP, mt.OCI_LAYER_ZSTD, mt.DOCKER_LAYER, mt.DOCKER_LAYER_GZIP,
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
)


class PlannedLayer:
    """One layer to store: an archive member, the blob it becomes, its diff id."""

    __slots__ = ("diff_id", "digest", "inflate", "member", "size")

    def __init__(self, member: str, digest: str, size: int | None, diff_id: str,
                 inflate: bool) -> None:
        self.member = member
        self.digest = digest  # the blob to store (docker-archive: the diff id)
        self.size = size  # its size: from the descriptor, or once stored
        self.diff_id = diff_id
        self.inflate = inflate  # store the uncompressed tar (docker-archive)


class PlannedImage:
    """One image to load: config, layers, names; manifest once known."""

    __slots__ = ("config", "config_digest", "created", "index", "layers", "manifest",
                 "manifest_digest", "names", "where")

    def __init__(self, where: str, config: bytes, layers: list[PlannedLayer],
                 names: list[Reference]) -> None:
        self.where = where
        self.config = config
        self.config_digest = dg.of_bytes(config)
        self.layers = layers
        self.names = names
        self.manifest = b""  # OCI: as in the archive; docker-archive: made after phase 2
        self.manifest_digest = ""
        self.index = b""  # the nested image index the manifest was chosen from, if any
        self.created = ""


def plan(archive: Archive) -> list[PlannedImage]:
    """The images to load from ``archive``; ImageError before anything is stored."""
    if archive.has(ar.OCI_LAYOUT) and archive.has(ar.INDEX_JSON):
        return _plan_oci(archive)
    if archive.has(ar.MANIFEST_JSON):
        return _plan_docker(archive)
    raise ImageError("not an image archive: it has neither an OCI layout (oci-layout and "
                     "index.json) nor a docker-archive manifest.json")


def _read_json(archive: Archive, name: str, cap: int, what: str) -> Any:
    with archive.open(name, what) as m:
        data = m.read_all(cap, what)
    try:
        return fastjson.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImageError(f"{what} is not valid JSON: {exc}") from None


def _object(data: bytes | Any, what: str) -> dict[str, Any]:
    """``data`` (bytes, or JSON already parsed) as an object."""
    if isinstance(data, bytes):
        return json_object(data, what)
    if type(data) is not dict:
        raise ImageError(f"{what} is not a JSON object")
    return data


def _image(where: str, config: bytes, layers: list[PlannedLayer],
           names: list[Reference]) -> PlannedImage:
    image = PlannedImage(where, config, layers, names)
    created = _object(config, f"{where}: image config").get("created")
    image.created = created if isinstance(created, str) else ""
    return image


# ---- OCI layout


def _plan_oci(archive: Archive) -> list[PlannedImage]:
    layout = _object(_read_json(archive, ar.OCI_LAYOUT, ar.LAYOUT_MAX, "oci-layout"),
                     "oci-layout")
    version = layout.get("imageLayoutVersion")
    if not isinstance(version, str) or not version.startswith("1."):
        raise ImageError(f"oci-layout: unsupported imageLayoutVersion {version!r}")
    index = _object(_read_json(archive, ar.INDEX_JSON, ar.JSON_MAX, "index.json"), "index.json")
    manifests = index.get("manifests")
    if type(manifests) is not list or not all(type(d) is dict for d in manifests):
        raise ImageError("index.json: manifests is not a list of descriptors")
    groups: dict[str, list[dict[str, Any]]] = {}
    names: dict[str, Reference | None] = {}
    for desc in manifests:
        ref = _oci_name(desc)
        key = str(ref) if ref is not None else ""
        groups.setdefault(key, []).append(desc)
        names[key] = ref
    images: list[PlannedImage] = []
    for key, descs in groups.items():
        for desc in _choose(key, descs):
            ref = names[key]
            images.append(_oci_image(archive, desc, [ref] if ref is not None else []))
    if not images:
        raise ImageError("index.json lists no images")
    return images


def _oci_name(desc: dict[str, Any]) -> Reference | None:
    from launcher.image.reference import parse

    annotations = desc.get("annotations")
    if type(annotations) is not dict:
        return None
    for key in (ar.IMAGE_NAME, ar.REF_NAME):
        text = annotations.get(key)
        if not isinstance(text, str) or not text:
            continue
        if key == ar.REF_NAME and ":" not in text and "/" not in text:
            continue  # only a tag: no repository to put it in
        try:
            ref = parse(text)
        except UsageError:
            raise ImageError(f"index.json: invalid image name {text[:200]!r}") from None
        if not ref.digest:
            return ref
    return None


def _choose(name: str, descs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries to load for one name: the host's platform among several."""
    from launcher.image import platform as plat

    if len(descs) > 1 and any("platform" in d for d in descs):
        return [plat.select({"manifests": descs}, plat.host(), f"index.json {name}".rstrip())]
    if len(descs) > 1 and name:
        raise ImageError(f"index.json names {name} more than once")
    return descs


def _oci_image(archive: Archive, desc: dict[str, Any], names: list[Reference]) -> PlannedImage:
    from launcher.image import platform as plat

    where = names[0].familiar() if names else f"image {str(desc.get('digest'))[:19]}"
    media = desc.get("mediaType")
    index = b""
    if media in mt.INDEX_TYPES:
        index = _blob(archive, desc, ar.JSON_MAX, "image index")
        nested = _object(index, f"{where}: image index")
        _same_type(nested, media, where)
        desc = plat.select(nested, plat.host(), where)
        media = desc.get("mediaType")
    if media not in mt.MANIFEST_TYPES:
        raise ImageError(f"{where}: unsupported manifest type {media!r}")
    manifest_bytes = _blob(archive, desc, ar.JSON_MAX, "manifest")
    manifest = _object(manifest_bytes, f"{where}: manifest")
    _same_type(manifest, media, where)
    config_desc, layer_descs = manifest.get("config"), manifest.get("layers")
    if manifest.get("schemaVersion") != 2 or type(config_desc) is not dict or (
            type(layer_descs) is not list):
        raise ImageError(f"{where}: not a schema 2 image manifest")
    config = _blob(archive, config_desc, ar.CONFIG_MAX, "image config")
    diff_ids = config_diff_ids(_object(config, f"{where}: image config"), len(layer_descs), where)
    layers = [_oci_layer(archive, d, diff_id, where)
              for d, diff_id in zip(layer_descs, diff_ids, strict=True)]
    image = _image(where, config, layers, names)
    image.manifest = manifest_bytes
    image.manifest_digest = desc["digest"]
    image.index = index
    return image


def _same_type(doc: dict[str, Any], media: object, where: str) -> None:
    """A document must be what its descriptor says (no manifest/index confusion)."""
    own = doc.get("mediaType")
    is_index = "manifests" in doc
    if (own is not None and own != media) or is_index != (media in mt.INDEX_TYPES):
        raise ImageError(f"{where}: descriptor says {media!r}, the document is not one")


def _blob(archive: Archive, desc: Any, cap: int, what: str) -> bytes:
    """A small blob of the layout, checked against its descriptor."""
    if type(desc) is not dict:
        raise ImageError(f"{what}: descriptor is not an object")
    digest = dg.validate(desc.get("digest"), f"{what} digest")
    size = desc.get("size")
    if type(size) is not int or size < 0:
        raise ImageError(f"{what} {digest}: descriptor has no valid size")
    if size > cap:
        raise ImageError(f"{what} {digest} is {size} bytes: over the {cap >> 20} MiB limit")
    with archive.open(ar.blob_name(dg.hex_of(digest)), f"{what} {digest}") as m:
        if m.size != size:
            raise ImageError(f"{what} {digest}: {m.size} bytes in the archive, "
                             f"its descriptor says {size}")
        data = m.read_all(cap, what)
    if dg.of_bytes(data) != digest:
        raise ImageError(f"{what} {digest}: content does not match its digest")
    return data


def _oci_layer(archive: Archive, desc: Any, diff_id: str, where: str) -> PlannedLayer:
    if type(desc) is not dict:
        raise ImageError(f"{where}: layer descriptor is not an object")
    digest = dg.validate(desc.get("digest"), "layer digest")
    size = desc.get("size")
    if type(size) is not int or size < 0:
        raise ImageError(f"{where}: layer {digest} has no valid size")
    if desc.get("mediaType") not in LAYER_TYPES:
        raise ImageError(f"{where}: layer {digest} has unsupported media type "
                         f"{desc.get('mediaType')!r}")
    member = ar.blob_name(dg.hex_of(digest))
    with archive.open(member, f"{where}: layer {digest}") as m:
        if m.size != size:
            raise ImageError(f"{where}: layer {digest}: {m.size} bytes in the archive, "
                             f"its descriptor says {size}")
    return PlannedLayer(member, digest, size, diff_id, inflate=False)


# ---- docker-archive


def _plan_docker(archive: Archive) -> list[PlannedImage]:
    entries = _read_json(archive, ar.MANIFEST_JSON, ar.JSON_MAX, "manifest.json")
    if type(entries) is not list or not entries:
        raise ImageError("manifest.json: want a non-empty list of images")
    return [_docker_image(archive, entry, f"manifest.json entry {i + 1}")
            for i, entry in enumerate(entries)]


def _docker_image(archive: Archive, entry: Any, where: str) -> PlannedImage:
    if type(entry) is not dict:
        raise ImageError(f"{where} is not an object")
    config_name, layer_names = entry.get("Config"), entry.get("Layers")
    tags = entry.get("RepoTags") or []
    if not isinstance(config_name, str) or type(layer_names) is not list or not all(
            isinstance(n, str) for n in layer_names) or type(tags) is not list:
        raise ImageError(f"{where}: want Config, Layers and RepoTags")
    with archive.open(config_name, f"{where}: config") as m:
        config = m.read_all(ar.CONFIG_MAX, "image config")
    _check_named_digest(config_name, dg.of_bytes(config), where)
    diff_ids = config_diff_ids(_object(config, f"{where}: image config"), len(layer_names), where)
    layers: list[PlannedLayer] = []
    for name, diff_id in zip(layer_names, diff_ids, strict=True):
        with archive.open(name, f"{where}: layer") as m:
            layers.append(PlannedLayer(m.name, diff_id, None, diff_id, inflate=True))
    return _image(where, config, layers, [_repo_tag(t, where) for t in tags])


def _check_named_digest(name: str, digest: str, where: str) -> None:
    """A config named by its digest (``<hex>.json``, ``blobs/sha256/<hex>``) must have it."""
    base = name.rsplit("/", 1)[-1].removesuffix(".json")
    if dg.is_hex(base) and base != dg.hex_of(digest):
        raise ImageError(f"{where}: config {name} does not match its digest ({digest})")


def _repo_tag(text: Any, where: str) -> Reference:
    from launcher.image.reference import parse

    try:
        ref = parse(text) if isinstance(text, str) else None
    except UsageError:
        ref = None
    if ref is None or ref.digest:
        raise ImageError(f"{where}: invalid RepoTags entry {str(text)[:200]!r}")
    return ref
