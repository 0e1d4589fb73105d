"""Registry settings (``registries.toml``) and which registries may use plain HTTP.

The file holds one key for now::

    insecure = ["myregistry:5000", "10.0.0.0/8", "build-host"]

An entry is ``host:port`` (that port only), ``host`` (any port) or an IP
network in CIDR form (matched against registries named by IP literal; names
are not resolved). Loopback registries -- ``localhost``, 127.0.0.0/8 and
``::1``, with or without a port -- are insecure without being listed, as in
Docker. "Insecure" means: try HTTPS without verifying the certificate, and
fall back to plain HTTP (see ``transport``).
"""

from __future__ import annotations

import ipaddress
import tomllib

from launcher.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

DOCKER_HUB = "docker.io"
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"


def endpoint(domain: str) -> str:
    """The host (and port) to connect to for ``domain``: Docker Hub's API host
    for ``docker.io``, else the domain itself."""
    return DOCKER_HUB_ENDPOINT if domain == DOCKER_HUB else domain


def split_host(netloc: str) -> tuple[str, str]:
    """``host:port`` -> (host, port); brackets of IPv6 literals are removed and
    the host is lowercased. A bare IPv6 address (``::1``) has no port."""
    if netloc.startswith("["):
        end = netloc.find("]")
        if end > 0:
            return netloc[1:end].lower(), netloc[end + 1 :].lstrip(":")
    if netloc.count(":") == 1:
        host, _, port = netloc.partition(":")
        return host.lower(), port
    return netloc.lower(), ""


def ip_of(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP literal (``host`` without port or brackets)."""
    if host == "localhost":
        return True
    ip = ip_of(host)
    return ip is not None and ip.is_loopback


class RegistryConfig:
    """Parsed ``registries.toml``; the defaults when the file does not exist."""

    __slots__ = ("insecure",)

    def __init__(self, insecure: Iterable[str] = ()) -> None:
        self.insecure: frozenset[str] = frozenset(entry.lower() for entry in insecure)

    @classmethod
    def load(cls, path: str) -> RegistryConfig:
        """Read ``path``; a missing file gives the defaults, a bad one a UsageError."""
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            return cls()
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: invalid registry settings: {exc}") from None
        insecure = data.get("insecure", [])
        if type(insecure) is not list or not all(type(e) is str and e for e in insecure):
            raise UsageError(f"{path}: 'insecure' must be a list of \"host[:port]\" strings")
        for entry in insecure:
            if "/" in entry:
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise UsageError(f"{path}: invalid network {entry!r} in 'insecure'") from None
        return cls(insecure)

    def is_insecure(self, domain: str) -> bool:
        """May ``domain`` (``host[:port]``) be reached without verified TLS?"""
        host, port = split_host(domain)
        if is_loopback(host):
            return True
        listed = self.insecure
        if host in listed or (port and f"{_bracket(host)}:{port}" in listed):
            return True
        ip = ip_of(host)
        if ip is None:
            return False
        for entry in listed:
            if "/" in entry and ip in ipaddress.ip_network(entry, strict=False):
                return True
        return False


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host
