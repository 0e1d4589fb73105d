from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from launcher import fastjson
from launcher.errors import ConflictError, NotFoundError, StateError, UsageError
from launcher.network import files, ipam
from launcher.network.model import Network
from launcher.paths import Paths

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(str(tmp_path / "storage"), str(tmp_path / "state"))


def stored(paths: Paths, name: str = "web", subnet: str = "10.89.0.0/24",
           gateway: str = "10.89.0.1") -> Network:
    net = Network(name, os.urandom(32).hex(), subnet, gateway, "lnch-test",
                  created="2024-01-01T00:00:00Z")
    files.make_private_dirs(files.networks_dir(paths))
    files.write_json(files.network_file(paths, name), net.to_json())
    return net


def test_sequential_and_round_robin(paths: Paths) -> None:
    net = stored(paths)
    assert ipam.allocate(paths, net, "c1") == "10.89.0.2"
    assert ipam.allocate(paths, net, "c2") == "10.89.0.3"
    assert ipam.release(paths, "web", "c1") == "10.89.0.2"
    # A freed address is not handed out again at once (peers may still cache it).
    assert ipam.allocate(paths, net, "c3") == "10.89.0.4"
    assert ipam.leases(paths, "web") == {"c2": "10.89.0.3", "c3": "10.89.0.4"}


def test_skips_gateway_network_and_broadcast_and_wraps(paths: Paths) -> None:
    net = stored(paths, subnet="10.0.0.0/29", gateway="10.0.0.3")
    got = [ipam.allocate(paths, net, f"c{i}") for i in range(5)]
    assert got == ["10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
    with pytest.raises(ConflictError, match="no free address"):
        ipam.allocate(paths, net, "c9")
    ipam.release(paths, "web", "c1")
    assert ipam.allocate(paths, net, "c9") == "10.0.0.2"


def test_requested_address(paths: Paths) -> None:
    net = stored(paths)
    assert ipam.allocate(paths, net, "c1", "10.89.0.50") == "10.89.0.50"
    with pytest.raises(ConflictError, match="already in use"):
        ipam.allocate(paths, net, "c2", "10.89.0.50")
    for bad in ("10.89.1.5", "10.89.0.0", "10.89.0.255", "10.89.0.1", "nonsense", "::1"):
        with pytest.raises(UsageError):
            ipam.allocate(paths, net, "c2", bad)
    # --ip leaves the round-robin cursor where it was.
    assert ipam.allocate(paths, net, "c2") == "10.89.0.2"


def test_one_lease_per_container(paths: Paths) -> None:
    net = stored(paths)
    ipam.allocate(paths, net, "c1")
    with pytest.raises(ConflictError, match="already exists in network web"):
        ipam.allocate(paths, net, "c1")


def test_bad_container_id(paths: Paths) -> None:
    with pytest.raises(UsageError):
        ipam.allocate(paths, stored(paths), "../x")


def test_removed_or_recreated_network(paths: Paths) -> None:
    net = stored(paths)
    os.unlink(files.network_file(paths, "web"))
    with pytest.raises(NotFoundError, match="web"):
        ipam.allocate(paths, net, "c1")
    assert not os.path.exists(files.state_dir(paths, "web"))
    stored(paths)  # same name, new id
    with pytest.raises(NotFoundError):
        ipam.allocate(paths, net, "c1")


def test_release_is_idempotent(paths: Paths) -> None:
    assert ipam.release(paths, "nothing", "c1") is None
    net = stored(paths)
    ipam.allocate(paths, net, "c1")
    assert ipam.release(paths, "web", "c1") == "10.89.0.2"
    assert ipam.release(paths, "web", "c1") is None
    assert ipam.leases(paths, "web") == {}


def test_prune_stale(paths: Paths) -> None:
    web, db = stored(paths), stored(paths, "db", "10.89.1.0/24", "10.89.1.1")
    for cid in ("a", "b"):
        ipam.allocate(paths, web, cid)
        ipam.allocate(paths, db, cid)
    assert ipam.prune_stale(paths, {"a"}) == {"db": ["b"], "web": ["b"]}
    assert ipam.leases(paths, "web") == {"a": "10.89.0.2"}
    assert ipam.prune_stale(paths, {"a"}) == {}


def test_lease_file_is_private(paths: Paths) -> None:
    ipam.allocate(paths, stored(paths), "c1")
    assert os.stat(files.leases_file(paths, "web")).st_mode & 0o777 == 0o600
    assert os.stat(files.state_dir(paths, "web")).st_mode & 0o777 == 0o700


@pytest.mark.parametrize("content", [b"{", b"[]", b'{"leases": {"c1": 5}}',
                                     b'{"leases": {"c1": "10.0.0.300"}}',
                                     b'{"leases": {"../x": "10.0.0.3"}}'])
def test_corrupt_lease_file_names_it(paths: Paths, content: bytes) -> None:
    net = stored(paths)
    files.make_private_dirs(files.state_dir(paths, "web"))
    Path(files.leases_file(paths, "web")).write_bytes(content)
    with pytest.raises(StateError, match=r"leases\.json"):
        ipam.allocate(paths, net, "c2")


def test_mac_for() -> None:
    assert ipam.mac_for("10.88.0.2") == "02:42:0a:58:00:02"


ALLOCATOR = """
import fcntl, sys
from launcher.network import ipam, files
from launcher.network.model import Network
from launcher.paths import Paths
paths = Paths(sys.argv[1], sys.argv[2])
net = Network.from_json(files.read_json(files.network_file(paths, "web"), "n"), "n")
with open(sys.argv[4]) as gate:
    fcntl.flock(gate, fcntl.LOCK_SH)  # blocks until the test opens the gate
print(ipam.allocate(paths, net, sys.argv[3]))
"""


def test_parallel_processes_get_distinct_addresses(paths: Paths, tmp_path: Path) -> None:
    stored(paths, subnet="10.89.0.0/24")
    gate = tmp_path / "gate"
    gate.write_text("")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(gate) as g:
        fcntl.flock(g, fcntl.LOCK_EX)
        procs = [subprocess.Popen([sys.executable, "-c", ALLOCATOR, paths.storage, paths.state,
                                   f"c{i}", str(gate)], stdout=subprocess.PIPE, env=env)
                 for i in range(100)]
    outs = [p.communicate()[0].decode().strip() for p in procs]
    assert [p.returncode for p in procs] == [0] * 100
    assert len(set(outs)) == 100
    leases = ipam.leases(paths, "web")
    assert sorted(leases) == sorted(f"c{i}" for i in range(100))
    assert sorted(leases.values()) == sorted(outs)
    assert "10.89.0.1" not in outs
    doc = fastjson.loads(Path(files.leases_file(paths, "web")).read_bytes())
    assert set(doc) == {"last", "leases"}
