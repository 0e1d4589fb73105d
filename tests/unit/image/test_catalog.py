from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from launcher.errors import ConflictError, LauncherError, NotFoundError, UsageError
from launcher.image import catalog
from launcher.image import digest as dg
from launcher.image.store import Image, ImageStore
from launcher.paths import Paths

from .test_store import import_image

CID = "c0ffee" * 10 + "abcd"


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(Paths(str(tmp_path / "storage"), str(tmp_path / "state")))


def keys(store: ImageStore) -> set[str]:
    return {r.key for r in store.list()}


def short(image: Image) -> str:
    return image.id[7:19]


# ---- tag


def test_tag_by_reference_and_by_id(store: ImageStore) -> None:
    img = import_image(store, "busybox", {"f": b"1"})
    catalog.tag(store, "busybox", "example.com:5000/team/box:v1")
    catalog.tag(store, short(img), "mine")
    catalog.tag(store, img.id, "docker.io/library/mine:two")
    assert keys(store) == {
        "docker.io/library/busybox:latest",
        "example.com:5000/team/box:v1",
        "docker.io/library/mine:latest",
        "docker.io/library/mine:two",
    }
    assert store.get("example.com:5000/team/box:v1").id == img.id


def test_tag_errors(store: ImageStore) -> None:
    import_image(store, "busybox", {"f": b"1"})
    before = Path(store.paths.images_index).read_bytes()
    with pytest.raises(UsageError, match="refusing to create a tag with a digest reference"):
        catalog.tag(store, "busybox", "busybox@sha256:" + "a" * 64)
    with pytest.raises(NotFoundError, match=r"^No such image: nope$"):
        catalog.tag(store, "nope", "other")
    with pytest.raises(UsageError, match="invalid reference"):
        catalog.tag(store, "busybox", "Upper/Case")
    assert Path(store.paths.images_index).read_bytes() == before  # nothing lost


def test_retag_leaves_the_old_image_dangling(store: ImageStore) -> None:
    old = import_image(store, "app", {"f": b"old"})
    new = import_image(store, "other", {"f": b"new"})
    catalog.tag(store, "other", "app")
    assert keys(store) == {"docker.io/library/app:latest", "docker.io/library/other:latest",
                           old.id}
    rows = {(s.repository, s.tag): s for s in catalog.summaries(store)}
    assert rows["<none>", "<none>"].id == old.id
    assert rows["<none>", "<none>"].digest == ""
    assert rows["app", "latest"].id == new.id
    # and tagging the dangling image by id revives it
    catalog.tag(store, old.id, "app:old")
    assert old.id not in keys(store)


# ---- remove (rmi)


def test_rmi_by_name_untags_then_deletes(store: ImageStore) -> None:
    img = import_image(store, "busybox", {"f": b"1"})
    catalog.tag(store, "busybox", "busybox:2")
    assert catalog.remove(store, ["busybox"], force=False, in_use={}) == [
        ("Untagged", "busybox:latest")
    ]
    assert catalog.remove(store, ["busybox:2"], force=False, in_use={}) == [
        ("Untagged", "busybox:2"),
        ("Deleted", img.id),
    ]
    assert store.list() == []
    # content is GC's job: rmi leaves blobs and layers in place
    assert store.has_layer(img.diff_ids[0]) and store.has_blob(img.record.manifest)


def test_rmi_by_id(store: ImageStore) -> None:
    img = import_image(store, "busybox", {"f": b"1"})
    catalog.tag(store, "busybox", "busybox:2")  # same repository: no force needed
    assert catalog.remove(store, [short(img)], force=False, in_use={}) == [
        ("Untagged", "busybox:2"),
        ("Untagged", "busybox:latest"),
        ("Deleted", img.id),
    ]
    assert store.list() == []


def test_rmi_by_id_in_several_repositories_must_be_forced(store: ImageStore) -> None:
    img = import_image(store, "busybox", {"f": b"1"})
    catalog.tag(store, "busybox", "example.com/box:1")
    with pytest.raises(ConflictError) as err:
        catalog.remove(store, [img.id], force=False, in_use={})
    assert str(err.value) == (f"unable to delete {short(img)} (must be forced) - "
                              "image is referenced in multiple repositories")
    assert len(store.list()) == 2
    assert catalog.remove(store, [img.id], force=True, in_use={}) == [
        ("Untagged", "busybox:latest"),
        ("Untagged", "example.com/box:1"),
        ("Deleted", img.id),
    ]
    assert store.list() == []


def test_rmi_of_an_image_a_container_uses(store: ImageStore) -> None:
    img = import_image(store, "busybox", {"f": b"1"})
    catalog.tag(store, "busybox", "busybox:2")
    in_use = {img.id: [CID]}
    # not the last reference: untagging is fine
    assert catalog.remove(store, ["busybox:2"], force=False, in_use=in_use) == [
        ("Untagged", "busybox:2")
    ]
    for ref in ("busybox", short(img)):
        with pytest.raises(ConflictError) as err:
            catalog.remove(store, [ref], force=False, in_use=in_use)
        assert str(err.value) == (f"unable to remove {ref} (must force) - image is being "
                                  f"used by container {CID[:12]}")
    assert keys(store) == {"docker.io/library/busybox:latest"}
    # forced: the reference goes, the image stays (dangling) for its container
    assert catalog.remove(store, ["busybox"], force=True, in_use=in_use) == [
        ("Untagged", "busybox:latest")
    ]
    assert keys(store) == {img.id}
    assert store.get(img.id).id == img.id
    with pytest.raises(ConflictError, match="cannot be forced"):
        catalog.remove(store, [img.id], force=True, in_use=in_use)
    # once no container uses it, rmi by id deletes it
    assert catalog.remove(store, [img.id], force=False, in_use={}) == [("Deleted", img.id)]
    assert store.list() == []


def test_rmi_force_by_id_of_used_image_keeps_it_dangling(store: ImageStore) -> None:
    img = import_image(store, "busybox", {"f": b"1"})
    assert catalog.remove(store, [img.id], force=True, in_use={img.id: [CID]}) == [
        ("Untagged", "busybox:latest")
    ]
    assert keys(store) == {img.id}


def test_rmi_dangling_by_id(store: ImageStore) -> None:
    old = import_image(store, "app", {"f": b"old"})
    import_image(store, "app", {"f": b"new"})
    assert catalog.remove(store, [short(old)], force=False, in_use={}) == [("Deleted", old.id)]
    assert keys(store) == {"docker.io/library/app:latest"}


def test_rmi_digest_reference(store: ImageStore) -> None:
    img = import_image(store, "busybox", {"f": b"1"})
    catalog.tag(store, "busybox", "other:1")
    by_digest = f"busybox@{img.record.manifest}"
    assert catalog.remove(store, [by_digest], force=False, in_use={}) == [
        ("Untagged", "busybox:latest")
    ]
    assert keys(store) == {"docker.io/library/other:1"}


def test_rmi_digest_refs_go_with_the_last_tag_of_their_repository(store: ImageStore) -> None:
    img = import_image(store, "busybox", {"f": b"1"})
    manifest = store.read_blob(img.record.manifest)
    config = store.read_blob(img.record.config)
    store.put_image(f"busybox@{img.record.manifest}", manifest, config)
    assert catalog.remove(store, ["busybox"], force=False, in_use={}) == [
        ("Untagged", "busybox:latest"),
        ("Untagged", f"busybox@{img.record.manifest}"),
        ("Deleted", img.id),
    ]


def test_rmi_goes_on_past_errors_and_reports_them_all(store: ImageStore) -> None:
    import_image(store, "a", {"f": b"1"})
    import_image(store, "b", {"f": b"2"})
    with pytest.raises(NotFoundError) as err:
        catalog.remove(store, ["nope", "a", "gone:1", "b"], force=False, in_use={})
    assert str(err.value) == "No such image: nope; No such image: gone:1"
    assert store.list() == []
    with pytest.raises(LauncherError) as mixed:
        catalog.remove(store, ["x", "Bad Name"], force=False, in_use={})
    assert type(mixed.value) is LauncherError
    assert "No such image: x" in str(mixed.value) and "invalid reference" in str(mixed.value)
    assert "\n" not in str(mixed.value)


def test_rmi_failure_loses_nothing(store: ImageStore) -> None:
    img = import_image(store, "busybox", {"f": b"1"})
    catalog.tag(store, "busybox", "example.com/box:1")
    before = Path(store.paths.images_index).read_bytes()
    with pytest.raises(ConflictError):
        catalog.remove(store, [img.id], force=False, in_use={})
    with pytest.raises(ConflictError):
        catalog.remove(store, ["busybox", "example.com/box:1"], force=False,
                       in_use={img.id: [CID]})
    # the first untag succeeded (not the last reference); the second was refused
    assert keys(store) == {"example.com/box:1"}
    assert before != Path(store.paths.images_index).read_bytes()
    assert os.listdir(store.paths.storage_tmp) == []


# ---- images


def test_summaries(store: ImageStore) -> None:
    old = import_image(store, "old", {"f": b"x" * 100}, created="2020-01-01T00:00:00Z")
    new = import_image(store, "example.com/new:v2", {"f": b"y" * 10, "g": b"z" * 5},
                       created="2024-06-01T12:00:00.5+02:00")
    mid = import_image(store, "mid", {"f": b"m"}, created="2022-01-01T00:00:00Z")
    catalog.tag(store, "mid", "mid:2")
    rows = catalog.summaries(store)
    assert [(s.repository, s.tag) for s in rows] == [
        ("example.com/new", "v2"), ("mid", "2"), ("mid", "latest"), ("old", "latest")]
    top = rows[0]
    assert top.id == new.id and top.size == 15 and top.created == "2024-06-01T12:00:00.5+02:00"
    assert top.digest == f"example.com/new@{new.record.manifest}"
    assert rows[3].size == 100 and rows[3].id == old.id
    assert rows[1].id == rows[2].id == mid.id


def test_summaries_show_a_digest_reference_once(store: ImageStore) -> None:
    img = import_image(store, "busybox", {"f": b"1"})
    manifest = store.read_blob(img.record.manifest)
    config = store.read_blob(img.record.config)
    ref = f"example.com/box@{img.record.manifest}"
    store.put_image(ref, manifest, config)
    store.put_image(f"busybox@{img.record.manifest}", manifest, config)
    rows = [(s.repository, s.tag, s.digest) for s in catalog.summaries(store)]
    assert rows == [("busybox", "latest", f"busybox@{img.record.manifest}"),
                    ("example.com/box", "<none>", ref)]


def test_summaries_of_a_damaged_image_still_list(store: ImageStore) -> None:
    img = import_image(store, "busybox", {"f": b"1"})
    os.unlink(store.blob_path(img.id))
    [row] = catalog.summaries(store)
    assert row.size == 0 and row.id == img.id


def test_epoch() -> None:
    assert catalog.epoch("1970-01-01T00:00:10Z") == 10
    assert catalog.epoch("1970-01-01T01:00:10+01:00") == 10
    assert catalog.epoch("1970-01-01T00:00:10.25-00:30") == 1810.25
    assert catalog.epoch("") == 0 and catalog.epoch("yesterday") == 0


# ---- inspect


def test_inspect(store: ImageStore) -> None:
    img = import_image(store, "busybox", {"f": b"abc"}, created="2024-05-06T07:08:09Z")
    catalog.tag(store, "busybox", "example.com/box:1")
    doc = catalog.inspect(store, "busybox")
    assert list(doc) == [
        "Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "DockerVersion",
        "Author", "Config", "Architecture", "Os", "Size", "RootFS", "Metadata", "Launcher",
    ]
    assert doc["Id"] == img.id
    assert doc["RepoTags"] == ["busybox:latest", "example.com/box:1"]
    assert doc["RepoDigests"] == [f"busybox@{img.record.manifest}",
                                  f"example.com/box@{img.record.manifest}"]
    assert doc["Created"] == "2024-05-06T07:08:09Z"
    assert doc["Config"] == img.raw_config["config"]
    assert doc["Config"]["Env"][0].startswith("PATH=")
    assert doc["Os"] == "linux" and doc["Architecture"] == img.raw_config["architecture"]
    assert doc["Size"] == 3
    assert doc["RootFS"] == {"Type": "layers", "Layers": img.diff_ids}
    assert doc["Metadata"]["LastTagTime"].endswith("Z")
    assert doc["Metadata"]["LastTagTime"] != "0001-01-01T00:00:00Z"
    assert doc["Launcher"] == {
        "ManifestDigest": img.record.manifest,
        "IndexDigest": "",
        "MediaType": "application/vnd.oci.image.manifest.v1+json",
        "LayerDirs": img.layer_dirs,
    }
    json.dumps(doc)  # plain JSON all the way down
    assert catalog.inspect(store, short(img))["Id"] == img.id


def test_inspect_untagged_and_missing(store: ImageStore) -> None:
    old = import_image(store, "app", {"f": b"old"})
    import_image(store, "app", {"f": b"new"})
    doc = catalog.inspect(store, old.id)
    assert doc["RepoTags"] == [] and doc["RepoDigests"] == []
    assert doc["Metadata"] == {"LastTagTime": "0001-01-01T00:00:00Z"}
    with pytest.raises(NotFoundError, match=r"^No such image: nope:1$"):
        catalog.inspect(store, "nope:1")
    with pytest.raises(NotFoundError, match="No such image"):
        catalog.inspect(store, dg.of_bytes(b"x"))
