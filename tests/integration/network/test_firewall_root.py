"""The firewall on a real kernel, entirely inside network namespaces made here.

Topology (all namespaces named ``lt-fw-<pid>-<role>``; the host's own ruleset and
interfaces are never touched — nft runs as ``ip netns exec <host ns> nft``)::

    A "attacker"/LAN host        H "host" (launcher's table lives here)
      eth0 10.232.0.2 ────────── up0 10.232.0.1
                                 br0 10.231.0.1/24 (net0, route_localnet=1)
    C  "container" 10.231.0.2 ──┤   serves :80 tcp+udp
    K  "rogue container" 10.231.0.3 ┘
                                 br1 10.231.1.1/24 (net1)
    C2 "other network" 10.231.1.2 ─ serves :80

A and K keep ``lo`` down and route 127.0.0.1 to H, so they really send packets
addressed to 127.0.0.1 over the link (what another host, or a container, can do).
Each check of "unreachable" has a control showing the same packets do get
through once the guard rules are removed, so a negative is never vacuous.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.network.firewall import BASE, Firewall, Snapshot
from launcher.network.nft import NftBinary
from launcher.network.ports import PortMapping, parse_publish

pytestmark = pytest.mark.root

NETPROBE = str(Path(__file__).with_name("netprobe.py"))
REPO = str(Path(__file__).parents[3])
PREFIX = f"lt-fw-{os.getpid()}-"
H, C, K, C2, A = (PREFIX + role for role in ("h", "c", "k", "c2", "a"))
HOST_IP = "10.232.0.1"
C_IP, K_IP, C2_IP, A_IP = "10.231.0.2", "10.231.0.3", "10.231.1.2", "10.232.0.2"
OK_TIMEOUT, FAIL_TIMEOUT = "5", "1"


def sh(*argv: str) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {res.stderr.strip()}")
    return res.stdout


def in_ns(ns: str, *argv: str) -> str:
    return sh("ip", "netns", "exec", ns, *argv)


def sysctl(ns: str, key: str, value: str) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    in_ns(ns, sys.executable, "-c", f"open({path!r}, 'w').write({value!r})")


def probe(ns: str, proto: str, host: str, port: int, expect_ok: bool = True) -> str:
    timeout = OK_TIMEOUT if expect_ok else FAIL_TIMEOUT
    return in_ns(ns, sys.executable, NETPROBE, "probe", proto, host, str(port), timeout).strip()


def _veth(ns: str, host_side: str, addr: str, gateway: str, master: str | None) -> None:
    sh("ip", "-n", H, "link", "add", host_side, "type", "veth", "peer", "name", "eth0",
       "netns", ns)
    if master:
        sh("ip", "-n", H, "link", "set", host_side, "master", master)
        # What link.py must do too: without hairpin mode the bridge never sends a
        # frame back out of the port it came in on, so a container can't reach
        # its own published port through the host address.
        sh("ip", "-n", H, "link", "set", host_side, "type", "bridge_slave", "hairpin", "on")
    sh("ip", "-n", H, "link", "set", host_side, "up")
    sh("ip", "-n", ns, "addr", "add", addr, "dev", "eth0")
    sh("ip", "-n", ns, "link", "set", "eth0", "up")
    sh("ip", "-n", ns, "route", "add", "default", "via", gateway)


def _build() -> None:
    for ns in (H, C, K, C2, A):
        sh("ip", "netns", "add", ns)
    for ns in (H, C, C2):
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    for bridge, addr in (("br0", "10.231.0.1/24"), ("br1", "10.231.1.1/24")):
        sh("ip", "-n", H, "link", "add", bridge, "type", "bridge")
        sh("ip", "-n", H, "addr", "add", addr, "dev", bridge)
        sh("ip", "-n", H, "link", "set", bridge, "up")
    _veth(C, "vc", C_IP + "/24", "10.231.0.1", "br0")
    _veth(K, "vk", K_IP + "/24", "10.231.0.1", "br0")
    _veth(C2, "vc2", C2_IP + "/24", "10.231.1.1", "br1")
    sh("ip", "-n", H, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", A)
    sh("ip", "-n", H, "addr", "add", HOST_IP + "/24", "dev", "up0")
    sh("ip", "-n", H, "link", "set", "up0", "up")
    sh("ip", "-n", A, "addr", "add", A_IP + "/24", "dev", "eth0")
    sh("ip", "-n", A, "link", "set", "eth0", "up")
    sh("ip", "-n", A, "route", "add", "10.231.0.0/16", "via", HOST_IP)
    sysctl(H, "net.ipv4.ip_forward", "1")
    # The product helper, run inside H (a sysctl belongs to the opener's netns).
    in_ns(H, sys.executable, "-c", "from launcher.network.firewall import set_route_localnet;"
          " set_route_localnet('br0')")
    # A and K: lo down (no local 127/8), 127.0.0.1 routed to H, and answers from
    # 127.0.0.1 accepted — a determined peer on the link can do all of this.
    for ns, gateway in ((A, HOST_IP), (K, "10.231.0.1")):
        sh("ip", "-n", ns, "route", "add", "127.0.0.1/32", "via", gateway)
        for key in ("net.ipv4.conf.eth0.route_localnet", "net.ipv4.conf.all.rp_filter",
                    "net.ipv4.conf.eth0.rp_filter"):
            sysctl(ns, key, "1" if "route_localnet" in key else "0")


def _serve(ns: str, addr: str, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, NETPROBE, "serve", addr,
                             str(port)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _host_has_launcher_table() -> bool:
    res = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False)
    return "inet launcher" in res.stdout


@pytest.fixture(scope="module")
def topology() -> Iterator[None]:
    host_table_before = _host_has_launcher_table()
    servers: list[subprocess.Popen[str]] = []
    try:
        _build()
        servers += [_serve(C, "0.0.0.0", 80), _serve(C2, "0.0.0.0", 80),
                    _serve(A, "0.0.0.0", 7000), _serve(H, "127.0.0.1", 9999)]
        yield
    finally:
        for proc in servers:
            proc.kill()
            proc.wait()
        for ns in (H, C, K, C2, A):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    assert not any(name.startswith(PREFIX) for name in sh("ip", "netns", "list").split())
    assert _host_has_launcher_table() == host_table_before


def nft(*args: str) -> str:
    return in_ns(H, "nft", *args)


@pytest.fixture
def fw(topology: None) -> Iterator[Firewall]:
    """A firewall acting in H, starting and ending without launcher's table."""
    subprocess.run(["ip", "netns", "exec", H, "nft", "delete", "table", "inet", "launcher"],
                   capture_output=True, check=False)
    yield Firewall(NftBinary(["ip", "netns", "exec", H, "nft"]))
    subprocess.run(["ip", "netns", "exec", H, "nft", "delete", "table", "inet", "launcher"],
                   capture_output=True, check=False)


def maps(*specs: str) -> list[PortMapping]:
    return [m for spec in specs for m in parse_publish(spec)]


def setup_net0(fw: Firewall, *specs: str) -> None:
    fw.ensure_base()
    fw.add_network("net0", "10.231.0.0/24", "br0", internal=False)
    fw.add_network("net1", "10.231.1.0/24", "br1", internal=False)
    fw.publish("c1", C_IP, maps(*specs))


def drop_guard(fw: Firewall) -> None:
    """Delete the guard rules (the controls' way to show what they protect against)."""
    snap = fw.snapshot()
    assert snap is not None
    handles = [(chain, h) for chain, h in snap.handles(BASE) if chain == "guard"]
    assert len(handles) == 2
    for chain, handle in handles:
        nft("delete", "rule", "inet", "launcher", chain, "handle", str(handle))


def test_base_is_idempotent(fw: Firewall) -> None:
    assert not fw.is_intact()
    fw.ensure_base()
    fw.ensure_base()
    assert fw.is_intact()
    listing = nft("list", "table", "inet", "launcher")
    assert listing.count('ip daddr 127.0.0.0/8 drop comment "launcher=base"') == 1
    assert listing.count("jump isolate") == 1


def test_published_ports_are_reachable_tcp_and_udp(fw: Firewall) -> None:
    setup_net0(fw, "8080:80", "8080:80/udp", "127.0.0.1:8081:80", f"{HOST_IP}:8082:80/udp")
    # From outside (prerouting): the source address is kept.
    assert probe(A, "tcp", HOST_IP, 8080) == f"tcp {A_IP}"
    assert probe(A, "udp", HOST_IP, 8080) == f"udp {A_IP}"
    assert probe(A, "udp", HOST_IP, 8082) == f"udp {A_IP}"
    # From the host itself (output), to a host address and to loopback.
    assert probe(H, "tcp", HOST_IP, 8080).startswith("tcp ")
    assert probe(H, "udp", HOST_IP, 8080).startswith("udp ")
    assert probe(H, "tcp", "127.0.0.1", 8080) == "tcp 10.231.0.1"  # masqueraded
    assert probe(H, "udp", "127.0.0.1", 8080) == "udp 10.231.0.1"
    assert probe(H, "tcp", "127.0.0.1", 8081) == "tcp 10.231.0.1"
    # A loopback-bound port is not published on the host's other addresses.
    assert probe(A, "tcp", HOST_IP, 8081, expect_ok=False).startswith("FAIL")
    assert probe(H, "tcp", HOST_IP, 8081, expect_ok=False).startswith("FAIL")


def test_loopback_published_port_is_not_reachable_from_the_link(fw: Firewall) -> None:
    setup_net0(fw, "8080:80", "127.0.0.1:8081:80")
    assert probe(H, "tcp", "127.0.0.1", 8081) == "tcp 10.231.0.1"
    assert probe(A, "tcp", "127.0.0.1", 8081, expect_ok=False).startswith("FAIL")
    assert probe(A, "tcp", "127.0.0.1", 8080, expect_ok=False).startswith("FAIL")
    # Control: without the guard, A's packets to 127.0.0.1 really are DNATed to the
    # container (the all-addresses rule matches 127.0.0.1 as a local address) ...
    drop_guard(fw)
    assert probe(A, "tcp", "127.0.0.1", 8080) == f"tcp {A_IP}"
    # ... while the loopback-bound port has no rule for arriving traffic at all.
    assert probe(A, "tcp", "127.0.0.1", 8081, expect_ok=False).startswith("FAIL")
    assert not fw.is_intact()
    fw.ensure_base()
    assert probe(A, "tcp", "127.0.0.1", 8080, expect_ok=False).startswith("FAIL")


def test_containers_cannot_reach_host_loopback_services(fw: Firewall) -> None:
    """br0 has route_localnet=1 (loopback publishing needs it): the guard keeps a
    container from using that to reach a host service bound to 127.0.0.1."""
    setup_net0(fw, "8080:80")
    assert probe(H, "tcp", "127.0.0.1", 9999) == "tcp 127.0.0.1"
    assert probe(K, "tcp", "127.0.0.1", 9999, expect_ok=False).startswith("FAIL")
    drop_guard(fw)  # control: this is the hole route_localnet opens (CVE-2020-8558)
    assert probe(K, "tcp", "127.0.0.1", 9999) == f"tcp {K_IP}"
    fw.ensure_base()
    assert probe(K, "tcp", "127.0.0.1", 9999, expect_ok=False).startswith("FAIL")


def test_hairpin_and_same_network_are_masqueraded(fw: Firewall) -> None:
    setup_net0(fw, "8080:80", "8080:80/udp")
    assert probe(C, "tcp", HOST_IP, 8080) == "tcp 10.231.0.1"
    assert probe(C, "udp", HOST_IP, 8080) == "udp 10.231.0.1"
    assert probe(K, "tcp", HOST_IP, 8080) == "tcp 10.231.0.1"


def test_networks_are_isolated_and_internal_ones_closed(fw: Firewall) -> None:
    setup_net0(fw, "8080:80")
    assert probe(C2, "tcp", A_IP, 7000) == f"tcp {HOST_IP}"  # out, masqueraded
    # Published ports are public, to other networks too (leaving net1: masqueraded).
    assert probe(C2, "tcp", HOST_IP, 8080) == "tcp 10.231.0.1"
    assert probe(C2, "tcp", C_IP, 80, expect_ok=False).startswith("FAIL")  # isolation
    assert probe(C, "tcp", C2_IP, 80, expect_ok=False).startswith("FAIL")
    assert probe(A, "tcp", C_IP, 80, expect_ok=False).startswith("FAIL")  # no direct routing
    assert probe(K, "tcp", C_IP, 80) == f"tcp {K_IP}"  # same network: open
    fw.add_network("net1", "10.231.1.0/24", "br1", internal=True)
    assert probe(C2, "tcp", A_IP, 7000, expect_ok=False).startswith("FAIL")
    assert probe(C2, "tcp", HOST_IP, 8080, expect_ok=False).startswith("FAIL")
    assert probe(C2, "tcp", C_IP, 80, expect_ok=False).startswith("FAIL")


@pytest.mark.parametrize(
    "wipe", [("flush", "ruleset"), ("delete", "table", "inet", "launcher"),
             ("flush", "table", "inet", "launcher")])
def test_restore_after_the_table_was_wiped(fw: Firewall, wipe: tuple[str, ...]) -> None:
    setup_net0(fw, "8080:80", "127.0.0.1:8081:80")
    before = nft("list", "table", "inet", "launcher")
    nft(*wipe)
    assert not fw.is_intact()
    assert probe(A, "tcp", HOST_IP, 8080, expect_ok=False).startswith("FAIL")

    class Net:
        def __init__(self, name: str, subnet: str, bridge: str) -> None:
            self.name, self.subnet, self.bridge, self.internal = name, subnet, bridge, False

    nets = [Net("net0", "10.231.0.0/24", "br0"), Net("net1", "10.231.1.0/24", "br1")]
    pubs = [("c1", C_IP, maps("8080:80", "127.0.0.1:8081:80"))]
    assert fw.restore(nets, pubs) is True
    assert fw.restore(nets, pubs) is False
    assert _without_handles(nft("list", "table", "inet", "launcher")) == _without_handles(before)
    assert probe(A, "tcp", HOST_IP, 8080) == f"tcp {A_IP}"
    assert probe(H, "tcp", "127.0.0.1", 8081) == "tcp 10.231.0.1"
    assert probe(A, "tcp", "127.0.0.1", 8080, expect_ok=False).startswith("FAIL")


def _without_handles(listing: str) -> list[str]:
    return sorted(line.strip() for line in listing.splitlines() if line.strip())


def test_unpublish_is_idempotent_and_remove_leaves_only_the_base(fw: Firewall) -> None:
    setup_net0(fw, "8080:80", "127.0.0.1:8081:80/udp")
    fw.publish("c2", C2_IP, maps("9090:80"))
    assert probe(A, "tcp", HOST_IP, 9090) == f"tcp {A_IP}"
    fw.unpublish("c1")
    fw.unpublish("c1")
    assert probe(A, "tcp", HOST_IP, 8080, expect_ok=False).startswith("FAIL")
    assert probe(A, "tcp", HOST_IP, 9090) == f"tcp {A_IP}"  # c2 untouched
    fw.unpublish("c2")
    for name in ("net0", "net1", "net1"):
        fw.remove_network(name)
    snap = fw.snapshot()
    assert snap is not None and snap.intact()
    assert {comment for _chain, _handle, comment in snap.rules} == {BASE}
    assert Snapshot.parse(nft("-j", "list", "table", "inet", "launcher")).rules == snap.rules


@pytest.mark.skipif(shutil.which("iptables-nft") is None, reason="iptables-nft not installed")
def test_coexists_with_iptables_nft(fw: Firewall) -> None:
    """iptables-nft's tables and launcher's own never see each other."""
    in_ns(H, "iptables-nft", "-t", "nat", "-A", "POSTROUTING", "-s", "192.0.2.0/24",
          "-j", "MASQUERADE")
    in_ns(H, "iptables-nft", "-A", "FORWARD", "-s", "192.0.2.0/24", "-j", "ACCEPT")
    saved = in_ns(H, "iptables-nft-save")
    try:
        setup_net0(fw, "8080:80")
        assert probe(A, "tcp", HOST_IP, 8080) == f"tcp {A_IP}"
        ruleset = nft("list", "ruleset")
        assert "table ip nat" in ruleset and "table inet launcher" in ruleset
        assert "launcher" not in in_ns(H, "iptables-nft-save")
        fw.unpublish("c1")
        assert fw.restore([], [], force=True)
        assert _strip_comments(in_ns(H, "iptables-nft-save")) == _strip_comments(saved)
    finally:
        for table in ("nat", "filter"):
            subprocess.run(["ip", "netns", "exec", H, "nft", "delete", "table", "ip", table],
                           capture_output=True, check=False)


def _strip_comments(save: str) -> list[str]:
    """iptables-save output without its timestamped comment lines and counters."""
    return [line.split(" [")[0] for line in save.splitlines() if not line.startswith("#")]
