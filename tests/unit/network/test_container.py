"""prepare/setup/teardown through the seams: interfaces in FakeNetOps, rules in a
stateful fake nft, /etc files in a temporary bundle. The "container" is this test
process (its own network namespace fd, its own pid and start time)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from launcher.backend.linux.procinfo import start_time
from launcher.errors import ConflictError, NotFoundError, RuntimeFailure
from launcher.network import bundle as nb
from launcher.network import container, endpoint, ipam
from launcher.network import prepare as prepare_mod
from launcher.network.ports import parse_publish
from launcher.network.runconfig import NetConfig, NetRequest
from launcher.network.store import NetworkStore
from launcher.paths import Paths
from tests.unit.network.fakenft import FakeNft
from tests.unit.network.fakeops import FakeNetOps

PID = os.getpid()
START = start_time(PID)


@pytest.fixture(autouse=True)
def no_sysctl(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr("launcher.network.firewall.set_route_localnet",
                        lambda bridge, *a, **k: calls.append(bridge))
    return calls


class World:
    def __init__(self, root: Path) -> None:
        self.paths = Paths(str(root / "storage"), str(root / "state"), str(root / "config"))
        self.ops = FakeNetOps()
        self.nft = FakeNft()
        self.store = NetworkStore(self.paths, self.ops)

    def config(self, network: str = "bridge", ports: tuple[str, ...] = (), name: str = "",
               aliases: tuple[str, ...] = ()) -> NetConfig:
        cfg = NetConfig(network)
        if cfg.kind == "bridge":
            cfg.networks = [NetRequest(network, list(aliases))]
        cfg.ports = [m for p in ports for m in parse_publish(p)]
        cfg.name = name
        return cfg

    def bundle(self, cid: str) -> str:
        path = nb.bundle_dir(self.paths, cid)
        os.makedirs(path, 0o700, exist_ok=True)
        return path

    def prepare(self, cid: str, cfg: NetConfig, mine: set[str] | None = None
                ) -> prepare_mod.Prepared:
        return prepare_mod.prepare(self.paths, cfg, cid, self.bundle(cid), mine or set(),
                                 ops=self.ops)

    def start(self, cid: str, cfg: NetConfig) -> nb.Active | None:
        self.prepare(cid, cfg)
        return container.setup(self.paths, cid, PID, START, cfg, ops=self.ops, fw=self.fw())

    def fw(self) -> object:
        from launcher.network.firewall import Firewall

        return Firewall(self.nft)

    def stop(self, cid: str) -> None:
        container.teardown(self.paths, cid, ops=self.ops, fw=self.fw())  # type: ignore[arg-type]

    def hosts(self, cid: str) -> str:
        return Path(nb.bundle_dir(self.paths, cid), "hosts").read_text()

    def assert_clean(self) -> None:
        assert self.ops.veths() == []
        for net in self.store.list():
            if net.driver == "bridge":
                assert ipam.leases(self.paths, net.name) == {}
                assert endpoint.endpoints(self.paths, net.name) == []
        assert self.nft.comments("container=") == []


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_prepare_writes_the_etc_files_and_mounts_them(world: World) -> None:
    prep = world.prepare("c1" * 32, world.config(name="web"))
    bundle = nb.bundle_dir(world.paths, "c1" * 32)
    assert [(m.destination, m.source) for m in prep.mounts] == [
        ("/etc/hosts", f"{bundle}/hosts"), ("/etc/resolv.conf", f"{bundle}/resolv.conf"),
        ("/etc/hostname", f"{bundle}/hostname")]
    assert (prep.hostname, prep.netns_path) == (None, None)
    assert Path(bundle, "hostname").read_text() == "c1c1c1c1c1c1\n"
    assert "127.0.0.1\tlocalhost" in world.hosts("c1" * 32)
    assert "# Based on host file" in Path(bundle, "resolv.conf").read_text()
    for name in ("hosts", "resolv.conf", "hostname"):
        assert os.stat(os.path.join(bundle, name)).st_mode & 0o777 == 0o644
    assert nb.load_state(bundle) is not None


def test_prepare_skips_what_the_user_mounts(world: World) -> None:
    prep = world.prepare("c2", world.config(), {"/etc/resolv.conf"})
    assert [m.destination for m in prep.mounts] == ["/etc/hosts", "/etc/hostname"]


def test_prepare_host_mode(world: World) -> None:
    cfg = world.config("host")
    cfg.extra_hosts = [("extra", "10.1.2.3")]
    prep = world.prepare("c3", cfg)
    assert prep.hostname == os.uname().nodename
    assert [m.destination for m in prep.mounts] == ["/etc/hosts", "/etc/resolv.conf"]
    assert world.hosts("c3").endswith("10.1.2.3\textra\n")
    assert container.setup(world.paths, "c3", PID, START, ops=world.ops) is None


def test_prepare_refuses_a_missing_network(world: World) -> None:
    with pytest.raises(NotFoundError, match="network nope not found"):
        world.prepare("c4", world.config("nope"))


def test_setup_and_teardown_leave_nothing(world: World, no_sysctl: list[str]) -> None:
    cid = "a" * 64
    act = world.start(cid, world.config(ports=("127.0.0.1::80", "8080:81/udp"), name="web"))
    assert act is not None
    [ep] = act.endpoints
    assert (ep.ifname, ep.ip, act.ip) == ("eth0", "10.88.0.2", "10.88.0.2")
    assert [m.spec() for m in act.ports][1] == "8080:81/udp"
    assert act.ports[0].host_port > 0
    assert world.ops.veths() == [ep.host_veth]
    assert world.ops.forwarding == "1"
    assert no_sysctl == ["launcher0"]
    # loopback: an output rule only (nothing arriving from elsewhere is DNATed)
    assert world.nft.comments() == ["container=" + cid] * 3 + ["launcher=base"] * 4 + [
        "network=bridge"] * 4
    assert "10.88.0.2\taaaaaaaaaaaa web\n" in world.hosts(cid)
    state = nb.load_state(nb.bundle_dir(world.paths, cid))
    assert state is not None and state.active is not None
    world.stop(cid)
    world.assert_clean()
    state = nb.load_state(nb.bundle_dir(world.paths, cid))
    assert state is not None and state.active is None
    world.stop(cid)  # again: nothing to do, no error


def test_a_failed_setup_undoes_itself(world: World) -> None:
    world.ops.fail = {"add_container_veth"}
    with pytest.raises(RuntimeFailure, match="injected"):
        world.start("b" * 64, world.config(ports=("127.0.0.1::80",)))
    world.assert_clean()


def test_a_taken_host_port_is_refused_and_leaves_nothing(world: World) -> None:
    first = world.start("c" * 64, world.config(ports=("127.0.0.1::80",)))
    assert first is not None
    port = first.ports[0].host_port
    with pytest.raises(ConflictError, match=f"127.0.0.1:{port} failed: port is already"):
        world.start("d" * 64, world.config(ports=(f"127.0.0.1:{port}:80",)))
    assert ipam.leases(world.paths, "bridge") == {"c" * 64: "10.88.0.2"}
    assert world.nft.comments("container=") == ["container=" + "c" * 64]
    world.stop("c" * 64)
    world.assert_clean()


def test_a_flushed_table_is_rebuilt_with_the_live_ports(world: World) -> None:
    world.start("e" * 64, world.config(ports=("127.0.0.1::80",)))
    world.nft.flush()  # nft flush ruleset
    world.start("f" * 64, world.config())
    assert world.nft.comments("container=") == ["container=" + "e" * 64]
    assert world.nft.comments("network=") == ["network=bridge"] * 4
    for cid in ("e" * 64, "f" * 64):
        world.stop(cid)
    world.assert_clean()


def test_peers_on_a_user_network_know_each_other(world: World) -> None:
    world.store.create("web")
    db, app = "1" * 64, "2" * 64
    world.start(db, world.config("web", name="db", aliases=("database",)))
    world.start(app, world.config("web", name="app"))
    assert "10.89.0.3\tapp 222222222222\n" in world.hosts(db)
    assert "10.89.0.2\tdb database 111111111111\n" in world.hosts(app)
    world.stop(app)
    assert "app" not in world.hosts(db)
    world.stop(db)
    world.assert_clean()


def test_the_default_bridge_has_no_peer_names(world: World) -> None:
    one, two = "3" * 64, "4" * 64
    world.start(one, world.config(name="one"))
    world.start(two, world.config(name="two"))
    assert "two" not in world.hosts(one) and "one" not in world.hosts(two)
    for cid in (one, two):
        world.stop(cid)
    world.assert_clean()


def test_teardown_after_a_crash_between_steps(world: World) -> None:
    """A run killed after its endpoint was made: network.json and the records say
    what to undo."""
    cid = "5" * 64
    world.start(cid, world.config(ports=("127.0.0.1::80",)))
    bundle = nb.bundle_dir(world.paths, cid)
    os.unlink(os.path.join(bundle, nb.NETWORK_FILE))  # as if killed before it was written
    world.stop(cid)
    assert world.ops.veths() == [] and ipam.leases(world.paths, "bridge") == {}
    Path(bundle, nb.NETWORK_FILE).write_text("{corrupt")
    world.stop(cid)  # a corrupt file: unpublish by tag, disconnect by record
    world.assert_clean()
