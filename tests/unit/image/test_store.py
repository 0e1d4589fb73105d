from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest

from launcher.errors import ImageError, NotFoundError, StateError, UsageError
from launcher.image import digest as dg
from launcher.image.importer import import_rootfs
from launcher.image.store import Image, ImageStore
from launcher.paths import Paths

from .tarhelp import TarBuilder


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(Paths(str(tmp_path / "storage"), str(tmp_path / "state")))


def tmp_entries(store: ImageStore) -> list[str]:
    return os.listdir(store.paths.storage_tmp) if os.path.isdir(store.paths.storage_tmp) else []


def make_image(store: ImageStore, files: dict[str, bytes]) -> tuple[bytes, bytes]:
    t = TarBuilder()
    for name, data in files.items():
        t.file(name, data)
    layer = t.data()
    diff_id = store.unpack_layer(io.BytesIO(layer))
    blob = store.put_blob(layer)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-02T03:04:05Z",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": dg.of_bytes(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": blob,
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    return manifest, config


def test_blob_roundtrip_and_modes(store: ImageStore) -> None:
    d = store.put_blob(b"hello")
    assert d == dg.of_bytes(b"hello")
    assert store.has_blob(d)
    assert store.read_blob(d, verify=True) == b"hello"
    for path in (
        store.paths.storage,
        store.paths.blobs,
        store.paths.layers,
        store.paths.storage_tmp,
    ):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700, path
    assert stat.S_IMODE(os.stat(store.blob_path(d)).st_mode) == 0o600
    assert store.put_blob(b"hello") == d  # idempotent
    assert tmp_entries(store) == []


@pytest.mark.parametrize(
    ("data", "size", "why"),
    [
        (b"hellp", 5, "digest mismatch"),  # one flipped byte
        (b"hell", 5, "4 bytes, expected 5"),
        (b"hello!", 5, "more than the expected 5 bytes"),
    ],
)
def test_blob_verified_before_commit(store: ImageStore, data: bytes, size: int, why: str) -> None:
    want = dg.of_bytes(b"hello")
    with pytest.raises(ImageError, match=why), store.blob_writer(want, size) as w:
        w.write(data)
        w.commit()
    assert not store.has_blob(want)
    assert not store.has_blob(dg.of_bytes(data))
    assert tmp_entries(store) == []


def test_blob_paths_never_take_bad_digests(store: ImageStore) -> None:
    for bad in ("sha256:../../etc/passwd", "sha256:" + "A" * 64, "md5:abc"):
        with pytest.raises(ImageError, match="invalid"):
            store.blob_path(bad)
        with pytest.raises(ImageError, match="invalid"):
            store.layer_path(bad)
    with pytest.raises(NotFoundError):
        store.open_blob(dg.of_bytes(b"absent"))


def test_read_blob_size_cap(store: ImageStore) -> None:
    d = store.put_blob(b"x" * 100)
    with pytest.raises(ImageError, match="larger than 10"):
        store.read_blob(d, max_size=10)


def test_unpack_layer_commits_atomically(store: ImageStore) -> None:
    layer = TarBuilder().file("a", b"x").data()
    diff_id = store.unpack_layer(io.BytesIO(layer))
    assert diff_id == dg.of_bytes(layer)
    assert store.has_layer(diff_id)
    assert (Path(store.layer_path(diff_id)) / "a").read_bytes() == b"x"
    # present: not unpacked again, the stream is not even read
    assert store.unpack_layer(io.BytesIO(b"garbage"), diff_id) == diff_id
    assert tmp_entries(store) == []


def test_unpack_layer_mismatch_and_failure_leave_nothing(store: ImageStore) -> None:
    layer = TarBuilder().file("a", b"x").data()
    wrong = dg.of_bytes(b"other")
    with pytest.raises(ImageError, match="diff id mismatch"):
        store.unpack_layer(io.BytesIO(layer), wrong)
    with pytest.raises(ImageError, match=r"'\.\.'"):
        store.unpack_layer(io.BytesIO(TarBuilder().file("ok").file("../evil").data()))
    assert os.listdir(store.paths.layers) == []
    assert tmp_entries(store) == []


def test_put_get_list(store: ImageStore) -> None:
    manifest, config = make_image(store, {"etc/hostname": b"x"})
    image = store.put_image("example.com/app:v1", manifest, config)
    assert image.id == dg.of_bytes(config)
    assert image.record.manifest == dg.of_bytes(manifest)
    assert image.record.created == "2024-01-02T03:04:05Z"
    assert image.config.cmd == ["/bin/sh"]
    assert image.config.architecture == "amd64"
    assert len(image.layer_dirs) == 1
    assert os.path.isfile(os.path.join(image.layer_dirs[0], "etc", "hostname"))
    assert store.layer_dirs(image) == image.layer_dirs
    again = store.get("example.com/app:v1")
    assert again.id == image.id and again.layer_dirs == image.layer_dirs
    assert str(again.reference) == "example.com/app:v1"
    assert [r.reference for r in store.list()] == ["example.com/app:v1"]
    index = json.loads(Path(store.paths.images_index).read_text())
    assert index["version"] == 1
    assert index["images"]["example.com/app:v1"]["config"] == image.id


def test_get_by_id_digest_and_errors(store: ImageStore) -> None:
    manifest, config = make_image(store, {"f": b"1"})
    image = store.put_image("busybox", manifest, config)
    hexid = image.id[7:]
    assert store.get(hexid).id == image.id
    assert store.get(hexid[:12]).id == image.id
    assert store.get(image.id).id == image.id
    assert store.get(f"busybox@{image.record.manifest}").id == image.id
    with pytest.raises(NotFoundError, match="busybox:other not found"):
        store.get("busybox:other")
    with pytest.raises(NotFoundError):
        store.get("f" * 64)
    with pytest.raises(UsageError, match="invalid reference"):
        store.get("Bad Name")


def test_retag_shares_content(store: ImageStore) -> None:
    manifest, config = make_image(store, {"f": b"1"})
    a = store.put_image("a", manifest, config)
    b = store.put_image("b:2", manifest, config)
    assert a.id == b.id and a.layer_dirs == b.layer_dirs
    assert len(os.listdir(store.paths.layers)) == 1
    twin = a.id[:19] + "0" * 52  # another id sharing the first 12 hex digits
    with pytest.raises(ImageError, match="ambiguous"):
        store._by_id({"x": {"config": a.id}, "y": {"config": twin}}, a.id[7:19])


def test_put_image_checks(store: ImageStore) -> None:
    manifest, config = make_image(store, {"f": b"1"})
    with pytest.raises(ImageError, match="does not match the config blob"):
        store.put_image("a", manifest, config + b" ")
    with pytest.raises(ImageError, match="not valid JSON"):
        store.put_image("a", b"{", config)
    doc = json.loads(manifest)
    doc["layers"] = []
    with pytest.raises(ImageError, match="do not match"):
        store.put_image("a", json.dumps(doc).encode(), config)
    cfg = json.loads(config)
    cfg["rootfs"]["diff_ids"] = [dg.of_bytes(b"not unpacked")]
    cfg_bytes = json.dumps(cfg).encode()
    doc = json.loads(manifest)
    doc["config"]["digest"] = dg.of_bytes(cfg_bytes)
    with pytest.raises(ImageError, match="not unpacked"):
        store.put_image("a", json.dumps(doc).encode(), cfg_bytes)
    assert store.list() == []


def test_missing_layer_is_reported(store: ImageStore) -> None:
    manifest, config = make_image(store, {"f": b"1"})
    image = store.put_image("a", manifest, config)
    os.rename(image.layer_dirs[0], image.layer_dirs[0] + ".gone")
    with pytest.raises(ImageError, match="missing from the store"):
        store.get("a")


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[]",
        b'{"images": []}',
        b'{"images": {"docker.io/library/a:latest": {"config": 1}}}',
    ],
)
def test_corrupt_index(store: ImageStore, content: bytes) -> None:
    store.ensure_dirs()
    Path(store.paths.images_index).write_bytes(content)
    with pytest.raises(StateError, match=r"images\.json"):
        store.list()
        store.get("a")


def test_index_update_is_atomic(store: ImageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest, config = make_image(store, {"f": b"1"})
    store.put_image("a", manifest, config)
    before = Path(store.paths.images_index).read_bytes()
    real_rename = os.rename

    def rename(src: str, dst: str) -> None:
        if dst == store.paths.images_index:
            raise OSError(28, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OSError, match="No space"):
        store.put_image("b", manifest, config)
    assert Path(store.paths.images_index).read_bytes() == before
    assert tmp_entries(store) == []


# ---- helpers shared by test_catalog / test_gc


def import_image(
    store: ImageStore, ref: str, files: dict[str, bytes], created: str = "2024-01-02T03:04:05Z"
) -> Image:
    """A one-layer image made by ``launcher import`` from an in-memory tar."""
    t = TarBuilder()
    for name, data in files.items():
        t.file(name, data)
    return import_rootfs(store, io.BytesIO(t.data()), ref, created=created)


# ---- sizes


def test_layer_size_recorded_at_commit(store: ImageStore) -> None:
    layer = TarBuilder().dir("d").file("d/a", b"x" * 10).file("b", b"y" * 5).link("c", "b").data()
    diff_id = store.unpack_layer(io.BytesIO(layer))
    assert Path(store.size_path(diff_id)).read_bytes() == b"15"
    assert store.layer_size(diff_id) == 15
    assert os.listdir(store.paths.layers) == [diff_id[7:]]  # layers/ holds layers only
    # committed by a caller that did not count: one walk (hard links once)
    tmp = store.new_tmp_dir()
    Path(tmp, "f").write_bytes(b"z" * 7)
    os.link(os.path.join(tmp, "f"), os.path.join(tmp, "g"))
    os.symlink("/etc/passwd", os.path.join(tmp, "l"))
    other = dg.of_bytes(b"walked")
    store.commit_layer(tmp, other)
    assert store.layer_size(other) == 7
    assert store.size_of([diff_id, other]) == 22
    assert tmp_entries(store) == []


def test_layer_size_rebuilt_when_sidecar_missing_or_bad(store: ImageStore) -> None:
    diff_id = store.unpack_layer(io.BytesIO(TarBuilder().file("a", b"abc").data()))
    os.unlink(store.size_path(diff_id))
    assert store.layer_size(diff_id) == 3
    assert Path(store.size_path(diff_id)).read_bytes() == b"3"  # cached again
    Path(store.size_path(diff_id)).write_bytes(b"garbage")
    assert store.layer_size(diff_id) == 3
    assert store.layer_size(dg.of_bytes(b"absent")) == 0


# ---- dangling images and index records


def test_moving_a_tag_leaves_the_old_image_dangling(store: ImageStore) -> None:
    old = import_image(store, "app:1", {"f": b"old"})
    new = import_image(store, "app:1", {"f": b"new"})
    assert old.id != new.id
    records = {r.key: r for r in store.list()}
    assert set(records) == {old.id, "docker.io/library/app:1"}
    dangling = records[old.id]
    assert dangling.reference == "" and dangling.dangling and dangling.config == old.id
    found = store.get(old.id[7:19])  # id prefix finds the dangling image
    assert found.id == old.id and found.record.dangling
    with pytest.raises(ImageError, match="dangling"):
        _ = found.reference
    # tagging it again takes it out of the dangling state
    import_image(store, "app:2", {"f": b"old"})
    assert {r.key for r in store.list()} == {"docker.io/library/app:1", "docker.io/library/app:2"}


def test_moving_a_tag_of_a_still_referenced_image_leaves_nothing_dangling(
    store: ImageStore,
) -> None:
    old = import_image(store, "app:1", {"f": b"old"})
    manifest = store.read_blob(old.record.manifest)
    config = store.read_blob(old.record.config)
    store.put_image("app:keep", manifest, config)
    import_image(store, "app:1", {"f": b"new"})
    assert all(not r.dangling for r in store.list())


def test_put_image_records_the_index_digest(store: ImageStore) -> None:
    manifest, config = make_image(store, {"f": b"1"})
    index = dg.of_bytes(b"an image index")
    image = store.put_image("example.com/app:v1", manifest, config, index=index)
    assert image.record.index == index
    raw = json.loads(Path(store.paths.images_index).read_text())["images"]
    assert raw["example.com/app:v1"]["index"] == index
    assert store.get(f"example.com/app@{index}").id == image.id  # the repo digest works
    with pytest.raises(ImageError, match="invalid index digest"):
        store.put_image("example.com/app:v2", manifest, config, index="sha256:nope")


def test_dangling_entry_must_name_its_own_image(store: ImageStore) -> None:
    manifest, config = make_image(store, {"f": b"1"})
    image = store.put_image("a", manifest, config)
    raw = json.loads(Path(store.paths.images_index).read_text())
    entry = raw["images"].pop("docker.io/library/a:latest")
    raw["images"][dg.of_bytes(b"another id")] = entry
    Path(store.paths.images_index).write_text(json.dumps(raw))
    with pytest.raises(StateError, match=r"dangling entry .* names image " + image.id):
        store.list()
