"""RealNetOps on a real kernel, each test inside a network namespace of its own
(netns_run.in_netns): bridges, veth pairs into a second namespace standing in
for a container's, addresses, routes, sysctls, and undo after failures."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest

from launcher.errors import RuntimeFailure
from launcher.network.link import RealNetOps
from tests.integration.network.netns_run import (
    LOADER,
    REPO,
    addresses,
    default_routes,
    entered,
    here,
    in_netns,
    inside,
    link_names,
    new_netns,
    read_in,
)

pytestmark = pytest.mark.root

BRIDGE, GW_CIDR, GW = "lnch-t1", "10.99.0.1/24", "10.99.0.1"
MAC = "02:42:0a:63:00:02"


def udp_round_trip(container_fd: int, server_ip: str, expect_peer: str) -> None:
    """A datagram from the container's namespace to ``server_ip`` here, and back."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.settimeout(10)  # a bound on a hang, not an assertion on time
        server.bind((server_ip, 0))
        with entered(container_fd):
            client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with client:
            client.settimeout(10)
            client.sendto(b"ping", server.getsockname())
            data, peer = server.recvfrom(16)
            assert (data, peer[0]) == (b"ping", expect_peer)
            server.sendto(b"pong", peer)
            assert client.recv(16) == b"pong"


def busybox_ping(container_fd: int, target: str) -> None:
    busybox = shutil.which("busybox")
    if busybox is None:
        return
    res = subprocess.run(["nsenter", f"--net=/proc/{os.getpid()}/fd/{container_fd}", busybox,
                          "ping", "-c", "1", "-W", "5", target], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def body_bridge_is_idempotent() -> None:
    ops, ipr = RealNetOps(), here()
    for _ in range(3):
        ops.ensure_bridge(BRIDGE, GW_CIDR)
    msg = ipr.link("get", ifname=BRIDGE)[0]
    assert msg.get(("linkinfo", "kind")) == "bridge"
    assert msg.get("address") == "02:42:0a:63:00:01"
    assert msg["flags"] & 1  # IFF_UP
    assert addresses(ipr, BRIDGE) == [GW_CIDR]
    assert ops.link_exists(BRIDGE)
    ops.delete_bridge(BRIDGE)
    ops.delete_bridge(BRIDGE)
    assert not ops.link_exists(BRIDGE)
    ipr.link("add", ifname="dum0", kind="veth", peer="dum0p")  # no dummy module everywhere
    with pytest.raises(RuntimeFailure, match="not a bridge"):
        ops.ensure_bridge("dum0", GW_CIDR)
    assert ops.delete_link("dum0") and not ops.delete_link("dum0p")
    assert link_names(ipr) == ["lo"]
    ops.close()


def test_bridge_is_idempotent() -> None:
    in_netns(body_bridge_is_idempotent)


def child_ensure_bridge() -> None:
    with RealNetOps() as ops:
        ops.ensure_bridge(BRIDGE, GW_CIDR)


def body_racing_bridges() -> None:
    env = {**os.environ, "PYTHONPATH": REPO}
    procs = [subprocess.Popen([sys.executable, "-c", LOADER, __file__, "child_ensure_bridge"],
                              env=env, stderr=subprocess.PIPE) for _ in range(10)]
    errors = [p.communicate()[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 10, errors
    ipr = here()
    assert link_names(ipr) == [BRIDGE, "lo"]
    assert addresses(ipr, BRIDGE) == [GW_CIDR]


def test_racing_ensure_bridge() -> None:
    in_netns(body_racing_bridges)


def body_veth_into_a_container() -> None:
    ops, ipr = RealNetOps(), here()
    ops.ensure_bridge(BRIDGE, GW_CIDR)
    cfd = new_netns()
    fds = sorted(os.listdir("/proc/self/fd"))
    ops.add_container_veth("vetht1", cfd, "eth0", BRIDGE, "10.99.0.2/24", GW, MAC)
    assert sorted(os.listdir("/proc/self/fd")) == fds  # the container's socket is closed
    host = ipr.link("get", ifname="vetht1")[0]
    assert host.get("master") == ipr.link("get", ifname=BRIDGE)[0]["index"]
    assert host.get(("linkinfo", "kind")) == "veth"
    assert host["flags"] & 1 and host.get(("linkinfo", "slave_data", "mode")) == 1  # hairpin
    cipr = inside(cfd)
    assert link_names(cipr) == ["eth0", "lo"]
    eth0 = cipr.link("get", ifname="eth0")[0]
    assert eth0.get("address") == MAC and eth0["flags"] & 1
    assert eth0.get(("linkinfo", "kind")) == "veth"
    assert [a.get("broadcast") for a in cipr.addr("dump", family=2, index=eth0["index"])] \
        == [None]  # as `ip addr add` (and pyroute2 before) made it
    assert cipr.link("get", ifname="lo")[0]["flags"] & 1
    assert addresses(cipr, "eth0") == ["10.99.0.2/24"]
    assert default_routes(cipr) == [GW]
    if os.path.exists("/proc/sys/net/ipv6"):
        assert read_in(cfd, "/proc/sys/net/ipv6/conf/eth0/accept_dad") == "0"
    udp_round_trip(cfd, GW, "10.99.0.2")
    busybox_ping(cfd, GW)
    assert ops.delete_link("vetht1")
    assert link_names(cipr) == ["lo"]  # the container's end went with it
    assert link_names(ipr) == [BRIDGE, "lo"]
    ops.delete_bridge(BRIDGE)
    assert link_names(ipr) == ["lo"]


def test_veth_into_a_container() -> None:
    in_netns(body_veth_into_a_container)


def body_internal_veth_has_no_route() -> None:
    ops = RealNetOps()
    ops.ensure_bridge(BRIDGE, GW_CIDR)
    cfd = new_netns()
    ops.add_container_veth("vetht1", cfd, "eth0", BRIDGE, "10.99.0.2/24", None, MAC)
    assert default_routes(inside(cfd)) == []
    udp_round_trip(cfd, GW, "10.99.0.2")  # the subnet itself is reachable


def test_veth_without_default_route() -> None:
    in_netns(body_internal_veth_has_no_route)


def body_failures_leave_nothing() -> None:
    ops, ipr = RealNetOps(), here()
    ops.ensure_bridge(BRIDGE, GW_CIDR)
    # The name is taken in the container: creating the pair fails.
    cfd = new_netns()
    cipr = inside(cfd)
    cipr.link("add", ifname="eth0", kind="veth", peer="eth0p")
    with pytest.raises(RuntimeFailure, match="create veth pair vetht1/eth0"):
        ops.add_container_veth("vetht1", cfd, "eth0", BRIDGE, "10.99.0.2/24", GW, MAC)
    assert link_names(ipr) == [BRIDGE, "lo"]
    assert link_names(cipr) == ["eth0", "eth0p", "lo"]
    # The container already has a default route: the pair exists when it fails.
    cfd2 = new_netns()
    cipr2 = inside(cfd2)
    cipr2.link("add", ifname="d0", kind="veth", peer="d0p")
    d0 = cipr2.link("get", ifname="d0")[0]["index"]
    cipr2.addr("add", index=d0, address="192.168.9.2", prefixlen=24)
    cipr2.link("set", index=d0, state="up")
    cipr2.route("add", dst="0.0.0.0/0", gateway="192.168.9.1")
    with pytest.raises(RuntimeFailure, match="configure eth0"):
        ops.add_container_veth("vetht2", cfd2, "eth0", BRIDGE, "10.99.0.3/24", GW, MAC)
    assert link_names(ipr) == [BRIDGE, "lo"]
    assert link_names(cipr2) == ["d0", "d0p", "lo"]
    # A bridge that is not there.
    with pytest.raises(RuntimeFailure, match="does not exist"):
        ops.add_container_veth("vetht3", cfd2, "eth1", "nobridge", "10.99.0.4/24", GW, MAC)
    assert link_names(ipr) == [BRIDGE, "lo"]


def test_failures_leave_nothing() -> None:
    in_netns(body_failures_leave_nothing)


def body_host_routes() -> None:
    ipr = here()
    ipr.link("set", index=ipr.link("get", ifname="lo")[0]["index"], state="up")
    ipr.link("add", ifname="dummy0", kind="veth", peer="dummy0p")
    idx = ipr.link("get", ifname="dummy0")[0]["index"]
    ipr.addr("add", index=idx, address="192.168.77.5", prefixlen=24)
    ipr.link("set", index=idx, state="up")
    ipr.route("add", dst="172.30.0.0/16", oif=idx)
    ipr.route("add", dst="0.0.0.0/0", gateway="192.168.77.1")
    ipr.route("add", dst="10.89.0.0/24", oif=idx, table=1000)
    routes = RealNetOps().host_routes()
    assert routes == ["10.89.0.0/24", "127.0.0.0/8", "172.30.0.0/16", "192.168.77.0/24"]


def test_host_routes() -> None:
    in_netns(body_host_routes)


def body_forwarding() -> None:
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:  # a new netns may inherit 1
        f.write("0")
    ops = RealNetOps()
    assert ops.enable_forwarding() == "0"
    assert ops.enable_forwarding() == "1"
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read().strip() == "1"


def test_enable_forwarding() -> None:
    in_netns(body_forwarding)


LIGHT_CHILD = """
import ctypes, os, sys
from launcher.network.link import RealNetOps
libc = ctypes.CDLL(None, use_errno=True)
home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
assert libc.unshare(0x40000000) == 0
cfd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
assert libc.setns(home, 0x40000000) == 0
with RealNetOps() as ops:
    ops.ensure_bridge("lnch-t1", "10.99.0.1/24")
    ops.add_container_veth("vetht1", cfd, "eth0", "lnch-t1", "10.99.0.2/24", "10.99.0.1",
                           "02:42:0a:63:00:02")
    assert "10.99.0.0/24" in ops.host_routes()
    assert ops.delete_link("vetht1")
    ops.delete_bridge("lnch-t1")
print(sorted({"pyroute2", "socket", "asyncio", "multiprocessing", "ssl"} & set(sys.modules)))
"""


def body_without_pyroute2() -> None:
    out = subprocess.run([sys.executable, "-c", LIGHT_CHILD], env={**os.environ,
                         "PYTHONPATH": REPO}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert link_names(here()) == ["lo"]


def test_a_whole_connect_loads_no_pyroute2() -> None:
    in_netns(body_without_pyroute2)
