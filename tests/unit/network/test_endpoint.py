from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.errors import ConflictError, RuntimeFailure, StateError, UsageError
from launcher.network import endpoint, files, ipam
from launcher.network.model import Network
from launcher.network.store import NetworkStore
from launcher.paths import Paths
from tests.unit.network.fakeops import FakeNetOps

REPO = Path(__file__).resolve().parents[3]
CID = "c" * 64


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(str(tmp_path / "storage"), str(tmp_path / "state"))


@pytest.fixture
def ops() -> FakeNetOps:
    return FakeNetOps()


@pytest.fixture
def web(paths: Paths, ops: FakeNetOps) -> Network:
    return NetworkStore(paths, ops).create("web")


def assert_nothing_left(paths: Paths, ops: FakeNetOps, network: str = "web") -> None:
    assert ipam.leases(paths, network) == {}
    assert endpoint.endpoints(paths, network) == []
    assert ops.veths() == []


def test_connect(paths: Paths, ops: FakeNetOps, web: Network) -> None:
    ep = endpoint.connect(paths, ops, web, CID, 7, aliases=["db"])
    assert (ep.network, ep.container_id, ep.ifname, ep.ip, ep.prefixlen, ep.gateway) == (
        "web", CID, "eth0", "10.89.0.2", 24, "10.89.0.1")
    assert ep.mac == "02:42:0a:59:00:02" and ep.aliases == ["db"]
    assert ep.host_veth.startswith("veth") and len(ep.host_veth) == 12
    assert ops.calls[1:] == [  # [0]: the store asked for the host's routes
        ("ensure_bridge", (web.bridge, "10.89.0.1/24")),
        ("add_container_veth", (ep.host_veth, 7, "eth0", web.bridge, "10.89.0.2/24",
                                "10.89.0.1", ep.mac)),
    ]
    assert ipam.leases(paths, "web") == {CID: "10.89.0.2"}
    path = files.endpoint_file(paths, "web", CID)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert [e.to_json() for e in endpoint.endpoints(paths, "web")] == [ep.to_json()]
    assert endpoint.container_networks(paths, CID) == ["web"]


def test_second_network_without_default_route(paths: Paths, ops: FakeNetOps, web: Network
                                              ) -> None:
    db = NetworkStore(paths, ops).create("db")
    endpoint.connect(paths, ops, web, CID, 7)
    ep = endpoint.connect(paths, ops, db, CID, 7, ifname="eth1", default_route=False)
    assert ep.gateway == "10.89.1.1"
    assert ops.links[ep.host_veth]["gateway"] is None
    assert ops.links[ep.host_veth]["peer"] == "eth1"
    assert endpoint.container_networks(paths, CID) == ["db", "web"]


def test_internal_network_has_no_gateway(paths: Paths, ops: FakeNetOps) -> None:
    net = NetworkStore(paths, ops).create("quiet", internal=True)
    ep = endpoint.connect(paths, ops, net, CID, 7)
    assert ep.gateway == ""
    assert ops.links[ep.host_veth]["gateway"] is None


def test_requested_ip(paths: Paths, ops: FakeNetOps, web: Network) -> None:
    assert endpoint.connect(paths, ops, web, CID, 7, requested_ip="10.89.0.99").ip == \
        "10.89.0.99"
    with pytest.raises(ConflictError):
        endpoint.connect(paths, ops, web, "other", 8, requested_ip="10.89.0.99")
    assert ops.veths() == [endpoint.endpoints(paths, "web")[0].host_veth]


def test_connect_twice_is_a_conflict(paths: Paths, ops: FakeNetOps, web: Network) -> None:
    endpoint.connect(paths, ops, web, CID, 7)
    with pytest.raises(ConflictError):
        endpoint.connect(paths, ops, web, CID, 7, ifname="eth1")
    assert len(ops.veths()) == 1


@pytest.mark.parametrize("failing", ["ensure_bridge", "add_container_veth"])
def test_failure_rolls_back(paths: Paths, web: Network, failing: str) -> None:
    ops = FakeNetOps(fail={failing})
    with pytest.raises(RuntimeFailure, match="injected"):
        endpoint.connect(paths, ops, web, CID, 7)
    assert_nothing_left(paths, ops)
    assert not os.listdir(files.endpoints_dir(paths, "web"))


def test_synthetic_and_bad_arguments(paths: Paths, ops: FakeNetOps, web: Network) -> None:
    store = NetworkStore(paths, ops)
    with pytest.raises(UsageError, match="takes no endpoints"):
        endpoint.connect(paths, ops, store.get("host"), CID, 7)
    with pytest.raises(UsageError):
        endpoint.connect(paths, ops, web, "../x", 7)
    with pytest.raises(UsageError):
        endpoint.connect(paths, ops, web, CID, 7, ifname="eth0/x")
    assert_nothing_left(paths, ops)


def test_disconnect(paths: Paths, ops: FakeNetOps, web: Network) -> None:
    ep = endpoint.connect(paths, ops, web, CID, 7)
    gone = endpoint.disconnect(paths, ops, "web", CID)
    assert gone is not None and gone.host_veth == ep.host_veth
    assert_nothing_left(paths, ops)
    assert endpoint.disconnect(paths, ops, "web", CID) is None
    assert endpoint.disconnect(paths, ops, "never-was", CID) is None
    assert endpoint.container_networks(paths, CID) == []


def test_disconnect_after_the_veth_went_with_its_namespace(paths: Paths, ops: FakeNetOps,
                                                           web: Network) -> None:
    ep = endpoint.connect(paths, ops, web, CID, 7)
    del ops.links[ep.host_veth]  # the container's netns ended: the kernel took the pair
    assert endpoint.disconnect(paths, ops, "web", CID) is not None
    assert_nothing_left(paths, ops)


def test_corrupt_record_is_cleaned_then_reported(paths: Paths, ops: FakeNetOps,
                                                 web: Network) -> None:
    endpoint.connect(paths, ops, web, CID, 7)
    path = files.endpoint_file(paths, "web", CID)
    Path(path).write_text("{")
    with pytest.raises(StateError, match=path):
        endpoint.disconnect(paths, ops, "web", CID)
    assert ipam.leases(paths, "web") == {} and not os.path.exists(path)
    assert endpoint.disconnect(paths, ops, "web", CID) is None


def test_prune_stale(paths: Paths, ops: FakeNetOps, web: Network) -> None:
    endpoint.connect(paths, ops, web, "live", 7)
    dead = endpoint.connect(paths, ops, web, "dead", 8)
    ipam.allocate(paths, web, "leaseonly")  # a CLI killed before it wrote the record
    assert endpoint.prune_stale(paths, ops, {"live"}) == {"web": ["dead", "leaseonly"]}
    assert dead.host_veth not in ops.links
    assert list(ipam.leases(paths, "web")) == ["live"]
    assert [e.container_id for e in endpoint.endpoints(paths, "web")] == ["live"]


KILLED = """
import sys
from launcher.network import endpoint
from launcher.network.store import NetworkStore
from launcher.paths import Paths
sys.path.insert(0, sys.argv[3])
from tests.unit.network.fakeops import FakeNetOps
paths = Paths(sys.argv[1], sys.argv[2])
ops = FakeNetOps()
endpoint.connect(paths, ops, NetworkStore(paths, ops).get("web"), "victim", 7)
"""


@pytest.mark.parametrize("fault", ["connect.lease", "connect.record", "connect.veth"])
def test_killed_connect_is_cleaned_by_disconnect(paths: Paths, ops: FakeNetOps, web: Network,
                                                 fault: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "LAUNCHER_FAULT": fault}
    proc = subprocess.run([sys.executable, "-c", KILLED, paths.storage, paths.state, str(REPO)],
                          env=env, capture_output=True)
    assert proc.returncode == -9, proc.stderr
    assert "victim" in ipam.leases(paths, "web")
    assert endpoint.container_networks(paths, "victim") == ["web"]
    endpoint.disconnect(paths, ops, "web", "victim")
    assert_nothing_left(paths, ops)
    left = os.listdir(files.endpoints_dir(paths, "web")) if fault != "connect.lease" else []
    assert left == []
