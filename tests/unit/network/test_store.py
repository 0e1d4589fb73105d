from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from launcher import fastjson
from launcher.errors import (
    ConflictError,
    NotFoundError,
    StateError,
    UnsupportedError,
    UsageError,
)
from launcher.network import files, ipam
from launcher.network.store import NetworkStore
from launcher.paths import Paths
from tests.unit.network.fakeops import FakeNetOps

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(str(tmp_path / "storage"), str(tmp_path / "state"))


@pytest.fixture
def ops() -> FakeNetOps:
    return FakeNetOps()


@pytest.fixture
def store(paths: Paths, ops: FakeNetOps) -> NetworkStore:
    return NetworkStore(paths, ops)


def test_create_picks_pool_subnets_in_order(store: NetworkStore, paths: Paths) -> None:
    web = store.create("web", labels={"team": "a"})
    db = store.create("db", internal=True)
    assert (web.subnet, web.gateway, db.subnet, db.gateway) == (
        "10.89.0.0/24", "10.89.0.1", "10.89.1.0/24", "10.89.1.1")
    assert web.bridge == "lnch-" + web.id[:8] and len(web.bridge) <= 15
    assert len(web.id) == 64 and web.driver == "bridge" and web.created.endswith("Z")
    assert db.internal and not web.internal and web.labels == {"team": "a"}
    path = files.network_file(paths, "web")
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(files.networks_dir(paths)).st_mode & 0o777 == 0o700
    assert fastjson.loads(Path(path).read_bytes()) == web.to_json()
    assert not [n for n in os.listdir(files.networks_dir(paths)) if n.endswith(".tmp")]


def test_create_avoids_host_routes(paths: Paths) -> None:
    ops = FakeNetOps(routes=["10.89.0.0/23", "192.168.1.0/24"])
    assert NetworkStore(paths, ops).create("web").subnet == "10.89.2.0/24"
    everything = NetworkStore(paths, FakeNetOps(routes=["10.89.0.0/16"]))
    with pytest.raises(ConflictError, match="non-overlapping"):
        everything.create("db")


def test_explicit_subnet(store: NetworkStore, ops: FakeNetOps) -> None:
    ops.routes = ["172.30.0.0/16"]  # Docker lets a named subnet overlap host routes
    net = store.create("web", subnet="172.30.5.0/24", gateway="172.30.5.254")
    assert (net.subnet, net.gateway) == ("172.30.5.0/24", "172.30.5.254")
    assert store.create("db", subnet="172.30.6.0/24").gateway == "172.30.6.1"
    assert "host_routes" not in ops.names()
    with pytest.raises(ConflictError, match="overlaps with network web"):
        store.create("x", subnet="172.30.5.128/25")


@pytest.mark.parametrize(("subnet", "gateway", "error"), [
    ("10.1.2.3/24", None, UsageError), ("10.1.2.0/31", None, UsageError),
    ("10.1.2.0", None, UsageError), ("nonsense", None, UsageError),
    ("fd00::/64", None, UnsupportedError), ("10.1.2.0/24", "10.1.3.1", UsageError),
    ("10.1.2.0/24", "10.1.2.255", UsageError), ("10.1.2.0/24", "x", UsageError),
    (None, "10.1.2.1", UsageError),
])
def test_bad_subnets(store: NetworkStore, subnet: str | None, gateway: str | None,
                     error: type[Exception]) -> None:
    with pytest.raises(error):
        store.create("web", subnet=subnet, gateway=gateway)
    with pytest.raises(NotFoundError):
        store.get("web")


def test_names(store: NetworkStore) -> None:
    store.create("web")
    with pytest.raises(ConflictError, match="already exists"):
        store.create("web")
    for name in ("bridge", "host", "none"):
        with pytest.raises(ConflictError):
            store.create(name)
    for bad in ("", "../x", "a/b", "-web", "a b"):
        with pytest.raises(UsageError):
            store.create(bad)


def test_get_by_name_id_and_prefix(store: NetworkStore) -> None:
    nets = [store.create(f"n{i}") for i in range(17)]
    web = nets[0]
    assert store.get("n0").id == web.id
    assert store.get(web.id).name == "n0"
    assert store.get(web.id[:12]).name == "n0"
    # 17 ids, 16 hex digits: two share a first digit.
    firsts = [n.id[0] for n in nets]
    shared = next(c for c in firsts if firsts.count(c) > 1)
    with pytest.raises(ConflictError, match="ambiguous"):
        store.get(shared)
    with pytest.raises(NotFoundError, match="nope"):
        store.get("nope")
    assert store.get("host").driver == "host"
    assert store.get(store.get("none").id).name == "none"


def test_default_network(store: NetworkStore, ops: FakeNetOps) -> None:
    default = store.ensure_default()
    assert (default.name, default.bridge, default.subnet, default.gateway) == (
        "bridge", "launcher0", "10.88.0.0/16", "10.88.0.1")
    assert store.ensure_default().id == default.id
    assert store.get("bridge").id == default.id
    assert store.create("web").subnet == "10.89.0.0/24"


def test_default_network_moves_off_a_taken_subnet(paths: Paths) -> None:
    ops = FakeNetOps(routes=["10.88.0.0/16"])
    assert NetworkStore(paths, ops).ensure_default().subnet == "10.89.0.0/24"


def test_list_has_the_predefined_ones(store: NetworkStore) -> None:
    store.create("web")
    listed = [(n.name, n.driver) for n in store.list()]
    assert listed == [("bridge", "bridge"), ("host", "host"), ("none", "null"),
                      ("web", "bridge")]


def test_remove(store: NetworkStore, paths: Paths) -> None:
    web = store.create("web")
    ipam.allocate(paths, web, "c1")
    with pytest.raises(ConflictError, match="has active endpoints"):
        store.remove("web")
    ipam.release(paths, "web", "c1")
    assert store.remove(web.id[:10]).bridge == web.bridge
    assert not os.path.exists(files.network_file(paths, "web"))
    assert not os.path.exists(files.state_dir(paths, "web"))
    with pytest.raises(NotFoundError):
        store.remove("web")
    store.create("web")  # the name is free again


def test_predefined_cannot_be_removed(store: NetworkStore) -> None:
    for name in ("bridge", "host", "none"):
        with pytest.raises(ConflictError, match="pre-defined"):
            store.remove(name)
    assert store.get("bridge").name == "bridge"


def test_corrupt_file_is_named(store: NetworkStore, paths: Paths) -> None:
    store.create("web")
    doc = store.create("db").to_json()
    path = files.network_file(paths, "web")
    Path(path).write_text('{"name": "web"')
    for call in (lambda: store.get("web"), store.list, lambda: store.create("x")):
        with pytest.raises(StateError, match=re.escape(path)):
            call()
    Path(path).write_text(fastjson.dumps(doc))  # a file that names another network
    with pytest.raises(StateError, match="names network db"):
        store.get("web")


CREATOR = """
import sys
from launcher.errors import ConflictError
from launcher.network.store import NetworkStore
from launcher.paths import Paths
class Ops:
    def host_routes(self): return []
try:
    print(NetworkStore(Paths(sys.argv[1], sys.argv[2]), Ops()).create(sys.argv[3]).subnet)
except ConflictError:
    print("conflict")
"""


def run_creators(paths: Paths, names: list[str]) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", CREATOR, paths.storage, paths.state, n],
                              stdout=subprocess.PIPE, env=env) for n in names]
    outs = [p.communicate()[0].decode().strip() for p in procs]
    assert [p.returncode for p in procs] == [0] * len(names)
    return outs


def test_parallel_creates_of_one_name_one_wins(paths: Paths) -> None:
    outs = run_creators(paths, ["web"] * 20)
    assert outs.count("conflict") == 19
    assert outs.count("10.89.0.0/24") == 1


def test_parallel_creates_get_distinct_subnets(paths: Paths) -> None:
    outs = run_creators(paths, [f"n{i}" for i in range(20)])
    assert sorted(outs) == sorted(f"10.89.{i}.0/24" for i in range(20))
