from __future__ import annotations

from pathlib import Path

import pytest

from launcher.api import Client, Network, NotFoundError, Volume
from tests.unit.api.fakes import FakeResources


@pytest.fixture
def client(tmp_path: Path) -> Client:
    c = Client(root=tmp_path, backend="vm")
    c.service = FakeResources()
    return c


def test_networks(client: Client) -> None:
    net = client.networks.create("test-net", subnet="10.9.0.0/24", labels={"a": "b"})
    assert isinstance(net, Network) and net.name == "test-net" and net.labels == {"a": "b"}
    assert client.networks.get("test-net") == net and client.networks.list() == [net]
    c = client.containers.run("busybox", detach=True)
    net.connect(c)
    net.disconnect("web")
    fake = client.service
    assert ("connect", (net.id, c.id)) in fake.calls  # type: ignore[attr-defined]
    assert ("disconnect", (net.id, "web")) in fake.calls  # type: ignore[attr-defined]
    net.remove()
    with pytest.raises(NotFoundError):
        client.networks.get("test-net")


def test_volumes(client: Client) -> None:
    named = client.volumes.create("data", labels={"k": "v"})
    anonymous = client.volumes.create()
    assert isinstance(named, Volume) and named.name == named.id == "data"
    assert named.labels == {"k": "v"} and len(anonymous.name) == 64
    assert client.volumes.list() == [named, anonymous]
    named.remove()
    assert client.volumes.list() == [anonymous] and "data" not in repr(anonymous)
