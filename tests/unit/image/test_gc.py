from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from launcher.errors import ConflictError, StateError
from launcher.image import catalog, gc
from launcher.image import digest as dg
from launcher.image.lock import lock_path, store_lock
from launcher.image.store import Image, ImageStore
from launcher.paths import Paths

from .tarhelp import TarBuilder
from .test_store import import_image, make_image

CID = "c0ffee" * 10 + "abcd"


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(Paths(str(tmp_path / "storage"), str(tmp_path / "state")))


def blobs(store: ImageStore) -> set[str]:
    return {dg.PREFIX + n for n in os.listdir(store.paths.blobs)}


def layers(store: ImageStore) -> set[str]:
    return {dg.PREFIX + n for n in os.listdir(store.paths.layers)}


def sizes(store: ImageStore) -> set[str]:
    return {dg.PREFIX + n for n in os.listdir(store.sizes_dir)}


def content(image: Image) -> set[str]:
    m = image.manifest
    return {image.record.manifest, m["config"]["digest"], *(d["digest"] for d in m["layers"])}


def add_bundle(store: ImageStore, cid: str, image: Image | None, raw: bytes | None = None) -> None:
    path = Path(store.paths.storage, "containers", cid)
    path.mkdir(parents=True)
    if image is not None:
        notes = {"io.launcher.image.id": image.id,
                 "io.launcher.image.layers": ",".join(image.diff_ids)}
        raw = json.dumps({"annotations": notes}).encode()
    if raw is not None:
        (path / "config.json").write_bytes(raw)


def test_collect_keeps_what_images_reference(store: ImageStore) -> None:
    a = import_image(store, "a", {"f": b"1"})
    b = import_image(store, "b", {"f": b"2" * 1000})
    stray_blob = store.put_blob(b"nobody refers to this")
    stray_layer = store.unpack_layer(io.BytesIO(TarBuilder().file("s", b"s" * 50).data()))
    report = gc.collect(store, store.paths)
    assert (report.blobs_removed, report.layers_removed) == (1, 1)
    assert report.bytes_freed == len(b"nobody refers to this") + 50
    assert report.warnings == []
    assert blobs(store) == content(a) | content(b)
    assert stray_blob not in blobs(store)
    assert layers(store) == sizes(store) == {*a.diff_ids, *b.diff_ids}
    assert stray_layer not in layers(store)
    assert os.listdir(store.paths.storage_tmp) == []
    # nothing left to do
    again = gc.collect(store, store.paths)
    assert (again.blobs_removed, again.layers_removed, again.tmp_removed) == (0, 0, 0)


def test_rmi_then_collect_removes_exactly_that_image(store: ImageStore) -> None:
    keep = import_image(store, "keep", {"shared": b"same"})
    gone = import_image(store, "gone", {"shared": b"same"}, created="2000-01-01T00:00:00Z")
    only = import_image(store, "only", {"own": b"own"})
    assert keep.diff_ids == gone.diff_ids  # one layer, shared
    catalog.remove(store, ["gone", "only"], force=False, in_use={})
    report = gc.collect(store, store.paths)
    assert blobs(store) == content(keep)
    assert layers(store) == set(keep.diff_ids)
    assert report.layers_removed == 1 and only.diff_ids[0] not in sizes(store)
    assert store.get("keep").layer_dirs == keep.layer_dirs


def test_collect_keeps_layers_containers_use(store: ImageStore) -> None:
    img = import_image(store, "busybox", {"f": b"1"})
    add_bundle(store, CID, img)
    catalog.remove(store, ["busybox"], force=True, in_use={img.id: [CID]})
    assert store.list()[0].dangling
    gc.collect(store, store.paths)
    assert layers(store) == set(img.diff_ids)
    assert blobs(store) == content(img)  # the dangling image keeps its blobs too
    # the image itself removed (say the record was lost): the layer stays all the same
    catalog.remove(store, [img.id], force=False, in_use={})
    report = gc.collect(store, store.paths)
    assert layers(store) == set(img.diff_ids)
    assert blobs(store) == set() and report.blobs_removed == 3


def test_a_bundle_that_cannot_tell_keeps_every_layer(store: ImageStore) -> None:
    img = import_image(store, "busybox", {"f": b"1"})
    add_bundle(store, CID, None)  # being created: no config.json yet
    catalog.remove(store, ["busybox"], force=False, in_use={})
    report = gc.collect(store, store.paths)
    assert layers(store) == set(img.diff_ids)
    assert blobs(store) == set()  # blobs are not what containers use
    assert report.layers_removed == 0
    assert any("config.json" in w for w in report.warnings)


def test_unreadable_manifest_or_config_stops_that_sweep(store: ImageStore) -> None:
    img = import_image(store, "busybox", {"f": b"1"})
    stray_blob = store.put_blob(b"stray")
    stray_layer = store.unpack_layer(io.BytesIO(TarBuilder().file("s").data()))
    os.unlink(store.blob_path(img.record.manifest))
    report = gc.collect(store, store.paths)
    assert stray_blob in blobs(store)  # can't tell which layer blobs the image needs
    assert stray_layer not in layers(store)  # the config still says which layers
    assert any("blobs kept" in w for w in report.warnings)
    os.unlink(store.blob_path(img.id))
    stray_layer = store.unpack_layer(io.BytesIO(TarBuilder().file("s").data()))
    report = gc.collect(store, store.paths)
    assert stray_layer in layers(store)
    assert any("layers kept" in w for w in report.warnings)


def test_corrupt_index_sweeps_nothing(store: ImageStore) -> None:
    import_image(store, "busybox", {"f": b"1"})
    before = (blobs(store), layers(store))
    Path(store.paths.images_index).write_text("{trunc")
    with pytest.raises(StateError, match=r"images\.json"):
        gc.collect(store, store.paths)
    assert (blobs(store), layers(store)) == before


def test_index_blob_is_kept(store: ImageStore) -> None:
    manifest, config = make_image(store, {"f": b"1"})
    index = store.put_blob(b'{"schemaVersion": 2, "manifests": []}')
    store.put_image("example.com/app:1", manifest, config, index=index)
    gc.collect(store, store.paths)
    assert index in blobs(store)


def test_stale_tmp_entries_go_live_writers_stay(store: ImageStore) -> None:
    store.ensure_dirs()
    tmp = Path(store.paths.storage_tmp)
    (tmp / "layer-999999999-abcdef").mkdir()  # its writer is gone
    (tmp / "layer-999999999-abcdef" / "f").write_text("x")
    (tmp / f"blob-{os.getpid()}-abcdef").write_text("x")  # ours: we hold the lock
    (tmp / "junk").write_text("x")
    live = tmp / f"blob-{os.getppid()}-abcdef"  # a running writer that took no lock
    live.write_text("x")
    report = gc.collect(store, store.paths)
    assert report.tmp_removed == 3
    assert os.listdir(tmp) == [live.name]
    live.unlink()


def test_foreign_names_are_left_alone(store: ImageStore) -> None:
    store.ensure_dirs()
    Path(store.paths.blobs, "README").write_text("x")
    Path(store.paths.layers, "not-a-layer").mkdir()
    gc.collect(store, store.paths)
    assert os.listdir(store.paths.blobs) == ["README"]
    assert os.listdir(store.paths.layers) == ["not-a-layer"]


def test_orphan_size_sidecars_go(store: ImageStore) -> None:
    diff_id = store.unpack_layer(io.BytesIO(TarBuilder().file("s").data()))
    import shutil

    shutil.rmtree(store.layer_path(diff_id))  # removed by hand
    gc.collect(store, store.paths)
    assert sizes(store) == set()


# ---- prune


def test_prune_dangling(store: ImageStore) -> None:
    old = import_image(store, "app", {"f": b"old"})
    used = import_image(store, "svc", {"f": b"svc"})
    new = import_image(store, "app", {"f": b"new"})
    import_image(store, "svc", {"f": b"svc2"})  # `used` is now dangling, but in use
    lines, report = gc.prune(store, store.paths, all=False, in_use={used.id: [CID]})
    assert lines == [("Deleted", old.id)]
    assert {r.key for r in store.list()} == {
        "docker.io/library/app:latest", "docker.io/library/svc:latest", used.id}
    assert old.diff_ids[0] not in layers(store) and new.diff_ids[0] in layers(store)
    assert report.layers_removed == 1 and report.bytes_freed > 0


def test_prune_all(store: ImageStore) -> None:
    a = import_image(store, "a", {"f": b"1"})
    catalog.tag(store, "a", "example.com/a:2")
    used = import_image(store, "used", {"f": b"2"})
    lines, _ = gc.prune(store, store.paths, all=True, in_use={used.id: [CID]})
    assert sorted(lines) == sorted([("Untagged", "a:latest"), ("Untagged", "example.com/a:2"),
                                    ("Deleted", a.id)])
    assert [r.reference for r in store.list()] == ["docker.io/library/used:latest"]
    assert blobs(store) == content(used)
    nothing, _ = gc.prune(store, store.paths, all=False, in_use={})
    assert nothing == []


# ---- GC against writers holding the store lock


def test_collect_refuses_while_another_process_writes(store: ImageStore) -> None:
    stray = store.put_blob(b"just committed, not yet indexed")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys\n"
         "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
         "fcntl.flock(fd, fcntl.LOCK_SH)\n"
         "print('locked', flush=True)\n"
         "sys.stdin.read()\n",
         lock_path(store.paths)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(ConflictError, match="busy"):
            gc.collect(store, store.paths, blocking=False)
        assert stray in blobs(store)
    finally:
        holder.communicate("")
    assert holder.returncode == 0
    gc.collect(store, store.paths, blocking=False)
    assert stray not in blobs(store)


def test_collect_waits_for_a_pull_to_index_its_content(store: ImageStore) -> None:
    done: list[gc.GcReport] = []
    with store_lock(store.paths, exclusive=False):  # as pull holds it
        manifest, config = make_image(store, {"f": b"pulled"})  # blobs + layer committed
        worker = threading.Thread(target=lambda: done.append(gc.collect(store, store.paths)))
        worker.start()
        image = store.put_image("pulled", manifest, config)  # nested shared: no deadlock
        assert not done  # GC is still waiting for us
    worker.join(60)  # a bound against a hang, not a timing assertion
    assert done and done[0].blobs_removed == 0 and done[0].layers_removed == 0
    assert content(image) <= blobs(store)
    assert store.get("pulled").id == image.id


def test_collect_inside_a_shared_hold_is_refused(store: ImageStore) -> None:
    with store_lock(store.paths, exclusive=False), pytest.raises(StateError, match="itself"):
        gc.collect(store, store.paths)
