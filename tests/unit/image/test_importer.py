from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from launcher.errors import ImageError, NotFoundError, UsageError
from launcher.host import oci_arch
from launcher.image import digest as dg
from launcher.image.importer import DEFAULT_PATH, import_rootfs, rfc3339
from launcher.image.store import ImageStore
from launcher.paths import Paths

from .tarhelp import TarBuilder


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(Paths(str(tmp_path / "storage"), str(tmp_path / "state")))


def rootfs_tar() -> TarBuilder:
    return (
        TarBuilder()
        .dir("bin")
        .file("bin/sh", b"#!fake", 0o755)
        .dir("etc")
        .file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    )


def leftovers(store: ImageStore) -> list[str]:
    return os.listdir(store.paths.storage_tmp)


@pytest.mark.parametrize("compress", ["none", "gzip", "zstd"])
def test_import(store: ImageStore, tmp_path: Path, compress: str) -> None:
    data = rootfs_tar().data()
    if compress == "gzip":
        import gzip

        blob = gzip.compress(data)
        media = "application/vnd.oci.image.layer.v1.tar+gzip"
    elif compress == "zstd":
        zstandard = pytest.importorskip("zstandard")
        blob = zstandard.ZstdCompressor().compress(data)
        media = "application/vnd.oci.image.layer.v1.tar+zstd"
    else:
        blob = data
        media = "application/vnd.oci.image.layer.v1.tar"
    path = tmp_path / "rootfs.tar"
    path.write_bytes(blob)
    image = import_rootfs(store, str(path), "myimg:1", created="2024-05-06T07:08:09Z")

    assert str(image.reference) == "docker.io/library/myimg:1"
    layer = image.manifest["layers"][0]
    assert layer == {"mediaType": media, "digest": dg.of_bytes(blob), "size": len(blob)}
    assert image.manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert store.has_blob(layer["digest"])
    assert image.diff_ids == [dg.of_bytes(data)]
    cfg = image.raw_config
    assert cfg["architecture"] == oci_arch() and cfg["os"] == "linux"
    assert cfg["config"] == {"Env": [DEFAULT_PATH]}
    assert cfg["rootfs"] == {"type": "layers", "diff_ids": [dg.of_bytes(data)]}
    assert cfg["history"] == [{"created": "2024-05-06T07:08:09Z", "created_by": "launcher import"}]
    assert cfg["created"] == "2024-05-06T07:08:09Z"
    assert image.config.env == [DEFAULT_PATH]
    sh = Path(image.layer_dirs[0]) / "bin" / "sh"
    assert sh.read_bytes() == b"#!fake" and os.access(sh, os.X_OK)
    assert store.get("myimg:1").id == image.id
    assert leftovers(store) == []


def test_import_twice_shares_blob_and_layer(store: ImageStore) -> None:
    data = rootfs_tar().gz()
    a = import_rootfs(store, io.BytesIO(data), "a")
    b = import_rootfs(store, io.BytesIO(data), "b:x")
    assert a.layer_dirs == b.layer_dirs
    assert a.manifest["layers"] == b.manifest["layers"]
    assert len(os.listdir(store.paths.layers)) == 1
    # blobs: one layer, and a config + manifest per import (timestamps differ or not)
    assert len(os.listdir(store.paths.blobs)) in (3, 5)
    assert {r.reference for r in store.list()} == {
        "docker.io/library/a:latest",
        "docker.io/library/b:x",
    }
    assert leftovers(store) == []


def test_reproducible_with_created(store: ImageStore) -> None:
    data = rootfs_tar().data()
    a = import_rootfs(store, io.BytesIO(data), "a", created="2020-01-01T00:00:00Z")
    b = import_rootfs(store, io.BytesIO(data), "b", created="2020-01-01T00:00:00Z")
    assert a.id == b.id


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (TarBuilder().file("ok", b"x").file("../escape", b"x").data(), "'..'"),
        (TarBuilder().file("big", b"x" * 5000).data()[:2000], "unexpected end of data"),
        (b"\x1f\x8b\x08\x00garbage-gzip-data-here", "gzip layer"),
        (b"not a tarball" * 100, "corrupt tar"),
    ],
)
def test_failed_import_leaves_nothing(store: ImageStore, data: bytes, why: str) -> None:
    with pytest.raises(ImageError, match=why):
        import_rootfs(store, io.BytesIO(data), "bad")
    assert os.listdir(store.paths.layers) == []
    assert os.listdir(store.paths.blobs) == []
    assert leftovers(store) == []
    assert not os.path.exists(store.paths.images_index)


def test_bad_reference_before_any_work(store: ImageStore) -> None:
    class Exploding(io.RawIOBase):
        def read(self, n: int = -1) -> bytes:
            raise AssertionError("read before the reference was checked")

    with pytest.raises(UsageError):
        import_rootfs(store, Exploding(), "Not/Valid Name")  # type: ignore[arg-type]


def test_source_errors(store: ImageStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file"):
        import_rootfs(store, str(tmp_path / "absent.tar"), "x")
    with pytest.raises(ImageError, match="is a directory"):
        import_rootfs(store, str(tmp_path), "x")


def test_rfc3339() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert rfc3339(1_700_000_000.9) == "2023-11-14T22:13:20Z"
    assert json.dumps(rfc3339(1))  # a plain str


def test_import_from_stdin(store: ImageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    class Stdin:
        buffer = io.BytesIO(rootfs_tar().gz())

    monkeypatch.setattr(sys, "stdin", Stdin)
    image = import_rootfs(store, "-", "from-stdin")
    assert image.manifest["layers"][0]["mediaType"].endswith("tar+gzip")
