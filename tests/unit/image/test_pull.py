"""pull() and push() against the in-process fake registry (no root: plain files only)."""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.errors import ImageError, LauncherError, NotFoundError
from launcher.image import platform as plat
from launcher.image.progress import LineReporter
from launcher.image.pull import pull
from launcher.image.push import push
from launcher.image.store import ImageStore
from launcher.paths import Paths
from launcher.registry.client import Registry
from tests.unit.registry.fakeregistry import OCI_MANIFEST, FakeRegistry, sha256

from .tarhelp import TarBuilder

INDEX = "application/vnd.oci.image.index.v1+json"


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry() as reg:
        yield reg


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(Paths(str(tmp_path / "storage"), str(tmp_path / "state")))


@pytest.fixture
def client(fake: FakeRegistry) -> Iterator[Registry]:
    reg = Registry(fake.domain)
    reg.sleep = lambda seconds: None
    yield reg
    reg.close()


def layer(name: str, data: bytes) -> bytes:
    return TarBuilder().file(name, data).data()


def three_layers(fake: FakeRegistry, repo: str = "app", tag: str = "v1") -> tuple[str, list[bytes]]:
    layers = [layer(f"f{i}", os.urandom(1000) * (i + 1)) for i in range(3)]
    return fake.add_image(repo, tag, layers), layers


def ours_alive() -> list[str]:
    """launcher's own threads still running (the fake's server threads are not ours)."""
    return [t.name for t in threading.enumerate() if t.name.startswith("launcher-")]


def tmp_empty(store: ImageStore) -> bool:
    tmp = store.paths.storage_tmp
    return not os.path.isdir(tmp) or os.listdir(tmp) == []


def test_pull_stores_everything_and_reports(fake: FakeRegistry, client: Registry,
                                            store: ImageStore) -> None:
    digest, layers = three_layers(fake)
    out = io.StringIO()
    res = pull(store, f"{fake.domain}/app:v1", registry=client, reporter=LineReporter(out),
               platform=plat.parse("linux/amd64"))
    assert res.digest == digest and res.updated
    img = store.get(f"{fake.domain}/app:v1")
    assert img.diff_ids == [sha256(b) for b in layers]
    for i, d in enumerate(img.layer_dirs):
        assert os.path.isfile(os.path.join(d, f"f{i}"))
    text = out.getvalue()
    assert text.count("Pull complete") == 3 and "Status: Downloaded newer image" in text
    assert not ours_alive()  # workers joined: safe to fork
    again = pull(store, f"{fake.domain}/app:v1", registry=client,
                 platform=plat.parse("linux/amd64"))
    assert not again.updated


def test_corrupt_blob_commits_nothing(fake: FakeRegistry, client: Registry,
                                      store: ImageStore) -> None:
    three_layers(fake)
    fake.corrupt_blobs = True
    with pytest.raises(ImageError, match=r"sha256:[0-9a-f]{64}.*(mismatch|failed verification)"):
        pull(store, f"{fake.domain}/app:v1", registry=client,
             platform=plat.parse("linux/amd64"))
    assert store.list() == [] and tmp_empty(store)
    assert not os.path.isdir(store.paths.layers) or os.listdir(store.paths.layers) == []
    assert not ours_alive()


def test_dropped_connection_resumes(fake: FakeRegistry, client: Registry,
                                    store: ImageStore) -> None:
    big = layer("big", os.urandom(300_000))
    digest = fake.add_image("app", "v1", [big])
    config = json.loads(fake.manifests[("app", digest)][0])["config"]["digest"]
    store.put_blob(fake.blobs[config], config)  # so the next blob GET is the layer's
    fake.drop_after = 100_000
    pull(store, f"{fake.domain}/app:v1", registry=client, platform=plat.parse("linux/amd64"))
    ranges = [r.header("Range") for r in fake.requests_to("registry") if "/blobs/" in r.path]
    assert any(r and r.startswith("bytes=") for r in ranges)


def _index(fake: FakeRegistry) -> tuple[str, dict[str, str]]:
    digests = {}
    entries = []
    for arch in ("amd64", "arm64"):
        diff_ids = [sha256(layer("a", arch.encode()))]
        cfg = json.dumps({"architecture": arch, "os": "linux",
                          "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        d = fake.add_image("multi", f"only-{arch}", [layer("a", arch.encode())], config=cfg)
        digests[arch] = d
        size = len(fake.manifests[("multi", d)][0])
        entries.append({"mediaType": OCI_MANIFEST, "digest": d, "size": size,
                        "platform": {"os": "linux", "architecture": arch}})
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries}).encode()
    return fake.add_manifest("multi", index, INDEX, "latest"), digests


def test_index_selects_platform_and_keeps_index_digest(fake: FakeRegistry, client: Registry,
                                                       store: ImageStore) -> None:
    index_digest, digests = _index(fake)
    res = pull(store, f"{fake.domain}/multi", registry=client, platform=plat.parse("linux/arm64"))
    assert res.digest == index_digest
    img = store.get(f"{fake.domain}/multi:latest")
    assert img.record.manifest == digests["arm64"]
    assert img.record.index == index_digest and store.has_blob(index_digest)
    with pytest.raises(ImageError, match="no image for platform linux/s390x"):
        pull(store, f"{fake.domain}/multi", registry=client, platform=plat.parse("s390x"))


def test_explicit_platform_mismatch_on_single_manifest(fake: FakeRegistry, client: Registry,
                                                       store: ImageStore) -> None:
    three_layers(fake)  # an amd64 image
    with pytest.raises(ImageError, match="is for linux/amd64, not the requested linux/arm64"):
        pull(store, f"{fake.domain}/app:v1", registry=client, platform=plat.parse("arm64"))
    assert store.list() == []


def test_schema1_and_unknown_types_refused(fake: FakeRegistry, client: Registry,
                                           store: ImageStore) -> None:
    v1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    fake.strict_accept = False  # an old registry answers schema 1 whatever we accept
    fake.add_manifest("old", b'{"schemaVersion": 1}', v1, "latest")
    with pytest.raises(ImageError, match="schema 1 manifests are not supported"):
        pull(store, f"{fake.domain}/old", registry=client)


def test_missing_image(fake: FakeRegistry, client: Registry, store: ImageStore) -> None:
    with pytest.raises(NotFoundError):
        pull(store, f"{fake.domain}/nope:1", registry=client)


def _manifest_with(fake: FakeRegistry, **change: object) -> None:
    cfg = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    manifest: dict[str, object] = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "x", "digest": fake.add_blob("bad", cfg), "size": len(cfg)},
        "layers": []}
    manifest.update(change)
    fake.add_manifest("bad", json.dumps(manifest).encode(), OCI_MANIFEST, "latest")


@pytest.mark.parametrize(("change", "message"), [
    ({"config": {"digest": "sha256:" + "0" * 64, "size": 9 << 20}}, "over the 8 MiB limit"),
    ({"layers": [{"digest": "sha256:" + "1" * 64, "size": 5, "urls": ["http://x"]}]}, "foreign"),
    ({"layers": [{"digest": "sha256:" + "1" * 64, "size": -1}]}, "no valid size"),
    ({"layers": [{"digest": "md5:abc", "size": 1}]}, "digest"),
    ({"schemaVersion": 3}, "schemaVersion"),
    ({"layers": [{"digest": "sha256:" + "1" * 64, "size": 1}]}, "diff_ids does not match"),
])
def test_bad_manifests(fake: FakeRegistry, client: Registry, store: ImageStore,
                       change: dict[str, object], message: str) -> None:
    _manifest_with(fake, **change)
    with pytest.raises(ImageError, match=message):
        pull(store, f"{fake.domain}/bad", registry=client)
    assert store.list() == [] and tmp_empty(store)


def test_push_uploads_then_skips(fake: FakeRegistry, client: Registry,
                                 store: ImageStore) -> None:
    three_layers(fake)
    src = f"{fake.domain}/app:v1"
    pull(store, src, registry=client, platform=plat.parse("linux/amd64"))
    out = io.StringIO()
    res = push(store, src, f"{fake.domain}/copy:v1", registry=client, reporter=LineReporter(out))
    assert res.digest == store.get(src).record.manifest
    assert out.getvalue().count("Mounted from app") == 3  # same registry: mounted
    fake.mount_allowed = False
    out = io.StringIO()
    push(store, src, f"{fake.domain}/third:v1", registry=client, reporter=LineReporter(out))
    assert out.getvalue().count("Pushed") == 3
    out = io.StringIO()
    push(store, src, f"{fake.domain}/third:v1", registry=client, reporter=LineReporter(out))
    assert out.getvalue().count("Layer already exists") == 3
    assert fake.manifests[("third", "v1")][0] == store.read_blob(res.digest)


def test_push_needs_a_tag(fake: FakeRegistry, client: Registry, store: ImageStore) -> None:
    three_layers(fake)
    pull(store, f"{fake.domain}/app:v1", registry=client, platform=plat.parse("linux/amd64"))
    digest = store.get(f"{fake.domain}/app:v1").record.manifest
    with pytest.raises(LauncherError):
        push(store, f"{fake.domain}/app:v1", f"{fake.domain}/app@{digest}x", registry=client)
