from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from launcher.errors import StateError
from launcher.image import digest as dg
from launcher.image import usage
from launcher.paths import Paths
from launcher.spec import build

IMAGE = dg.of_bytes(b"image")
LAYER_A = dg.of_bytes(b"a")
LAYER_B = dg.of_bytes(b"b")


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(str(tmp_path / "storage"), str(tmp_path / "state"))


def bundle(paths: Paths, cid: str, annotations: dict[str, str] | None = None,
           raw: bytes | None = None) -> Path:
    path = Path(usage.bundles_dir(paths), cid)
    path.mkdir(parents=True)
    if raw is None and annotations is not None:
        raw = json.dumps({"ociVersion": "1.0.2", "annotations": annotations}).encode()
    if raw is not None:
        (path / "config.json").write_bytes(raw)
    return path / "config.json"


def notes(image: str = IMAGE, layers: str = f"{LAYER_A},{LAYER_B}") -> dict[str, str]:
    return {usage.ANNOTATION_IMAGE_ID: image, usage.ANNOTATION_IMAGE_LAYERS: layers}


def test_annotation_names_match_the_spec_builder() -> None:
    assert usage.ANNOTATION_IMAGE_ID == build.ANNOTATION_IMAGE_ID
    assert usage.ANNOTATION_IMAGE_LAYERS == build.ANNOTATION_IMAGE_LAYERS


def test_no_containers(paths: Paths) -> None:
    assert usage.containers_using(paths) == {}
    assert usage.layers_in_use(paths) == set()


def test_reads_every_bundle(paths: Paths) -> None:
    other = dg.of_bytes(b"other image")
    bundle(paths, "c1", notes())
    bundle(paths, "c2", notes())
    bundle(paths, "c3", notes(other, LAYER_A))
    bundle(paths, "c4", notes(other, ""))  # an image without layers
    assert usage.containers_using(paths) == {IMAGE: ["c1", "c2"], other: ["c3", "c4"]}
    assert usage.layers_in_use(paths) == {LAYER_A, LAYER_B}


@pytest.mark.parametrize(
    "raw",
    [
        None,  # no config.json yet: a container being created
        b"{trunc",
        json.dumps({"annotations": {"io.launcher.image": "busybox"}}).encode(),  # older launcher
        json.dumps({"annotations": notes(layers="sha256:../../etc")}).encode(),
        json.dumps({"annotations": notes(image="busybox")}).encode(),
        json.dumps([]).encode(),
    ],
)
def test_a_bundle_that_cannot_tell_is_reported(paths: Paths, raw: bytes | None) -> None:
    bundle(paths, "good", notes())
    config = bundle(paths, "bad", raw=raw)
    found = usage.scan(paths)
    assert found.unknown == [str(config)]
    assert found.images == {IMAGE: ["good"]}
    with pytest.raises(StateError, match=r"bad/config\.json"):
        usage.layers_in_use(paths)


def test_config_json_symlink_is_not_followed(paths: Paths, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"annotations": notes()}))
    config = bundle(paths, "c1")
    os.symlink(target, config)
    assert usage.scan(paths).unknown == [str(config)]


def test_stray_files_and_hidden_entries_are_ignored(paths: Paths) -> None:
    bundle(paths, "c1", notes())
    Path(usage.bundles_dir(paths), "stray").write_text("x")
    Path(usage.bundles_dir(paths), ".tmp").mkdir()
    found = usage.scan(paths)
    assert found.unknown == [] and found.images == {IMAGE: ["c1"]}
