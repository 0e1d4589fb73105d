"""connect/disconnect with the real netlink seam, each test inside a network
namespace of its own (netns_run.in_netns): store + IPAM + bridge + veth,
rollback, parallel connects, a CLI killed mid-connect, and leak checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.errors import RuntimeFailure
from launcher.network import endpoint, files, ipam
from launcher.network.link import RealNetOps
from launcher.network.store import NetworkStore
from launcher.paths import Paths
from tests.integration.network.netns_run import (
    LOADER,
    REPO,
    addresses,
    default_routes,
    here,
    in_netns,
    inside,
    link_names,
    new_netns,
)
from tests.integration.network.test_link_root import busybox_ping, udp_round_trip

pytestmark = pytest.mark.root


def setup(root: str) -> tuple[Paths, RealNetOps, NetworkStore]:
    paths = Paths(os.path.join(root, "storage"), os.path.join(root, "state"))
    ops = RealNetOps()
    return paths, ops, NetworkStore(paths, ops)


def assert_no_leaks(paths: Paths, ops: RealNetOps, store: NetworkStore) -> None:
    """Remove every user network as ``network rm`` would; then only lo is left."""
    for net in store.list():
        if net.driver == "bridge":
            assert ipam.leases(paths, net.name) == {}
            assert endpoint.endpoints(paths, net.name) == []
            if net.name != "bridge":
                store.remove(net.name)
            ops.delete_bridge(net.bridge)
    assert link_names(here()) == ["lo"]


def body_connect_and_disconnect(root: str) -> None:
    paths, ops, store = setup(root)
    web = store.create("web")
    cfd = new_netns()
    ep = endpoint.connect(paths, ops, web, "c1", cfd, aliases=["db"])
    assert (ep.ip, ep.gateway, ep.mac) == ("10.89.0.2", "10.89.0.1", "02:42:0a:59:00:02")
    ipr, cipr = here(), inside(cfd)
    assert link_names(ipr) == sorted([web.bridge, ep.host_veth, "lo"])
    assert addresses(ipr, web.bridge) == ["10.89.0.1/24"]
    port = ipr.link("get", ifname=ep.host_veth)[0]
    assert port.get("master") == ipr.link("get", ifname=web.bridge)[0]["index"]
    assert port.get(("linkinfo", "slave_data", "mode")) == 1  # hairpin
    assert link_names(cipr) == ["eth0", "lo"]
    assert cipr.link("get", ifname="eth0")[0].get("address") == ep.mac
    assert addresses(cipr, "eth0") == ["10.89.0.2/24"]
    assert default_routes(cipr) == ["10.89.0.1"]
    udp_round_trip(cfd, "10.89.0.1", "10.89.0.2")
    busybox_ping(cfd, "10.89.0.1")
    gone = endpoint.disconnect(paths, ops, "web", "c1")
    assert gone is not None and gone.host_veth == ep.host_veth
    assert link_names(cipr) == ["lo"]
    assert endpoint.disconnect(paths, ops, "web", "c1") is None
    assert_no_leaks(paths, ops, store)


def test_connect_and_disconnect(tmp_path: Path) -> None:
    in_netns(body_connect_and_disconnect, str(tmp_path))


def body_two_networks_and_the_default(root: str) -> None:
    paths, ops, store = setup(root)
    default, db = store.ensure_default(), store.create("db", internal=True)
    cfd = new_netns()
    a = endpoint.connect(paths, ops, default, "c1", cfd)
    b = endpoint.connect(paths, ops, db, "c1", cfd, ifname="eth1", default_route=False)
    assert (default.bridge, default.subnet) == ("launcher0", "10.88.0.0/16")
    cipr = inside(cfd)
    assert link_names(cipr) == ["eth0", "eth1", "lo"]
    assert addresses(cipr, "eth0") == ["10.88.0.2/16"]
    assert addresses(cipr, "eth1") == ["10.89.0.2/24"]
    assert default_routes(cipr) == ["10.88.0.1"]
    assert b.gateway == "" and a.gateway == "10.88.0.1"
    udp_round_trip(cfd, "10.89.0.1", "10.89.0.2")
    assert endpoint.container_networks(paths, "c1") == ["bridge", "db"]
    for name in endpoint.container_networks(paths, "c1"):
        endpoint.disconnect(paths, ops, name, "c1")
    assert link_names(cipr) == ["lo"]
    assert_no_leaks(paths, ops, store)


def test_two_networks_and_the_default(tmp_path: Path) -> None:
    in_netns(body_two_networks_and_the_default, str(tmp_path))


def body_failed_connect_rolls_back(root: str) -> None:
    paths, ops, store = setup(root)
    web = store.create("web")
    cfd = new_netns()
    cipr = inside(cfd)
    cipr.link("add", ifname="eth0", kind="veth", peer="eth0p")  # the name is taken there
    with pytest.raises(RuntimeFailure, match="eth0"):
        endpoint.connect(paths, ops, web, "c1", cfd)
    assert ipam.leases(paths, "web") == {}
    assert os.listdir(files.endpoints_dir(paths, "web")) == []
    assert link_names(here()) == [web.bridge, "lo"]  # the network's bridge stays
    assert link_names(cipr) == ["eth0", "eth0p", "lo"]
    assert_no_leaks(paths, ops, store)


def test_failed_connect_rolls_back(tmp_path: Path) -> None:
    in_netns(body_failed_connect_rolls_back, str(tmp_path))


def child_connect(root: str, cid: str) -> None:
    """One "run": its own container namespace, connect, report, wait, disconnect."""
    paths, ops, store = setup(root)
    cfd = new_netns()
    ep = endpoint.connect(paths, ops, store.get("web"), cid, cfd)
    print(ep.ip, flush=True)
    sys.stdin.read()  # until the parent has seen every address
    endpoint.disconnect(paths, ops, "web", cid)


def body_parallel_connects(root: str) -> None:
    paths, ops, store = setup(root)
    web = store.create("web")
    env = {**os.environ, "PYTHONPATH": REPO}
    procs = [subprocess.Popen([sys.executable, "-c", LOADER, __file__, "child_connect", root,
                               f"c{i}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, text=True) for i in range(20)]
    ips = []
    for proc in procs:
        assert proc.stdout is not None
        ips.append(proc.stdout.readline().strip())
    assert "" not in ips, [p.communicate()[1] for p in procs if p.poll() is not None]
    assert len(set(ips)) == 20
    assert sorted(ipam.leases(paths, "web").values()) == sorted(ips)
    ipr = here()
    bridge = ipr.link("get", ifname=web.bridge)[0]["index"]
    ports = [m for m in ipr.get_links() if m.get("master") == bridge]
    assert len(ports) == 20
    errors = [p.communicate("")[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 20, errors
    assert_no_leaks(paths, ops, store)


def test_parallel_connects(tmp_path: Path) -> None:
    in_netns(body_parallel_connects, str(tmp_path))


def child_killed(root: str, fd: str) -> None:
    paths, ops, store = setup(root)
    endpoint.connect(paths, ops, store.get("web"), "victim", int(fd))


def body_killed_connect(root: str, fault: str) -> None:
    paths, ops, store = setup(root)
    store.create("web")
    cfd = new_netns()  # outlives the killed CLI, as a created container's does
    os.set_inheritable(cfd, True)
    env = {**os.environ, "PYTHONPATH": REPO, "LAUNCHER_FAULT": fault}
    proc = subprocess.run([sys.executable, "-c", LOADER, __file__, "child_killed", root,
                           str(cfd)], env=env, pass_fds=[cfd], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    veths = [n for n in link_names(here()) if n.startswith("veth")]
    assert len(veths) == (1 if fault == "connect.veth" else 0)
    assert endpoint.container_networks(paths, "victim") == ["web"]
    endpoint.disconnect(paths, ops, "web", "victim")
    assert link_names(inside(cfd)) == ["lo"]
    assert_no_leaks(paths, ops, store)


@pytest.mark.parametrize("fault", ["connect.lease", "connect.record", "connect.veth"])
def test_killed_connect_is_cleaned_up(tmp_path: Path, fault: str) -> None:
    in_netns(body_killed_connect, str(tmp_path), fault)


def body_prune(root: str) -> None:
    paths, ops, store = setup(root)
    web = store.create("web")
    live, dead = new_netns(), new_netns()
    endpoint.connect(paths, ops, web, "live", live)
    gone = endpoint.connect(paths, ops, web, "dead", dead)
    assert endpoint.prune_stale(paths, ops, {"live"}) == {"web": ["dead"]}
    assert gone.host_veth not in link_names(here())
    assert link_names(inside(dead)) == ["lo"]
    assert list(ipam.leases(paths, "web")) == ["live"]
    endpoint.disconnect(paths, ops, "web", "live")
    assert_no_leaks(paths, ops, store)


def test_prune_stale(tmp_path: Path) -> None:
    in_netns(body_prune, str(tmp_path))
