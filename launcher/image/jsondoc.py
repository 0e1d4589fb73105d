"""The JSON documents of an image (manifest, index, config): parsed and checked once.

Shared by the store, pull and load, so every path refuses the same things with
the same words.
"""

from __future__ import annotations

from launcher import fastjson
from launcher.errors import ImageError
from launcher.image import digest as dg

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


def json_object(data: bytes, what: str) -> dict[str, Any]:
    """``data`` as a JSON object; ImageError naming ``what`` otherwise."""
    try:
        obj = fastjson.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImageError(f"{what} is not valid JSON: {exc}") from None
    if type(obj) is not dict:
        raise ImageError(f"{what} is not a JSON object")
    return obj


def config_diff_ids(config: dict[str, Any], count: int, where: str) -> list[str]:
    """The config's ``rootfs.diff_ids``, which must number ``count`` (the manifest's layers)."""
    rootfs = config.get("rootfs")
    ids = rootfs.get("diff_ids") if type(rootfs) is dict else None
    if type(ids) is not list or len(ids) != count:
        raise ImageError(f"{where}: config rootfs.diff_ids does not match the manifest's layers")
    return [dg.validate(d, "diff id") for d in ids]


def manifest_diff_ids(manifest: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """A stored image's layer diff ids, from its config, checked against the
    manifest (a v2 image manifest whose layers match them one for one)."""
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
