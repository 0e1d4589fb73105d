"""Challenge parsing and the realm rule, without a server (see test_client_auth.py)."""

from __future__ import annotations

import pytest

from launcher.registry.auth import Authenticator, parse_challenges, same_site
from launcher.registry.config import RegistryConfig
from launcher.registry.transport import Transport


def test_bearer_with_quoted_commas() -> None:
    [c] = parse_challenges(['Bearer realm="https://auth.docker.io/token",'
                            'service="registry.docker.io",'
                            'scope="repository:library/busybox:pull,push"'])
    assert c.scheme == "bearer"
    assert c.params == {"realm": "https://auth.docker.io/token",
                        "service": "registry.docker.io",
                        "scope": "repository:library/busybox:pull,push"}


def test_basic_unquoted_escapes_spaces_and_case() -> None:
    [c] = parse_challenges(['BASIC  Realm = plain , charset="UTF-8"'])
    assert c.scheme == "basic" and c.params == {"realm": "plain", "charset": "UTF-8"}
    [c] = parse_challenges([r'Bearer realm="a\"b\\c"'])
    assert c.params["realm"] == 'a"b\\c'


def test_several_challenges_in_one_and_several_headers() -> None:
    found = parse_challenges(['Basic realm="x", Bearer realm="https://t/",service="s"',
                              "Negotiate"])
    assert [c.scheme for c in found] == ["basic", "bearer", "negotiate"]
    assert found[1].params == {"realm": "https://t/", "service": "s"}


@pytest.mark.parametrize("value", ["", ",,,", "=", '="x"', 'Bearer realm="unterminated'])
def test_garbage_does_not_crash(value: str) -> None:
    parse_challenges([value])


@pytest.mark.parametrize(("host", "registry", "same"), [
    ("auth.docker.io", "registry-1.docker.io", True),
    ("registry-1.docker.io", "registry-1.docker.io", True),
    ("gitlab.com", "registry.gitlab.com", True),
    ("ghcr.io", "ghcr.io", True),
    ("evil.io", "registry-1.docker.io", False),
    ("docker.io.evil.com", "registry-1.docker.io", False),
    ("evil.co.uk", "registry.example.co.uk", False),   # co.uk is not a site
    ("auth.example.co.uk", "registry.example.co.uk", True),
    ("127.0.0.1", "127.0.0.1", True),
    ("127.0.0.2", "127.0.0.1", False),                 # IPs: exactly
    ("10.0.0.2", "10.0.0.1", False),
    ("localhost", "127.0.0.1", False),
    ("other", "localhost", False),
])
def test_same_site(host: str, registry: str, same: bool) -> None:
    assert same_site(host, registry) is same


def _auth(domain: str, **kwargs: object) -> Authenticator:
    config = RegistryConfig(**kwargs)  # type: ignore[arg-type]
    transport = Transport(domain, tls_verify=None, config=config, timeout=1)
    return Authenticator(transport, ("user", "pw"))


@pytest.mark.parametrize(("domain", "realm", "allowed"), [
    ("docker.io", "https://auth.docker.io/token", True),
    ("docker.io", "http://auth.docker.io/token", False),        # plain HTTP, not insecure
    ("docker.io", "https://auth.example.com/token", False),     # another site
    ("registry.corp:5000", "https://registry.corp:5001/t", True),
    ("localhost:5000", "http://localhost:6000/token", True),    # loopback HTTP
    ("127.0.0.1:5000", "http://127.0.0.2:6000/token", False),   # another IP
])
def test_may_send_credentials(domain: str, realm: str, allowed: bool) -> None:
    assert _auth(domain).may_send_credentials(realm) is allowed


def test_explicitly_insecure_realm_may_get_credentials() -> None:
    auth = _auth("registry.corp:5000", insecure=["registry.corp"])
    assert auth.may_send_credentials("http://registry.corp:5001/token")
    assert not _auth("registry.corp:5000").may_send_credentials("http://registry.corp/token")
