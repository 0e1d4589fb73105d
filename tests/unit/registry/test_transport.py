"""Transport: TLS or plain HTTP, the fallback, downgrade refusal, connection errors."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from launcher.errors import RegistryError
from launcher.registry.client import Registry
from launcher.registry.config import RegistryConfig
from launcher.registry.transport import Transport, TransportError, error_message
from tests.unit.registry.fakeregistry import FakeRegistry

Make = Callable[..., Registry]


def _scheme(client: Registry) -> str:
    return client._transport.origin()[0]


def test_loopback_falls_back_to_plain_http(fake: FakeRegistry, client: Registry) -> None:
    fake.add_image("app", "v1", [b"layer"])
    client.get_manifest("app", "v1")
    assert _scheme(client) == "http"


def test_insecure_registry_uses_tls_without_verifying(tls_fake: FakeRegistry,
                                                      client: Registry,
                                                      make_client: Make) -> None:
    tls_fake.add_image("app", "v1", [b"layer"])
    client = make_client(tls_fake.domain)  # 127.0.0.1: insecure, self-signed is fine
    client.get_manifest("app", "v1")
    assert _scheme(client) == "https"


def test_verified_tls_refuses_a_self_signed_certificate(tls_fake: FakeRegistry,
                                                        make_client: Make) -> None:
    tls_fake.add_image("app", "v1", [b"layer"])
    client = make_client(tls_fake.domain, tls_verify=True)
    with pytest.raises(TransportError, match=f"^{tls_fake.domain}: .*CERTIFICATE_VERIFY_FAILED"):
        client.get_manifest("app", "v1")


def test_verified_tls_with_a_trusted_certificate(tls_fake: FakeRegistry, make_client: Make,
                                                 tls_files: tuple[Path, Path],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files[0]))  # what the default context trusts
    tls_fake.add_image("app", "v1", [b"layer"])
    port = tls_fake.domain.rsplit(":", 1)[1]
    client = make_client(f"localhost:{port}", tls_verify=True)
    client.get_manifest("app", "v1")
    assert _scheme(client) == "https"


def test_tls_verify_true_never_falls_back(fake: FakeRegistry, make_client: Make) -> None:
    client = make_client(fake.domain, tls_verify=True)
    with pytest.raises(TransportError):
        client.ping()
    assert fake.requests_to("registry") == []  # never spoke plain HTTP


def test_no_downgrade_by_redirect(tls_fake: FakeRegistry, make_client: Make,
                                  tls_files: tuple[Path, Path],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files[0]))
    digest = tls_fake.add_blob("app", b"data")
    tls_fake.redirect_blobs = True  # to the plain-HTTP blob server
    port = tls_fake.domain.rsplit(":", 1)[1]
    client = make_client(f"localhost:{port}", tls_verify=True)
    with pytest.raises(RegistryError, match="refusing plain HTTP"):
        client.fetch_blob("app", digest, lambda data: None)
    assert tls_fake.requests_to("blobs") == []


def test_no_plain_http_to_a_secure_host() -> None:
    transport = Transport("registry.example.com", tls_verify=None, config=RegistryConfig(),
                          timeout=1)
    assert transport.origin() == ("https", "registry.example.com")  # decided without I/O
    with pytest.raises(RegistryError, match=r"refusing plain HTTP to registry\.example\.com"):
        transport.send("GET", "http://registry.example.com/v2/", {})
    with pytest.raises(RegistryError, match="refusing to follow"):
        transport.send("GET", "file:///etc/passwd", {})


def test_insecure_by_config_or_flag() -> None:
    config = RegistryConfig(["registry.corp:5000"])
    listed = Transport("registry.corp:5000", tls_verify=None, config=config, timeout=1)
    assert listed.is_insecure("registry.corp:5000")
    assert not listed.is_insecure("cdn.example.com")
    forced = Transport("registry.corp:5000", tls_verify=True, config=config, timeout=1)
    assert not forced.is_insecure("registry.corp:5000")
    off = Transport("registry.example.com", tls_verify=False, config=RegistryConfig(),
                    timeout=1)
    assert off.is_insecure("registry.example.com")
    hub = Transport("docker.io", tls_verify=None, config=RegistryConfig(["docker.io"]),
                    timeout=1)
    assert hub.host == "registry-1.docker.io" and hub.is_insecure("registry-1.docker.io")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_is_one_line_naming_the_registry(make_client: Make) -> None:
    domain = f"127.0.0.1:{_closed_port()}"
    client = make_client(domain)
    with pytest.raises(TransportError) as info:
        client.ping()
    message = str(info.value)
    assert message.startswith(f"{domain}: cannot connect: ") and "refused" in message
    assert "\n" not in message
    with pytest.raises(TransportError, match="gave up after 2 attempts"):
        client.fetch_blob("app", "sha256:" + "0" * 64, lambda data: None, retries=1)


def test_stale_keep_alive_connection_is_replaced(fake: FakeRegistry, client: Registry) -> None:
    fake.add_image("app", "v1", [b"layer"])
    fake.drop_keepalive = True  # the server hangs up after each answer, silently
    for _ in range(3):
        client.get_manifest("app", "v1")
    assert len({r.peer for r in fake.requests_to("registry")}) == 3


@pytest.mark.parametrize(("body", "want"), [
    (b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}',
     "manifest unknown"),
    (b'{"errors":[{"code":"DENIED"},{"code":"X","message":"two\\nlines"}]}', "denied; two lines"),
    (b"<html>gateway timeout</html>", ""),
    (b'{"errors": "nope"}', ""),
    (b"", ""),
])
def test_error_message(body: bytes, want: str) -> None:
    assert error_message(body) == want
