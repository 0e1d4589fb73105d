"""Registry: blob mounts and uploads (monolithic, chunked) against the fake."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from launcher.errors import ImageError, RegistryError
from launcher.registry.client import Registry
from tests.unit.registry.fakeregistry import FakeRegistry, sha256

DATA = bytes(range(256)) * 10  # 2560 bytes


class Trickle(io.BytesIO):
    """A source that returns fewer bytes than asked, as pipes and sockets do."""

    def read(self, n: int | None = -1) -> bytes:
        return super().read(min(n or 1, 700) if n is not None and n > 0 else n)


def test_monolithic_upload(fake: FakeRegistry, client: Registry) -> None:
    digest = sha256(DATA)
    client.upload_blob("app", digest, len(DATA), Trickle(DATA).read)
    assert fake.blobs[digest] == DATA and digest in fake.repo_blobs["app"]
    post, put = fake.requests_to("registry")
    assert (post.method, post.path) == ("POST", "/v2/app/blobs/uploads/")
    assert put.method == "PUT" and put.body == DATA
    # The Location had a query of its own (_state): the digest is added with "&".
    assert "?_state=" in put.path and put.path.endswith("&digest=sha256%3A" + digest[7:])


@pytest.mark.parametrize("absolute", [False, True])
def test_chunked_upload(fake: FakeRegistry, client: Registry, absolute: bool) -> None:
    fake.absolute_location = absolute
    digest = sha256(DATA)
    client.upload_blob("app", digest, len(DATA), Trickle(DATA).read, chunk_size=1000)
    assert fake.blobs[digest] == DATA
    reqs = fake.requests_to("registry")
    assert [r.method for r in reqs] == ["POST", "PATCH", "PATCH", "PATCH", "PUT"]
    assert [r.header("Content-Range") for r in reqs[1:4]] == ["0-999", "1000-1999",
                                                               "2000-2559"]
    assert reqs[-1].body == b""


def test_empty_blob(fake: FakeRegistry, client: Registry) -> None:
    digest = sha256(b"")
    client.upload_blob("app", digest, 0, io.BytesIO().read, chunk_size=1000)
    client.upload_blob("app2", digest, 0, io.BytesIO().read)
    assert fake.blobs[digest] == b""


def test_wrong_digest_refused_with_the_registry_message(fake: FakeRegistry,
                                                        client: Registry) -> None:
    with pytest.raises(RegistryError, match=r"HTTP 400.*digest does not match"):
        client.upload_blob("app", sha256(b"other"), len(DATA), io.BytesIO(DATA).read)
    assert sha256(b"other") not in fake.blobs


@pytest.mark.parametrize("chunk_size", [None, 1000])
def test_source_shorter_than_size(fake: FakeRegistry, client: Registry,
                                  chunk_size: int | None) -> None:
    with pytest.raises(ImageError, match="source ended after 2560 of 3000 bytes"):
        client.upload_blob("app", sha256(DATA), 3000, io.BytesIO(DATA).read,
                           chunk_size=chunk_size)
    assert fake.blobs == {}
    fake.add_image("app", "v1", [b"layer"])
    client.get_manifest("app", "v1")  # the client still works after the aborted upload


def test_mount(fake: FakeRegistry, client: Registry) -> None:
    digest = fake.add_blob("base", DATA)
    assert client.mount_blob("app", digest, "base") is True
    assert digest in fake.repo_blobs["app"]
    [req] = fake.requests_to("registry")
    assert req.path == f"/v2/app/blobs/uploads/?mount=sha256%3A{digest[7:]}&from=base"


def test_mount_refused_cancels_the_upload_it_opened(fake: FakeRegistry,
                                                   client: Registry) -> None:
    digest = fake.add_blob("base", DATA)
    fake.mount_allowed = False
    assert client.mount_blob("app", digest, "base") is False
    assert [r.method for r in fake.requests_to("registry")] == ["POST", "DELETE"]
    assert fake.uploads == {}
    assert client.mount_blob("app", sha256(b"unknown"), "base") is False


def test_push_with_bearer_scopes(fake: FakeRegistry,
                                 make_client: Callable[..., Registry]) -> None:
    fake.auth = "bearer"
    fake.users = {"alice": "pw"}
    fake.anonymous_pull = False
    base = fake.add_blob("base", DATA)
    client = make_client(fake.domain, credentials=("alice", "pw"))
    assert client.mount_blob("app", base, "base") is True
    mount_token = fake.requests_to("token")[-1].path
    # The mount's token covers both repositories: push here, pull there.
    assert "scope=repository%3Aapp%3Apull%2Cpush" in mount_token
    assert "scope=repository%3Abase%3Apull" in mount_token
    client.upload_blob("app", sha256(b"new"), 3, io.BytesIO(b"new").read)
    digest = client.put_manifest("app", "v1", b'{"schemaVersion": 2}', "application/x")
    assert digest == sha256(b'{"schemaVersion": 2}')
    assert client.blob_size("app", sha256(b"new")) == 3


def test_anonymous_push_refused(fake: FakeRegistry, client: Registry) -> None:
    fake.auth = "bearer"
    with pytest.raises(RegistryError, match="authentication required"):
        client.upload_blob("app", sha256(DATA), len(DATA), io.BytesIO(DATA).read)
