from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from launcher.errors import ImageError, NotFoundError
from launcher.host import oci_arch
from launcher.image import digest as dg
from launcher.image.catalog import tag
from launcher.image.importer import import_rootfs
from launcher.image.load import load, message
from launcher.image.save import save
from launcher.image.store import Image, ImageStore
from launcher.paths import Paths

from .tarhelp import TarBuilder

CREATED = "2024-05-06T07:08:09Z"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

Members = dict[str, "bytes | None"]


def new_store(root: Path) -> ImageStore:
    return ImageStore(Paths(str(root / "storage"), str(root / "state")))


@pytest.fixture
def src(tmp_path: Path) -> ImageStore:
    return new_store(tmp_path / "src")


@pytest.fixture
def dst(tmp_path: Path) -> ImageStore:
    store = new_store(tmp_path / "dst")
    store.ensure_dirs()
    return store


def make_image(store: ImageStore, ref: str, content: bytes = b"hello") -> Image:
    data = TarBuilder().dir("etc").file("etc/motd", content).file("run.sh", b"#!", 0o755).gz()
    return import_rootfs(store, io.BytesIO(data), ref, created=CREATED)


def archive(store: ImageStore, refs: list[str], fmt: str) -> bytes:
    out = io.BytesIO()
    save(store, refs, out, format=fmt)
    return out.getvalue()


def read_tar(data: bytes) -> Members:
    out: Members = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf:
            f = tf.extractfile(m) if m.isreg() else None
            out[m.name] = f.read() if f else None
    return out


def build_tar(members: Members, extra: Callable[[TarBuilder], object] | None = None) -> bytes:
    tb = TarBuilder()
    for name, data in members.items():
        if data is None:
            tb.dir(name)
        else:
            tb.file(name, data)
    if extra is not None:
        extra(tb)
    return tb.data()


def snapshot(store: ImageStore) -> tuple[object, list[str]]:
    """What a failed load must not change: the index, and tmp/ (empty)."""
    return store.read_index(), sorted(os.listdir(store.paths.storage_tmp))


def motd(store: ImageStore, ref: str) -> bytes:
    image = store.get(ref)
    return (Path(image.layer_dirs[0]) / "etc/motd").read_bytes()


# ---- round trips


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_round_trip(src: ImageStore, dst: ImageStore, fmt: str) -> None:
    image = make_image(src, "foo:1")
    tag(src, "foo:1", "example.com/x/foo:2")
    data = archive(src, ["foo:1", "example.com/x/foo:2"], fmt)

    loaded = load(dst, io.BytesIO(data))
    assert loaded == ["foo:1", "example.com/x/foo:2"]
    assert [message(x) for x in loaded] == ["Loaded image: foo:1",
                                            "Loaded image: example.com/x/foo:2"]
    for ref in ("foo:1", "example.com/x/foo:2"):
        got = dst.get(ref)
        assert got.id == image.id  # the config, byte for byte
        assert got.diff_ids == image.diff_ids
    assert motd(dst, "foo:1") == b"hello"
    got = dst.get("foo:1")
    if fmt == "oci-archive":  # blobs as they were: the manifest digest survives
        assert got.record.manifest == image.record.manifest
    else:  # uncompressed layers under a Docker v2 manifest
        assert got.manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
        assert got.manifest["layers"][0]["digest"] == image.diff_ids[0]
        assert dst.has_blob(image.diff_ids[0])
    assert os.listdir(dst.paths.storage_tmp) == []


def test_round_trip_oci_dir(src: ImageStore, dst: ImageStore, tmp_path: Path) -> None:
    image = make_image(src, "foo:1")
    save(src, ["foo:1"], str(tmp_path / "layout"), format="oci-dir")
    assert load(dst, str(tmp_path / "layout")) == ["foo:1"]
    assert dst.get("foo:1").record.manifest == image.record.manifest
    assert motd(dst, "foo:1") == b"hello"


def test_round_trip_from_path_and_stdin(src: ImageStore, dst: ImageStore, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    make_image(src, "foo:1")
    path = tmp_path / "foo.tar"
    save(src, ["foo:1"], str(path))
    assert load(dst, str(path)) == ["foo:1"]

    class Stdin:
        buffer = io.BufferedReader(io.FileIO(os.open(path, os.O_RDONLY)))

    monkeypatch.setattr("sys.stdin", Stdin)
    try:
        assert load(dst, "-") == ["foo:1"]
    finally:
        Stdin.buffer.close()


class Unseekable(io.RawIOBase):
    """A pipe-like stream: read only, no seek or tell."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        chunk = self._data.read(min(len(b), 7000))  # short reads, as from a pipe
        b[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("compress", ["none", "gzip", "zstd"])
def test_compressed_or_unseekable(src: ImageStore, dst: ImageStore, compress: str) -> None:
    make_image(src, "foo:1")
    data = archive(src, ["foo:1"], "docker-archive")
    if compress == "gzip":
        data = gzip.compress(data)
    elif compress == "zstd":
        zstandard = pytest.importorskip("zstandard")
        data = zstandard.ZstdCompressor().compress(data)
    assert load(dst, Unseekable(data)) == ["foo:1"]  # type: ignore[arg-type]
    assert load(dst, io.BytesIO(data)) == ["foo:1"]
    assert os.listdir(dst.paths.storage_tmp) == []


def test_imported_image_round_trips_both_ways(src: ImageStore, tmp_path: Path) -> None:
    """docker-archive -> store -> oci-archive -> another store: still the same image."""
    image = make_image(src, "foo:1")
    mid, end = new_store(tmp_path / "mid"), new_store(tmp_path / "end")
    load(mid, io.BytesIO(archive(src, ["foo:1"], "docker-archive")))
    load(end, io.BytesIO(archive(mid, ["foo:1"], "oci-archive")))
    assert end.get("foo:1").id == image.id
    assert motd(end, "foo:1") == b"hello"


def test_untagged_image(src: ImageStore, dst: ImageStore) -> None:
    image = make_image(src, "foo:1")
    for fmt in ("docker-archive", "oci-archive"):
        loaded = load(dst, io.BytesIO(archive(src, [image.id], fmt)))
        assert loaded == [image.id]
        assert message(loaded[0]) == f"Loaded image ID: {image.id}"
        assert [(r.reference, r.config) for r in dst.list()] == [("", image.id)]


def test_untagged_image_already_named_stays_named(src: ImageStore, dst: ImageStore) -> None:
    image = make_image(src, "foo:1")
    load(dst, io.BytesIO(archive(src, ["foo:1"], "oci-archive")))
    load(dst, io.BytesIO(archive(src, [image.id], "oci-archive")))
    assert [r.reference for r in dst.list()] == ["docker.io/library/foo:1"]


def test_tag_moves_and_old_image_stays_dangling(src: ImageStore, dst: ImageStore) -> None:
    old = make_image(dst, "foo:1", content=b"old")
    new = make_image(src, "foo:1", content=b"new")
    load(dst, io.BytesIO(archive(src, ["foo:1"], "docker-archive")))
    assert dst.get("foo:1").id == new.id
    assert {(r.reference, r.config) for r in dst.list()} == {
        ("docker.io/library/foo:1", new.id), ("", old.id)}


def test_skopeo_style_docker_archive(src: ImageStore, dst: ImageStore) -> None:
    """``<diff id>.tar`` layers, legacy dirs whose layer.tar is a symlink, ./ names."""
    image = make_image(src, "foo:1")
    m = read_tar(archive(src, ["foo:1"], "docker-archive"))
    hexid = dg.hex_of(image.diff_ids[0])
    config_name = dg.hex_of(image.id) + ".json"
    members: Members = {
        f"./{hexid}.tar": m[f"{hexid}/layer.tar"],
        f"./{config_name}": m[config_name],
        "./manifest.json": json.dumps([{"Config": config_name, "RepoTags": ["docker.io/x/y:z"],
                                        "Layers": [f"{hexid}.tar"]}]).encode(),
    }

    def legacy(tb: TarBuilder) -> None:
        tb.dir("abc").symlink("abc/layer.tar", f"../{hexid}.tar").file("abc/VERSION", b"1.0")

    assert load(dst, io.BytesIO(build_tar(members, legacy))) == ["x/y:z"]
    assert motd(dst, "x/y:z") == b"hello"


def test_docker_25_archive_prefers_the_oci_layout(src: ImageStore, dst: ImageStore) -> None:
    """Docker 25+ writes both an OCI layout and a manifest.json over the same blobs."""
    image = make_image(src, "foo:1")
    m = read_tar(archive(src, ["foo:1"], "oci-archive"))
    layer = image.manifest["layers"][0]["digest"]
    m["manifest.json"] = json.dumps([{
        "Config": f"blobs/sha256/{dg.hex_of(image.id)}", "RepoTags": ["other:name"],
        "Layers": [f"blobs/sha256/{dg.hex_of(layer)}"]}]).encode()
    assert load(dst, io.BytesIO(build_tar(m))) == ["foo:1"]
    assert dst.get("foo:1").record.manifest == image.record.manifest


def multi_arch_layout(src: ImageStore, nested: bool) -> tuple[Image, bytes]:
    """An OCI layout whose host-platform manifest is present and a foreign one is not."""
    image = make_image(src, "foo:1")
    m = read_tar(archive(src, ["foo:1"], "oci-archive"))
    index = json.loads(m.pop("index.json") or b"")
    host = dict(index["manifests"][0])
    host.pop("annotations")
    host["platform"] = {"os": "linux", "architecture": oci_arch()}
    foreign = {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "ab" * 32, "size": 100,
               "platform": {"os": "linux", "architecture": "s390x" if oci_arch() != "s390x"
                            else "riscv64"}}
    listing = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [foreign, host]}
    if nested:
        raw = json.dumps(listing).encode()
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        m[f"blobs/sha256/{dg.hex_of(digest)}"] = raw
        listing = {"schemaVersion": 2, "manifests": [{
            "mediaType": OCI_INDEX, "digest": digest, "size": len(raw),
            "annotations": {"org.opencontainers.image.ref.name": "foo:multi"}}]}
    m["index.json"] = json.dumps(listing).encode()
    return image, build_tar(m)


def test_multi_platform_index_loads_the_host_platform(src: ImageStore, dst: ImageStore) -> None:
    image, data = multi_arch_layout(src, nested=False)
    assert load(dst, io.BytesIO(data)) == [image.id]


def test_nested_index_loads_the_host_platform(src: ImageStore, dst: ImageStore) -> None:
    image, data = multi_arch_layout(src, nested=True)
    assert load(dst, io.BytesIO(data)) == ["foo:multi"]
    got = dst.get("foo:multi")
    assert got.id == image.id
    assert got.record.index and dst.has_blob(got.record.index)  # the repo digest, as pull keeps


def test_ref_name_that_is_only_a_tag_names_nothing(src: ImageStore, dst: ImageStore) -> None:
    image = make_image(src, "foo:1")
    m = read_tar(archive(src, ["foo:1"], "oci-archive"))
    index = json.loads(m["index.json"] or b"")
    index["manifests"][0]["annotations"] = {"org.opencontainers.image.ref.name": "latest"}
    m["index.json"] = json.dumps(index).encode()
    assert load(dst, io.BytesIO(build_tar(m))) == [image.id]


# ---- bad archives: a clear error, the index unchanged, tmp/ empty


def rewrite_config(m: Members, image: Image, change: Callable[[dict[str, object]], None]) -> None:
    """Edit a docker-archive's config (renamed to its new digest)."""
    old = dg.hex_of(image.id) + ".json"
    config = json.loads(m.pop(old) or b"")
    change(config)
    raw = json.dumps(config).encode()
    new = hashlib.sha256(raw).hexdigest() + ".json"
    m[new] = raw
    manifest = json.loads(m["manifest.json"] or b"")
    manifest[0]["Config"] = new
    m["manifest.json"] = json.dumps(manifest).encode()


def flip_layer(m: Members, image: Image) -> None:
    name = dg.hex_of(image.diff_ids[0]) + "/layer.tar"
    layer = m[name] or b""
    m[name] = layer.replace(b"hello", b"hellp")


def flip_oci_layer(m: Members, image: Image) -> None:
    name = "blobs/sha256/" + dg.hex_of(image.manifest["layers"][0]["digest"])
    layer = bytearray(m[name] or b"")
    layer[len(layer) // 2] ^= 0x01
    m[name] = bytes(layer)


def wrong_diff_id(m: Members, image: Image) -> None:
    def change(config: dict[str, object]) -> None:
        config["rootfs"] = {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}

    rewrite_config(m, image, change)


def missing_blob(m: Members, image: Image) -> None:
    del m["blobs/sha256/" + dg.hex_of(image.manifest["layers"][0]["digest"])]


def huge_index(m: Members, image: Image) -> None:
    index = json.loads(m["index.json"] or b"")
    index["annotations"] = {"padding": "x" * (4 << 20)}
    m["index.json"] = json.dumps(index).encode()


def config_renamed(m: Members, image: Image) -> None:
    old = dg.hex_of(image.id) + ".json"
    m["0" * 64 + ".json"] = m.pop(old)
    manifest = json.loads(m["manifest.json"] or b"")
    manifest[0]["Config"] = "0" * 64 + ".json"
    m["manifest.json"] = json.dumps(manifest).encode()


def manifest_as_index(m: Members, image: Image) -> None:
    index = json.loads(m["index.json"] or b"")
    index["manifests"][0]["mediaType"] = OCI_INDEX
    m["index.json"] = json.dumps(index).encode()


def descriptor_size(m: Members, image: Image) -> None:
    index = json.loads(m["index.json"] or b"")
    index["manifests"][0]["size"] += 1
    m["index.json"] = json.dumps(index).encode()


def bad_repo_tag(m: Members, image: Image) -> None:
    manifest = json.loads(m["manifest.json"] or b"")
    manifest[0]["RepoTags"] = ["Not A Tag"]
    m["manifest.json"] = json.dumps(manifest).encode()


def escaping_layer_path(m: Members, image: Image) -> None:
    manifest = json.loads(m["manifest.json"] or b"")
    manifest[0]["Layers"] = ["../../etc/passwd"]
    m["manifest.json"] = json.dumps(manifest).encode()


CORRUPTIONS = [
    ("docker-archive", flip_layer, "diff id mismatch"),
    ("oci-archive", flip_oci_layer, "layer"),
    ("docker-archive", wrong_diff_id, "diff id mismatch"),
    ("oci-archive", missing_blob, "has no 'blobs/sha256/"),
    ("oci-archive", huge_index, "over the 4 MiB limit"),
    ("docker-archive", config_renamed, "does not match its digest"),
    ("oci-archive", manifest_as_index, "is not one"),
    ("oci-archive", descriptor_size, "its descriptor says"),
    ("docker-archive", bad_repo_tag, "invalid RepoTags"),
    ("docker-archive", escaping_layer_path, "'..' is not allowed"),
]


@pytest.mark.parametrize(("fmt", "corrupt", "error"), CORRUPTIONS,
                         ids=[c[1].__name__ for c in CORRUPTIONS])
def test_corrupt_archive(src: ImageStore, dst: ImageStore, fmt: str,
                         corrupt: Callable[[Members, Image], None], error: str) -> None:
    image = make_image(src, "foo:1")
    m = read_tar(archive(src, ["foo:1"], fmt))
    corrupt(m, image)
    before = snapshot(dst)
    with pytest.raises(ImageError, match=re.escape(error)):
        load(dst, io.BytesIO(build_tar(m)))
    assert snapshot(dst) == before
    assert os.listdir(dst.paths.layers) == []


@pytest.mark.parametrize(("extra", "error"), [
    (lambda tb: tb.file("../evil", b"x"), "'..' is not allowed"),
    (lambda tb: tb.file("/abs", b"x"), "absolute names are not allowed"),
    (lambda tb: tb.file("a/../../b", b"x"), "'..' is not allowed"),
    (lambda tb: tb.file("index.json", b"{}"), "more than one member"),
], ids=["dotdot", "absolute", "dotdot-inside", "duplicate"])
def test_bad_member_names(src: ImageStore, dst: ImageStore,
                          extra: Callable[[TarBuilder], object], error: str) -> None:
    make_image(src, "foo:1")
    m = read_tar(archive(src, ["foo:1"], "oci-archive"))
    before = snapshot(dst)
    with pytest.raises(ImageError, match=re.escape(error)):
        load(dst, io.BytesIO(build_tar(m, extra)))
    assert snapshot(dst) == before


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_link_where_content_is_expected(src: ImageStore, dst: ImageStore, link: str) -> None:
    image = make_image(src, "foo:1")
    m = read_tar(archive(src, ["foo:1"], "docker-archive"))
    real = m.pop("manifest.json")
    m["real.json"] = real

    def add(tb: TarBuilder) -> None:
        if link == "symlink":
            tb.symlink("manifest.json", "real.json")
        else:
            tb.link("manifest.json", "real.json")

    before = snapshot(dst)
    error = re.escape(f"manifest.json' is a {link}, not a regular file")
    with pytest.raises(ImageError, match=error):
        load(dst, io.BytesIO(build_tar(m, add)))
    assert snapshot(dst) == before
    assert not dst.has_layer(image.diff_ids[0])


def test_symlink_layer_in_oci_dir(src: ImageStore, dst: ImageStore, tmp_path: Path) -> None:
    image = make_image(src, "foo:1")
    layout = tmp_path / "layout"
    save(src, ["foo:1"], str(layout), format="oci-dir")
    blob = layout / "blobs/sha256" / dg.hex_of(image.manifest["layers"][0]["digest"])
    os.rename(blob, tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", blob)
    before = snapshot(dst)
    with pytest.raises(ImageError, match="layer"):
        load(dst, str(layout))
    assert snapshot(dst) == before


def test_second_image_failing_indexes_neither(src: ImageStore, dst: ImageStore) -> None:
    make_image(src, "good:1", content=b"good")
    bad = make_image(src, "bad:1", content=b"hello")
    m = read_tar(archive(src, ["good:1", "bad:1"], "docker-archive"))
    flip_layer(m, bad)
    before = snapshot(dst)
    with pytest.raises(ImageError, match=r"manifest\.json entry 2"):
        load(dst, io.BytesIO(build_tar(m)))
    assert snapshot(dst) == before


@pytest.mark.parametrize("data", [b"", b"not a tar at all" * 100, gzip.compress(b"x" * 2000)])
def test_not_an_archive(dst: ImageStore, data: bytes) -> None:
    before = snapshot(dst)
    with pytest.raises(ImageError):
        load(dst, io.BytesIO(data))
    assert snapshot(dst) == before


def test_tar_without_images(dst: ImageStore) -> None:
    with pytest.raises(ImageError, match="not an image archive"):
        load(dst, io.BytesIO(TarBuilder().file("hello.txt", b"hi").data()))


def test_missing_file(dst: ImageStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file"):
        load(dst, str(tmp_path / "nope.tar"))
