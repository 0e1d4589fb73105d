"""Registry: manifests (get, head, put) against the fake registry."""

from __future__ import annotations

import json

import pytest

from launcher.errors import NotFoundError, RegistryError, UsageError
from launcher.registry import mediatypes as mt
from launcher.registry.client import Registry
from tests.unit.registry.fakeregistry import FakeRegistry, sha256

INDEX = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}).encode()


def test_get_by_tag_and_by_digest(fake: FakeRegistry, client: Registry) -> None:
    digest = fake.add_image("library/busybox", "latest", [b"layer"])
    by_tag = client.get_manifest("library/busybox", "latest")
    assert by_tag.digest == digest and by_tag.media_type == mt.OCI_MANIFEST
    assert by_tag.data == fake.manifests[("library/busybox", "latest")][0]
    by_digest = client.get_manifest("library/busybox", digest)
    assert by_digest.data == by_tag.data


def test_sends_the_full_accept_list(fake: FakeRegistry, client: Registry) -> None:
    fake.add_manifest("app", INDEX, mt.OCI_INDEX, "v1")
    assert client.get_manifest("app", "v1").media_type == mt.OCI_INDEX
    [req] = fake.requests_to("registry")
    assert req.header("Accept") == mt.ACCEPT
    assert (req.header("User-Agent") or "").startswith("launcher/")


def test_narrow_accept_is_honoured(fake: FakeRegistry, client: Registry) -> None:
    fake.add_manifest("app", INDEX, mt.OCI_INDEX, "v1")
    with pytest.raises(NotFoundError):  # the fake answers as distribution 2.8 does
        client.get_manifest("app", "v1", accept=mt.DOCKER_MANIFEST)


def test_unknown_manifest_is_not_found(fake: FakeRegistry, client: Registry) -> None:
    with pytest.raises(NotFoundError, match=rf"^manifest unknown: {fake.domain}/app:nope$"):
        client.get_manifest("app", "nope")
    digest = sha256(b"x")
    with pytest.raises(NotFoundError, match=f"{fake.domain}/app@{digest}"):
        client.get_manifest("app", digest)


def test_digest_mismatch_refused(fake: FakeRegistry, client: Registry) -> None:
    digest = fake.add_image("app", "v1", [b"layer"])
    fake.wrong_manifest_digest = True
    with pytest.raises(RegistryError, match="manifest with digest"):
        client.get_manifest("app", digest)
    client.get_manifest("app", "v1")  # by tag, whatever the registry has is the answer


def test_ten_mib_manifest_refused_from_its_length(fake: FakeRegistry, client: Registry) -> None:
    fake.huge_manifest = 10 << 20
    with pytest.raises(RegistryError, match="over the limit"):
        client.get_manifest("app", "v1")


def test_endless_manifest_refused_while_reading(fake: FakeRegistry, client: Registry) -> None:
    # No Content-Length and a body as long as the server cares to send: only a cap
    # enforced while reading returns at all (reading it whole would take 1 GiB).
    fake.huge_manifest = 1 << 30
    fake.huge_with_length = False
    with pytest.raises(RegistryError, match="over the limit of 4194304 bytes"):
        client.get_manifest("app", "v1")
    assert fake.huge_bytes_sent < 1 << 30


def test_manifest_at_the_cap_is_fine(fake: FakeRegistry, client: Registry) -> None:
    data = b'{"schemaVersion": 2, "manifests": [], "x": "'
    data += b"a" * ((4 << 20) - len(data) - 2) + b'"}'
    assert len(data) == 4 << 20
    fake.add_manifest("app", data, mt.OCI_INDEX, "v1")
    assert len(client.get_manifest("app", "v1").data) == 4 << 20


def test_content_type_confusion_refused(fake: FakeRegistry, client: Registry) -> None:
    fake.add_image("app", "v1", [b"layer"])
    fake.manifest_content_type = mt.OCI_INDEX
    with pytest.raises(RegistryError, match="contradicts"):
        client.get_manifest("app", "v1")


def test_head_manifest(fake: FakeRegistry, client: Registry) -> None:
    digest = fake.add_image("app", "v1", [b"layer"])
    size = len(fake.manifests[("app", digest)][0])
    assert client.head_manifest("app", "v1") == (digest, mt.OCI_MANIFEST, size)
    assert client.head_manifest("app", digest) == (digest, mt.OCI_MANIFEST, size)
    assert client.head_manifest("app", "v2") is None
    assert [r.method for r in fake.requests_to("registry")] == ["HEAD"] * 3


def test_head_manifest_without_digest_header_falls_back_to_get(
        fake: FakeRegistry, client: Registry) -> None:
    fake.add_manifest("app", INDEX, mt.OCI_INDEX, "v1")
    fake.manifest_content_type = "application/json"  # says nothing
    assert client.head_manifest("app", "v1") == (sha256(INDEX), mt.OCI_INDEX, len(INDEX))
    assert [r.method for r in fake.requests_to("registry")] == ["HEAD", "GET"]


def test_put_manifest(fake: FakeRegistry, client: Registry) -> None:
    digest = client.put_manifest("app", "v1", INDEX, mt.OCI_INDEX)
    assert digest == sha256(INDEX)
    assert fake.manifests[("app", "v1")] == (INDEX, mt.OCI_INDEX)
    [req] = fake.requests_to("registry")
    assert req.method == "PUT" and req.header("Content-Type") == mt.OCI_INDEX


@pytest.mark.parametrize(("repo", "ref"), [
    ("app/../x", "v1"), ("App", "v1"), ("app?x=1", "v1"), ("", "v1"), ("a//b", "v1"),
    ("app", "v1/../x"), ("app", ".hidden"), ("app", "sha256:abc"), ("app", "a" * 129),
])
def test_names_that_could_bend_the_url_refused(client: Registry, repo: str, ref: str) -> None:
    with pytest.raises(UsageError):
        client.get_manifest(repo, ref)


def test_keep_alive_connection_reused(fake: FakeRegistry, client: Registry) -> None:
    fake.add_image("app", "v1", [b"layer"])
    for _ in range(3):
        client.get_manifest("app", "v1")
    peers = {r.peer for r in fake.requests_to("registry")}
    assert len(fake.requests_to("registry")) == 3 and len(peers) == 1
