"""Registry: blob downloads (stream, resume, retries, redirects) against the fake."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from launcher.errors import NotFoundError, RegistryError
from launcher.registry.client import Registry
from launcher.registry.transport import TransportError
from tests.unit.registry.conftest import Sleeps
from tests.unit.registry.fakeregistry import FakeRegistry, sha256

BLOB = bytes(range(256)) * 12_000  # ~3 MiB: several 1 MiB reads


def _fetch(client: Registry, digest: str, **kwargs: object) -> bytes:
    out = bytearray()
    total = client.fetch_blob("app", digest, out.extend, **kwargs)  # type: ignore[arg-type]
    assert total == len(out) + int(kwargs.get("offset", 0))  # type: ignore[call-overload]
    return bytes(out)


def test_streams_in_chunks_with_progress(fake: FakeRegistry, client: Registry) -> None:
    digest = fake.add_blob("app", BLOB)
    chunks: list[bytes] = []
    seen: list[int] = []
    total = client.fetch_blob("app", digest, chunks.append, size=len(BLOB), progress=seen.append)
    assert total == len(BLOB) and b"".join(chunks) == BLOB
    assert len(chunks) > 1 and max(map(len, chunks)) <= 1 << 20
    assert seen == [len(c) for c in chunks]


def test_offset_asks_for_a_range(fake: FakeRegistry, client: Registry) -> None:
    digest = fake.add_blob("app", BLOB)
    assert _fetch(client, digest, offset=1000, size=len(BLOB)) == BLOB[1000:]
    [req] = fake.requests_to("registry")
    assert req.header("Range") == "bytes=1000-"


def test_offset_at_the_end_is_done(fake: FakeRegistry, client: Registry) -> None:
    digest = fake.add_blob("app", BLOB)
    assert _fetch(client, digest, offset=len(BLOB), size=len(BLOB)) == b""  # 416: complete


def test_dropped_connection_resumes_with_range(fake: FakeRegistry, client: Registry,
                                               sleeps: Sleeps) -> None:
    digest = fake.add_blob("app", BLOB)
    fake.drop_after = 1_500_000
    assert _fetch(client, digest, size=len(BLOB)) == BLOB
    ranges = [r.header("Range") for r in fake.requests_to("registry")]
    assert ranges[0] is None
    assert ranges[1] is not None and ranges[1].startswith("bytes=")
    assert 0 < int(ranges[1][6:-1]) <= 1_500_000
    assert sleeps == [0.5]


def test_resume_from_a_server_ignoring_range_skips_what_we_have(
        fake: FakeRegistry, client: Registry) -> None:
    digest = fake.add_blob("app", BLOB)
    fake.drop_after = 1_500_000
    fake.ignore_range = True  # answers 200 with the whole blob again
    assert _fetch(client, digest, size=len(BLOB)) == BLOB


def test_resume_without_known_size(fake: FakeRegistry, client: Registry) -> None:
    digest = fake.add_blob("app", BLOB)
    fake.drop_after = 700_000  # Content-Length tells the client the body was cut
    assert _fetch(client, digest) == BLOB


def test_5xx_retried_with_backoff(fake: FakeRegistry, client: Registry,
                                  sleeps: Sleeps) -> None:
    digest = fake.add_blob("app", BLOB)
    fake.fail_blob_gets = 3
    assert _fetch(client, digest, size=len(BLOB)) == BLOB
    assert sleeps == [0.5, 1.0, 2.0]


def test_gives_up_after_the_retries(fake: FakeRegistry, client: Registry,
                                    sleeps: Sleeps) -> None:
    digest = fake.add_blob("app", BLOB)
    fake.fail_blob_gets = 10
    with pytest.raises(TransportError, match=r"HTTP 503 \(gave up after 3 attempts\)"):
        _fetch(client, digest, size=len(BLOB), retries=2)
    assert sleeps == [0.5, 1.0]


def test_more_than_size_refused_before_writing(fake: FakeRegistry, client: Registry) -> None:
    digest = fake.add_blob("app", BLOB)
    out = bytearray()
    with pytest.raises(RegistryError, match="more than the expected 1000"):
        client.fetch_blob("app", digest, out.extend, size=1000)
    assert out == b""


def test_more_than_size_refused_while_streaming(fake: FakeRegistry, client: Registry) -> None:
    digest = fake.add_blob("app", BLOB)
    fake.ignore_range = True
    out = bytearray()
    # From offset 10 the server sends 200 with everything: skipping 10 bytes leaves
    # len(BLOB) - 10 more, over the 20 bytes still expected.
    with pytest.raises(RegistryError, match="more than the expected"):
        client.fetch_blob("app", digest, out.extend, size=30, offset=10)
    assert len(out) <= 20


def test_blob_shorter_than_size_refused_without_retries(fake: FakeRegistry, client: Registry,
                                                        sleeps: Sleeps) -> None:
    digest = fake.add_blob("app", BLOB)
    with pytest.raises(RegistryError, match=f"{len(BLOB)} bytes, fewer than the expected"):
        _fetch(client, digest, size=len(BLOB) + 10)
    with pytest.raises(RegistryError, match="the blob ends before byte"):
        _fetch(client, digest, size=len(BLOB) + 10, offset=len(BLOB))  # 416
    assert sleeps == []


def test_flipped_byte_is_passed_on_for_the_caller_to_catch(
        fake: FakeRegistry, client: Registry) -> None:
    digest = fake.add_blob("app", BLOB)
    fake.corrupt_blobs = True
    data = _fetch(client, digest, size=len(BLOB))
    assert len(data) == len(BLOB) and data != BLOB and sha256(data) != digest


def test_unknown_blob_is_not_found(fake: FakeRegistry, client: Registry,
                                   sleeps: Sleeps) -> None:
    digest = sha256(b"nothing")
    with pytest.raises(NotFoundError, match=f"blob unknown: {fake.domain}/app@{digest}"):
        _fetch(client, digest)
    assert sleeps == []  # a 404 is not retried


def test_write_errors_are_not_retried(fake: FakeRegistry, client: Registry,
                                      sleeps: Sleeps) -> None:
    digest = fake.add_blob("app", BLOB)

    def write(data: bytes) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        client.fetch_blob("app", digest, write)
    assert sleeps == []
    assert _fetch(client, digest) == BLOB  # the abandoned connection did not poison the next


def test_blob_size(fake: FakeRegistry, client: Registry) -> None:
    digest = fake.add_blob("app", BLOB)
    assert client.blob_size("app", digest) == len(BLOB)
    assert client.blob_size("other", digest) is None  # blobs belong to repositories
    assert client.blob_size("app", sha256(b"x")) is None


def test_redirect_followed_without_authorization(fake: FakeRegistry,
                                                 make_client: Callable[..., Registry]) -> None:
    fake.auth = "basic"
    fake.users = {"alice": "pw"}
    fake.redirect_blobs = True
    digest = fake.add_blob("app", BLOB)
    client = make_client(fake.domain, credentials=("alice", "pw"))
    assert _fetch(client, digest, size=len(BLOB)) == BLOB
    assert client.blob_size("app", digest) == len(BLOB)
    to_registry = [r for r in fake.requests_to("registry") if r.header("Authorization")]
    assert to_registry  # the registry itself got the credentials...
    redirected = fake.requests_to("blobs")
    assert [r.method for r in redirected] == ["GET", "HEAD"]
    assert all(r.header("Authorization") is None for r in redirected)  # ...nobody else


@pytest.mark.parametrize("auth", [None, "bearer"])
def test_parallel_downloads_through_one_client(fake: FakeRegistry, client: Registry,
                                               auth: str | None) -> None:
    fake.auth = auth
    blobs = [bytes([i]) * 300_000 for i in range(6)]
    digests = [fake.add_blob("app", b) for b in blobs]
    results: dict[int, bytes] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results[i] = _fetch(client, digests[i], size=len(blobs[i]))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [results[i] for i in range(6)] == blobs
    if auth:  # the token cache is shared: one token for the one scope
        assert len(fake.requests_to("token")) == 1
    peers = {r.peer for r in fake.requests_to("registry")}
    assert 1 < len(peers) <= 6  # a connection per thread, not one shared
