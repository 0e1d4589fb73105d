"""save/load against an independent implementation: skopeo (containers/image).

skopeo reads the archives ``launcher save`` writes, and ``launcher load``
reads the ones skopeo writes. Local transports only: no network.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from launcher.image import digest as dg
from launcher.image.importer import import_rootfs
from launcher.image.load import load
from launcher.image.save import save
from launcher.image.store import Image, ImageStore
from launcher.paths import Paths

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo"),
]


def skopeo(*args: str) -> str:
    proc = subprocess.run(
        ["skopeo", *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, f"skopeo {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def new_store(root: Path) -> ImageStore:
    return ImageStore(Paths(str(root / "storage"), str(root / "state")))


@pytest.fixture
def image(tmp_path: Path, tar: Any) -> tuple[ImageStore, Image]:
    store = new_store(tmp_path / "src")
    layer = tar().dir("etc").file("etc/motd", b"from launcher\n").dir("bin")
    layer.file("bin/tool", b"#!/bin/sh\n", 0o755).symlink("bin/alias", "tool")
    img = import_rootfs(
        store,
        io.BytesIO(gzip.compress(layer.data(), mtime=0)),
        "demo:1",
        created="2024-05-06T07:08:09Z",
    )
    return store, img


def index_of(layout: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((layout / "index.json").read_text())
    return doc


def config_of(layout: Path) -> dict[str, Any]:
    manifest_digest = index_of(layout)["manifests"][0]["digest"]
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / dg.hex_of(manifest_digest)).read_text())
    doc: dict[str, Any] = json.loads((blobs / dg.hex_of(manifest["config"]["digest"])).read_text())
    return doc


def test_skopeo_reads_our_oci_archive(image: tuple[ImageStore, Image], tmp_path: Path) -> None:
    store, img = image
    archive = tmp_path / "demo.oci.tar"
    save(store, ["demo:1"], str(archive), format="oci-archive")
    skopeo("copy", f"oci-archive:{archive}", f"oci:{tmp_path / 'out'}:demo:1")
    # Nothing needed converting: skopeo kept our manifest byte for byte.
    assert index_of(tmp_path / "out")["manifests"][0]["digest"] == img.record.manifest


def test_skopeo_reads_our_oci_dir(image: tuple[ImageStore, Image], tmp_path: Path) -> None:
    store, img = image
    save(store, ["demo:1"], str(tmp_path / "layout"), format="oci-dir")
    info = json.loads(skopeo("inspect", f"oci:{tmp_path / 'layout'}"))
    assert info["Layers"] == [img.manifest["layers"][0]["digest"]]


def test_skopeo_reads_our_docker_archive(image: tuple[ImageStore, Image], tmp_path: Path) -> None:
    store, img = image
    archive = tmp_path / "demo.docker.tar"
    save(store, ["demo:1"], str(archive))
    skopeo("copy", f"docker-archive:{archive}", f"oci:{tmp_path / 'out'}:demo:1")
    config = config_of(tmp_path / "out")
    assert config["rootfs"]["diff_ids"] == img.diff_ids
    assert config["created"] == "2024-05-06T07:08:09Z"
    # and by the name we gave it
    skopeo("copy", f"docker-archive:{archive}:demo:1", f"oci:{tmp_path / 'out2'}:x")


def test_we_read_skopeos_archives(image: tuple[ImageStore, Image], tmp_path: Path) -> None:
    store, img = image
    layout = tmp_path / "layout"
    save(store, ["demo:1"], str(layout), format="oci-dir")
    docker = tmp_path / "sk.docker.tar"
    oci = tmp_path / "sk.oci.tar"
    skopeo("copy", f"oci:{layout}", f"docker-archive:{docker}:skopeo/demo:sk")
    skopeo("copy", f"oci:{layout}", f"oci-archive:{oci}:example.com/demo:oci")
    skopeo("copy", f"oci:{layout}", f"oci:{tmp_path / 'sk-layout'}:example.com/demo:dir")

    dst = new_store(tmp_path / "dst")
    assert load(dst, str(docker)) == ["skopeo/demo:sk"]
    assert load(dst, str(oci)) == ["example.com/demo:oci"]
    assert load(dst, str(tmp_path / "sk-layout")) == ["example.com/demo:dir"]
    for ref in ("skopeo/demo:sk", "example.com/demo:oci", "example.com/demo:dir"):
        got = dst.get(ref)
        assert got.diff_ids == img.diff_ids
        assert (Path(got.layer_dirs[0]) / "etc/motd").read_bytes() == b"from launcher\n"
    assert dst.get("example.com/demo:oci").record.manifest == img.record.manifest
