"""Registry: the auth dance against the fake (bearer tokens, Basic, where credentials go)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from launcher.errors import AuthError
from launcher.registry.client import Registry
from tests.unit.registry.fakeregistry import FakeRegistry

ALICE = ("alice", "wonderland")
Make = Callable[..., Registry]


def _bearer(fake: FakeRegistry, **switches: object) -> FakeRegistry:
    fake.auth = "bearer"
    fake.users = dict([ALICE])
    for name, value in switches.items():
        setattr(fake, name, value)
    fake.add_image("app", "v1", [b"layer"])
    return fake


def _statuses_401(fake: FakeRegistry) -> int:
    """How many registry requests were sent without (valid) authorization."""
    reqs = fake.requests_to("registry")
    return sum(1 for r in reqs if not (r.header("Authorization") or "").startswith("Bearer"))


def test_anonymous_bearer_token(fake: FakeRegistry, client: Registry) -> None:
    _bearer(fake)
    client.get_manifest("app", "v1")
    [token_req] = fake.requests_to("token")
    assert token_req.header("Authorization") is None
    assert "service=fake-registry" in token_req.path
    assert "scope=repository%3Aapp%3Apull" in token_req.path
    first, second = fake.requests_to("registry")
    assert first.header("Authorization") is None
    assert (second.header("Authorization") or "").startswith("Bearer ")


def test_token_cached_per_scope_and_fetched_up_front(fake: FakeRegistry,
                                                     client: Registry) -> None:
    _bearer(fake)
    fake.add_image("other", "v1", [b"x"])
    for _ in range(3):
        client.get_manifest("app", "v1")
    assert len(fake.requests_to("token")) == 1
    client.get_manifest("other", "v1")  # a new scope: its token comes before the request
    assert len(fake.requests_to("token")) == 2
    assert _statuses_401(fake) == 1  # only the very first request was challenged


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("expires_in", "still_valid", "expired"), [(None, 50, 60),
                                                                    (300, 290, 300)])
def test_token_expiry(fake: FakeRegistry, client: Registry, expires_in: int | None,
                      still_valid: float, expired: float) -> None:
    _bearer(fake, token_expires_in=expires_in)
    clock = Clock()
    client._auth.clock = clock
    client.get_manifest("app", "v1")
    clock.now += still_valid
    client.get_manifest("app", "v1")
    assert len(fake.requests_to("token")) == 1
    clock.now += expired - still_valid
    client.get_manifest("app", "v1")
    assert len(fake.requests_to("token")) == 2


def test_access_token_field(fake: FakeRegistry, client: Registry) -> None:
    _bearer(fake, token_field="access_token")
    client.get_manifest("app", "v1")


def test_credentials_go_to_the_token_server_of_the_same_host(
        fake: FakeRegistry, make_client: Make) -> None:
    _bearer(fake, anonymous_pull=False)
    client = make_client(fake.domain, credentials=ALICE)
    client.get_manifest("app", "v1")
    [token_req] = fake.requests_to("token")
    assert (token_req.header("Authorization") or "").startswith("Basic ")
    # The registry itself only ever sees the token, never the password.
    assert not any((r.header("Authorization") or "").startswith("Basic ")
                   for r in fake.requests_to("registry"))


def test_no_credentials_for_a_private_repository(fake: FakeRegistry, client: Registry) -> None:
    _bearer(fake, anonymous_pull=False)
    with pytest.raises(AuthError, match=rf"^{fake.domain}: authentication required"):
        client.get_manifest("app", "v1")


def test_wrong_password(fake: FakeRegistry, make_client: Make) -> None:
    _bearer(fake, anonymous_pull=False)
    client = make_client(fake.domain, credentials=("alice", "nope"))
    with pytest.raises(AuthError, match=r"unauthorized: incorrect username or password$"):
        client.get_manifest("app", "v1")


@pytest.fixture
def far_token(other_loopback: str) -> Iterator[FakeRegistry]:
    """A registry on 127.0.0.1 whose token server is another host (127.0.0.2)."""
    with FakeRegistry(token_host=other_loopback) as reg:
        yield reg


def test_credentials_not_sent_to_a_token_server_elsewhere(far_token: FakeRegistry,
                                                          make_client: Make) -> None:
    _bearer(far_token)  # anonymous pulls allowed: the pull still works, anonymously
    client = make_client(far_token.domain, credentials=ALICE)
    client.get_manifest("app", "v1")
    token_reqs = far_token.requests_to("token")
    assert token_reqs and all(r.header("Authorization") is None for r in token_reqs)
    with pytest.raises(AuthError, match="credentials were not sent to the token server"):
        client.ping()  # login must not claim success with credentials never checked


def test_basic_auth(fake: FakeRegistry, make_client: Make) -> None:
    fake.auth = "basic"
    fake.users = dict([ALICE])
    fake.add_image("app", "v1", [b"layer"])
    client = make_client(fake.domain, credentials=ALICE)
    for _ in range(3):
        client.get_manifest("app", "v1")
    reqs = fake.requests_to("registry")
    assert [r.header("Authorization") is None for r in reqs] == [True, False, False, False]
    assert fake.requests_to("token") == []


def test_basic_auth_failures(fake: FakeRegistry, make_client: Make) -> None:
    fake.auth = "basic"
    fake.users = dict([ALICE])
    fake.add_image("app", "v1", [b"layer"])
    with pytest.raises(AuthError, match=rf"^{fake.domain}: authentication required"):
        make_client(fake.domain).get_manifest("app", "v1")
    with pytest.raises(AuthError, match=rf"^{fake.domain}: unauthorized: "):
        make_client(fake.domain, credentials=("alice", "x")).get_manifest("app", "v1")


@pytest.mark.parametrize("scheme", [None, "basic", "bearer"])
def test_ping(fake: FakeRegistry, make_client: Make, scheme: str | None) -> None:
    fake.auth = scheme
    fake.users = dict([ALICE])
    make_client(fake.domain, credentials=ALICE).ping()
    if scheme is not None:
        with pytest.raises(AuthError):
            make_client(fake.domain, credentials=("alice", "bad")).ping()
