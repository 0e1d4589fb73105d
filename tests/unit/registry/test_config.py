from __future__ import annotations

from pathlib import Path

import pytest

from launcher.errors import UsageError
from launcher.registry import mediatypes as mt
from launcher.registry.config import RegistryConfig, endpoint, is_loopback, split_host


def test_accept_lists_all_four_manifest_types() -> None:
    accepted = [t.strip() for t in mt.ACCEPT.split(",")]
    assert sorted(accepted) == sorted(mt.MANIFEST_TYPES + mt.INDEX_TYPES)
    assert len(accepted) == 4


def test_endpoint() -> None:
    assert endpoint("docker.io") == "registry-1.docker.io"
    assert endpoint("ghcr.io") == "ghcr.io"
    assert endpoint("localhost:5000") == "localhost:5000"


@pytest.mark.parametrize(("netloc", "want"), [
    ("example.com", ("example.com", "")),
    ("Example.COM:5000", ("example.com", "5000")),
    ("[::1]:5000", ("::1", "5000")),
    ("[::1]", ("::1", "")),
    ("::1", ("::1", "")),
])
def test_split_host(netloc: str, want: tuple[str, str]) -> None:
    assert split_host(netloc) == want


@pytest.mark.parametrize("domain", [
    "localhost", "localhost:5000", "127.0.0.1", "127.0.0.1:5000", "127.3.2.1:80",
    "[::1]:5000", "[::1]", "::1",
])
def test_loopback_is_insecure_without_config(domain: str) -> None:
    assert RegistryConfig().is_insecure(domain)


@pytest.mark.parametrize("domain", [
    "docker.io", "localhost.example.com", "128.0.0.1:5000", "10.0.0.1", "[::2]:5000",
    "127.0.0.1.nip.io",
])
def test_other_hosts_are_secure_by_default(domain: str) -> None:
    assert not RegistryConfig().is_insecure(domain)


def test_is_loopback() -> None:
    assert is_loopback("localhost") and is_loopback("127.0.0.9") and is_loopback("::1")
    assert not is_loopback("example.com") and not is_loopback("10.1.1.1")


def test_load_missing_file_gives_defaults(tmp_path: Path) -> None:
    config = RegistryConfig.load(str(tmp_path / "registries.toml"))
    assert config.insecure == frozenset()


def test_load_entries(tmp_path: Path) -> None:
    path = tmp_path / "registries.toml"
    path.write_text('insecure = ["Build:5000", "plain", "10.0.0.0/8", "[fd00::1]:443"]\n'
                    'future_key = 1\n')
    config = RegistryConfig.load(str(path))
    assert config.is_insecure("build:5000")
    assert not config.is_insecure("build:5001")  # host:port: that port only
    assert not config.is_insecure("build")
    assert config.is_insecure("plain") and config.is_insecure("plain:8443")  # any port
    assert config.is_insecure("10.2.3.4:5000")  # CIDR, IP literals only
    assert not config.is_insecure("11.2.3.4:5000")
    assert config.is_insecure("[fd00::1]:443")
    assert not config.is_insecure("registry.example.com")


@pytest.mark.parametrize("text", [
    "insecure = [",                 # not TOML
    'insecure = "host:5000"',       # not a list
    "insecure = [1, 2]",            # not strings
    'insecure = [""]',              # empty entry
    'insecure = ["10.0.0.0/99"]',   # bad network
])
def test_bad_file_is_a_usage_error_naming_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "registries.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=r"registries\.toml"):
        RegistryConfig.load(str(path))
