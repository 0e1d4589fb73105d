"""Media type checks of fetched manifests (type confusion), without a server."""

from __future__ import annotations

import json

import pytest

from launcher.errors import RegistryError
from launcher.registry import mediatypes as mt
from launcher.registry.manifests import SCHEMA1, media_type

MANIFEST = {"schemaVersion": 2, "config": {}, "layers": []}
INDEX = {"schemaVersion": 2, "manifests": []}


def _doc(base: dict[str, object], **extra: object) -> bytes:
    return json.dumps({**base, **extra}).encode()


@pytest.mark.parametrize(("content_type", "data", "want"), [
    (mt.OCI_MANIFEST, _doc(MANIFEST), mt.OCI_MANIFEST),
    (mt.OCI_MANIFEST + "; charset=utf-8", _doc(MANIFEST, mediaType=mt.OCI_MANIFEST),
     mt.OCI_MANIFEST),
    ("application/json", _doc(INDEX, mediaType=mt.DOCKER_MANIFEST_LIST), mt.DOCKER_MANIFEST_LIST),
    ("", _doc(MANIFEST, mediaType=mt.DOCKER_MANIFEST), mt.DOCKER_MANIFEST),
    ("", _doc(INDEX), mt.OCI_INDEX),                      # no type at all: by shape
    ("text/plain", _doc(MANIFEST), mt.OCI_MANIFEST),
    ("", b'{"schemaVersion": 1, "fsLayers": []}', SCHEMA1),
])
def test_type_found(content_type: str, data: bytes, want: str) -> None:
    assert media_type(content_type, data, "x") == want


@pytest.mark.parametrize(("content_type", "data", "why"), [
    (mt.OCI_INDEX, _doc(MANIFEST, mediaType=mt.OCI_MANIFEST), "contradicts"),
    (mt.OCI_MANIFEST, _doc(INDEX), "shape of an index"),
    (mt.OCI_INDEX, _doc(MANIFEST), "shape of a manifest"),
    ("", _doc(INDEX, mediaType=mt.OCI_MANIFEST), "shape of an index"),
    (mt.OCI_INDEX, _doc({**INDEX, "layers": []}), "both an index and a manifest"),
    ("", b"{}", "no media type"),
    (mt.OCI_MANIFEST, b"not json", "not valid JSON"),
    (mt.OCI_MANIFEST, b"[]", "not a JSON object"),
])
def test_confusion_refused(content_type: str, data: bytes, why: str) -> None:
    with pytest.raises(RegistryError, match=why):
        media_type(content_type, data, "x")
