"""Manifests as fetched: the exact bytes, their digest, and a media type that has
been checked against the body (OCI's type-confusion advisory, GHSA-77vh-xpmg-72qh).

A document is refused when its ``Content-Type`` and its ``mediaType`` field
disagree, when it has both ``manifests`` (an index) and ``layers``/``config``
(an image manifest), or when its type says one kind and its shape the other.
Generic Content-Types (``application/json``...) defer to the body; a body
without ``mediaType`` (optional in OCI) is typed by its shape.
"""

from __future__ import annotations

from launcher import fastjson
from launcher.errors import RegistryError
from launcher.registry import mediatypes as mt

MANIFEST_MAX = 4 << 20
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
# Content-Types that say nothing about the manifest: the body's mediaType decides.
GENERIC_TYPES = frozenset(
    ("", "application/json", "text/plain", "application/octet-stream"))


class Manifest:
    """A manifest or index as the registry sent it: the exact bytes, their type
    and their sha256 digest."""

    __slots__ = ("data", "digest", "media_type")

    def __init__(self, data: bytes, media_type: str, digest: str) -> None:
        self.data = data
        self.media_type = media_type
        self.digest = digest

    def __repr__(self) -> str:
        return f"Manifest({self.media_type!r}, {self.digest!r}, {len(self.data)} bytes)"


def media_type(content_type: str, data: bytes, where: str) -> str:
    """The manifest's type, from ``Content-Type`` or its ``mediaType``; refused when
    the two disagree or the body has the shape of the other kind (type confusion)."""
    try:
        doc = fastjson.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise RegistryError(f"{where}: the manifest is not valid JSON") from None
    if type(doc) is not dict:
        raise RegistryError(f"{where}: the manifest is not a JSON object")
    header = content_type.split(";", 1)[0].strip().lower()
    header = "" if header in GENERIC_TYPES else header
    declared = doc.get("mediaType")
    body = declared.strip().lower() if type(declared) is str else ""
    if header and body and header != body:
        raise RegistryError(f"{where}: Content-Type {header} contradicts the manifest's "
                            f"mediaType {body}")
    is_index = "manifests" in doc
    is_manifest = "layers" in doc or "config" in doc
    if is_index and is_manifest:
        raise RegistryError(f"{where}: the document is both an index and a manifest")
    media_type = header or body
    if not media_type:  # OCI makes mediaType optional: go by the shape
        if doc.get("schemaVersion") == 1:
            return SCHEMA1
        if not (is_index or is_manifest):
            raise RegistryError(f"{where}: the manifest has no media type")
        return mt.OCI_INDEX if is_index else mt.OCI_MANIFEST
    if (media_type in mt.MANIFEST_TYPES and is_index) or (
            media_type in mt.INDEX_TYPES and is_manifest):
        raise RegistryError(f"{where}: a {media_type} whose body has the shape of "
                            f"{'an index' if is_index else 'a manifest'}")
    return media_type
