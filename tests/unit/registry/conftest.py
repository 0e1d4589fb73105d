"""Fixtures of the registry tests: a fake registry, a client for it, TLS material."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from launcher.registry.client import Registry
from tests.unit.registry.fakeregistry import FakeRegistry


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    """A fresh fake registry on 127.0.0.1 (plain HTTP), closed after the test."""
    with FakeRegistry() as reg:
        yield reg


class Sleeps(list[float]):
    """Records the pauses a client asked for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(sleeps: Sleeps) -> Iterator[Callable[..., Registry]]:
    """``make_client(domain, **kwargs)``: a Registry whose retries do not sleep."""
    made: list[Registry] = []

    def make(domain: str, **kwargs: object) -> Registry:
        client = Registry(domain, **kwargs)  # type: ignore[arg-type]
        client.sleep = sleeps
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(fake: FakeRegistry, make_client: Callable[..., Registry]) -> Registry:
    """An anonymous client of ``fake``."""
    return make_client(fake.domain)


def can_bind(host: str) -> bool:
    try:
        with socket.socket() as s:
            s.bind((host, 0))
    except OSError:
        return False
    return True


@pytest.fixture
def other_loopback() -> str:
    """127.0.0.2: loopback, but another host than 127.0.0.1 (Linux has all of 127/8)."""
    if not can_bind("127.0.0.2"):
        pytest.skip("127.0.0.2 is not available on this host")
    return "127.0.0.2"


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate (and key) for ``localhost`` and 127.0.0.1."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    where = tmp_path_factory.mktemp("tls")
    cert_file, key_file = where / "cert.pem", where / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def tls_fake(tls_files: tuple[Path, Path]) -> Iterator[FakeRegistry]:
    """A fake registry speaking HTTPS with the self-signed certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    with FakeRegistry(tls=context) as reg:
        yield reg
