from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from launcher.errors import ImageError, NotFoundError, UsageError
from launcher.image import digest as dg
from launcher.image.catalog import tag
from launcher.image.importer import import_rootfs
from launcher.image.save import save
from launcher.image.store import Image, ImageStore
from launcher.paths import Paths

from .tarhelp import TarBuilder

CREATED = "2024-05-06T07:08:09Z"


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(Paths(str(tmp_path / "storage"), str(tmp_path / "state")))


def make_image(store: ImageStore, ref: str, content: bytes = b"hello", gz: bool = True) -> Image:
    tb = TarBuilder().dir("etc").file("etc/motd", content).dir("bin").file("bin/sh", b"#!", 0o755)
    data = tb.gz() if gz else tb.data()
    return import_rootfs(store, io.BytesIO(data), ref, created=CREATED)


def read_tar(data: bytes) -> dict[str, bytes | None]:
    """Member name -> content (None for directories), in archive order."""
    out: dict[str, bytes | None] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf:
            f = tf.extractfile(m) if m.isreg() else None
            out[m.name] = f.read() if f else None
    return out


def saved(store: ImageStore, refs: list[str], fmt: str) -> dict[str, bytes | None]:
    out = io.BytesIO()
    save(store, refs, out, format=fmt)
    return read_tar(out.getvalue())


def blob(store: ImageStore, digest: str) -> bytes:
    with store.open_blob(digest) as f:
        return f.read()


def tmp_empty(store: ImageStore) -> bool:
    return os.listdir(store.paths.storage_tmp) == []


def no_siblings(where: Path) -> bool:
    """No half-written output (``.NAME.tmp-…``) was left beside the target."""
    return not [p for p in where.iterdir() if p.name.startswith(".")]


def test_docker_archive_layout(store: ImageStore) -> None:
    image = make_image(store, "foo:1")
    members = saved(store, ["foo:1"], "docker-archive")

    layer_hex = dg.hex_of(image.diff_ids[0])
    config_hex = dg.hex_of(image.id)
    assert list(members) == [layer_hex, f"{layer_hex}/layer.tar", f"{config_hex}.json",
                             "manifest.json", "repositories"]
    manifest = json.loads(members["manifest.json"] or b"")
    assert manifest == [{"Config": f"{config_hex}.json", "RepoTags": ["foo:1"],
                         "Layers": [f"{layer_hex}/layer.tar"]}]
    assert json.loads(members["repositories"] or b"") == {"foo": {"1": layer_hex}}
    assert members[f"{config_hex}.json"] == blob(store, image.id)
    # The stored blob is gzip; the archive has the uncompressed tar (digest = diff id).
    layer = members[f"{layer_hex}/layer.tar"] or b""
    stored = blob(store, image.manifest["layers"][0]["digest"])
    assert layer == gzip.decompress(stored)
    assert dg.of_bytes(layer) == image.diff_ids[0]
    assert tmp_empty(store)


def test_docker_archive_uncompressed_blob_streams_as_is(store: ImageStore) -> None:
    image = make_image(store, "plain", gz=False)
    members = saved(store, ["plain"], "docker-archive")
    layer = members[dg.hex_of(image.diff_ids[0]) + "/layer.tar"]
    assert layer == blob(store, image.diff_ids[0])


def test_oci_archive_layout(store: ImageStore) -> None:
    image = make_image(store, "example.com/team/app:v2")
    members = saved(store, ["example.com/team/app:v2"], "oci-archive")

    layer = image.manifest["layers"][0]["digest"]
    blobs = sorted(dg.hex_of(d) for d in (image.record.manifest, image.id, layer))
    assert list(members) == ["blobs", "blobs/sha256", *[f"blobs/sha256/{h}" for h in blobs],
                             "index.json", "oci-layout"]
    assert json.loads(members["oci-layout"] or b"") == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(members["index.json"] or b"")
    assert index["schemaVersion"] == 2
    assert index["manifests"] == [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": image.record.manifest,
        "size": len(blob(store, image.record.manifest)),
        "annotations": {"io.containerd.image.name": "example.com/team/app:v2",
                        "org.opencontainers.image.ref.name": "v2"},
    }]
    for d in (image.record.manifest, image.id, layer):  # byte for byte as stored
        assert members[f"blobs/sha256/{dg.hex_of(d)}"] == blob(store, d)


def test_oci_dir(store: ImageStore, tmp_path: Path) -> None:
    image = make_image(store, "foo:1")
    out = tmp_path / "layout"
    out.mkdir()  # an empty directory is fine
    save(store, ["foo"], str(out), format="oci-dir")

    assert sorted(os.listdir(out)) == ["blobs", "index.json", "oci-layout"]
    index = json.loads((out / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [image.record.manifest]
    layer = image.manifest["layers"][0]["digest"]
    assert (out / "blobs/sha256" / dg.hex_of(layer)).read_bytes() == blob(store, layer)
    assert no_siblings(tmp_path)


def test_oci_dir_refuses_a_non_empty_directory(store: ImageStore, tmp_path: Path) -> None:
    make_image(store, "foo:1")
    out = tmp_path / "layout"
    out.mkdir()
    (out / "keep").write_text("x")
    with pytest.raises(UsageError, match="not empty"):
        save(store, ["foo:1"], str(out), format="oci-dir")
    assert os.listdir(out) == ["keep"]


def test_oci_dir_needs_a_path(store: ImageStore) -> None:
    make_image(store, "foo:1")
    with pytest.raises(UsageError, match="directory"):
        save(store, ["foo:1"], io.BytesIO(), format="oci-dir")


def test_several_tags_share_blobs(store: ImageStore) -> None:
    image = make_image(store, "foo:1")
    tag(store, "foo:1", "foo:2")
    tag(store, "foo:1", "bar:x")
    other = make_image(store, "baz:1", content=b"other")

    members = saved(store, ["foo:1", "foo:2", "bar:x", "baz:1", "foo:1"], "docker-archive")
    manifest = json.loads(members["manifest.json"] or b"")
    assert [e["RepoTags"] for e in manifest] == [["foo:1", "foo:2", "bar:x"], ["baz:1"]]
    layers = [n for n in members if n.endswith("/layer.tar")]
    assert sorted(layers) == sorted(dg.hex_of(i.diff_ids[0]) + "/layer.tar"
                                    for i in (image, other))

    members = saved(store, ["foo:1", "foo:2", "baz:1"], "oci-archive")
    index = json.loads(members["index.json"] or b"")
    names = [m["annotations"]["io.containerd.image.name"] for m in index["manifests"]]
    assert names == ["docker.io/library/foo:1", "docker.io/library/foo:2",
                     "docker.io/library/baz:1"]
    assert len([n for n in members if n.startswith("blobs/sha256/")]) == 6


def test_bare_name_saves_every_tag(store: ImageStore) -> None:
    make_image(store, "foo:1")
    make_image(store, "foo:2", content=b"two")
    make_image(store, "foobar:1", content=b"not this")
    manifest = json.loads(saved(store, ["foo"], "docker-archive")["manifest.json"] or b"")
    assert sorted(e["RepoTags"][0] for e in manifest) == ["foo:1", "foo:2"]


def test_by_id_or_digest_has_no_tag(store: ImageStore) -> None:
    image = make_image(store, "foo:1")
    for ref in (image.id, image.id[7:19], f"foo@{image.record.manifest}"):
        members = saved(store, [ref], "docker-archive")
        manifest = json.loads(members["manifest.json"] or b"")
        assert manifest[0]["RepoTags"] is None
        assert "repositories" not in members
        index = json.loads(saved(store, [ref], "oci-archive")["index.json"] or b"")
        assert "annotations" not in index["manifests"][0]


def test_deterministic(store: ImageStore) -> None:
    make_image(store, "foo:1")
    for fmt in ("docker-archive", "oci-archive"):
        a, b = io.BytesIO(), io.BytesIO()
        save(store, ["foo:1"], a, format=fmt)
        save(store, ["foo:1"], b, format=fmt)
        assert a.getvalue() == b.getvalue()
        assert len(a.getvalue()) % 10240 == 0
        with tarfile.open(fileobj=io.BytesIO(a.getvalue())) as tf:
            assert {(m.mtime, m.uid, m.gid) for m in tf} == {(0, 0, 0)}


def test_unknown_ref_writes_nothing(store: ImageStore, tmp_path: Path) -> None:
    make_image(store, "foo:1")
    out = io.BytesIO()
    with pytest.raises(NotFoundError):
        save(store, ["foo:1", "nosuch:1"], out)
    assert out.getvalue() == b""
    path = tmp_path / "out.tar"
    with pytest.raises(NotFoundError):
        save(store, ["nosuch"], str(path))
    with pytest.raises(UsageError):
        save(store, ["Bad Ref!"], str(path))
    assert not path.exists()
    assert no_siblings(tmp_path)


def test_bad_arguments(store: ImageStore) -> None:
    make_image(store, "foo:1")
    with pytest.raises(UsageError, match="format"):
        save(store, ["foo:1"], io.BytesIO(), format="zip")
    with pytest.raises(UsageError):
        save(store, [], io.BytesIO())


def test_to_path(store: ImageStore, tmp_path: Path) -> None:
    make_image(store, "foo:1")
    path = tmp_path / "foo.tar"
    save(store, ["foo:1"], str(path), format="oci-archive")
    assert "index.json" in read_tar(path.read_bytes())
    assert no_siblings(tmp_path)


def test_damaged_layer_blob_leaves_no_archive(store: ImageStore, tmp_path: Path) -> None:
    image = make_image(store, "foo:1")
    layer = store.blob_path(image.manifest["layers"][0]["digest"])
    data = gzip.decompress(Path(layer).read_bytes())
    os.chmod(layer, 0o600)
    Path(layer).write_bytes(gzip.compress(data.replace(b"hello", b"jello"), mtime=0))
    path = tmp_path / "foo.tar"
    with pytest.raises(ImageError, match="does not match its diff id"):
        save(store, ["foo:1"], str(path))
    assert not path.exists()
    assert no_siblings(tmp_path)
    assert tmp_empty(store)


def test_missing_layer_blob(store: ImageStore) -> None:
    image = make_image(store, "foo:1")
    os.unlink(store.blob_path(image.manifest["layers"][0]["digest"]))
    out = io.BytesIO()
    with pytest.raises(ImageError, match="not in the store"):
        save(store, ["foo:1"], out, format="oci-archive")
    assert out.getvalue() == b""
