"""RealNetOps' logic against a pretend kernel behind the rtnl.Socket seam (the
requests are decoded with rtnl's own parser, tested in test_rtnl.py; the real
kernel is in tests/integration/network/test_link_root.py)."""

from __future__ import annotations

import errno
import os
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from launcher.errors import RuntimeFailure
from launcher.network import link, rtnl

REPO = Path(__file__).resolve().parents[3]
BR_MAC, MAC = "02:42:0a:59:00:01", "02:42:0a:59:00:02"


def fail(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class FakeKernel:
    """One network namespace: links by name, addresses, routes; every request kept.

    ``errors`` maps a message type to the errno its next requests get; a
    ``racer`` makes the link just before our create does (EEXIST)."""

    def __init__(self) -> None:
        self.links: dict[str, dict[str, Any]] = {}
        self.next_index = 1
        self.requests: list[rtnl.Request] = []
        self.errors: dict[int, int] = {}
        self.racer = False
        self.routes: list[bytes] = []  # dump answers, as payloads
        self.addr_dump: list[bytes] = []
        self.peers: dict[int, FakeKernel] = {}  # netns fd -> that namespace
        self.sockets: list[FakeSocket] = []  # opened on this namespace
        self.make("lo", None)

    def make(self, name: str, kind: str | None, **data: Any) -> dict[str, Any]:
        self.links[name] = {"index": self.next_index, "kind": kind, "flags": 0,
                            "addrs": [], **data}
        self.next_index += 1
        return self.links[name]

    def by_index(self, index: int) -> str:
        for name, data in self.links.items():
            if data["index"] == index:
                return name
        raise fail(errno.ENODEV)

    def named(self, body: bytes, index: int) -> str:
        if index:
            return self.by_index(index)
        name = rtnl.attrs(body, 16)[rtnl.IFLA_IFNAME].rstrip(b"\0").decode()
        if name not in self.links:
            raise fail(errno.ENODEV)
        return name

    def call(self, request: rtnl.Request) -> list[bytes]:
        self.requests.append(request)
        kind, flags, body = request
        if kind in self.errors:
            raise fail(self.errors[kind])
        handler = {rtnl.RTM_GETLINK: self.getlink, rtnl.RTM_NEWLINK: self.newlink,
                   rtnl.RTM_DELLINK: self.dellink, rtnl.RTM_SETLINK: self.setlink,
                   rtnl.RTM_NEWADDR: self.newaddr, rtnl.RTM_NEWROUTE: self.newroute,
                   rtnl.RTM_GETROUTE: lambda *_: self.routes,
                   rtnl.RTM_GETADDR: lambda *_: self.addr_dump}[kind]
        return handler(flags, body)

    def getlink(self, flags: int, body: bytes) -> list[bytes]:
        name = self.named(body, 0)
        data = self.links[name]
        info = rtnl.attr(rtnl.IFLA_INFO_KIND, (data["kind"] or "").encode())
        return [rtnl.ifinfomsg(index=data["index"], flags=data["flags"])
                + rtnl.attr_str(rtnl.IFLA_IFNAME, name) + rtnl.attr(rtnl.IFLA_LINKINFO, info)]

    def newlink(self, flags: int, body: bytes) -> list[bytes]:
        _f, _t, index, up, _c = struct.unpack_from("=BxHiII", body)
        if not flags & rtnl.NLM_F_CREATE:
            self.links[self.named(body, index)]["flags"] |= up
            return []
        found = rtnl.attrs(body, 16)
        name = found[rtnl.IFLA_IFNAME].rstrip(b"\0").decode()
        info = rtnl.attrs(found[rtnl.IFLA_LINKINFO])
        kind = info[rtnl.IFLA_INFO_KIND].decode()
        if name in self.links:
            raise fail(errno.EEXIST)
        if kind == "veth":
            peer = rtnl.attrs(info[rtnl.IFLA_INFO_DATA])[rtnl.VETH_INFO_PEER]
            pattrs = rtnl.attrs(peer, 16)
            where = self.peers[struct.unpack("=I", pattrs[rtnl.IFLA_NET_NS_FD])[0]]
            pname = pattrs[rtnl.IFLA_IFNAME].rstrip(b"\0").decode()
            if pname in where.links:
                raise fail(errno.EEXIST)
            where.make(pname, "veth", peer_of=name)
            self.make(name, kind, flags=up, peer=(where, pname))
        else:
            self.make(name, kind)
        if self.racer:
            raise fail(errno.EEXIST)
        return []

    def dellink(self, flags: int, body: bytes) -> list[bytes]:
        data = self.links.pop(self.named(body, 0))
        if "peer" in data:
            where, pname = data["peer"]
            where.links.pop(pname, None)
        return []

    def setlink(self, flags: int, body: bytes) -> list[bytes]:
        assert body[0] == rtnl.AF_BRIDGE
        index = struct.unpack_from("=i", body, 4)[0]
        proto = rtnl.attrs(body, 16)[rtnl.IFLA_PROTINFO]
        self.links[self.by_index(index)]["hairpin"] = rtnl.attrs(proto)[rtnl.IFLA_BRPORT_MODE]
        return []

    def newaddr(self, flags: int, body: bytes) -> list[bytes]:
        plen, index = body[1], struct.unpack_from("=I", body, 4)[0]
        ip = ".".join(str(b) for b in rtnl.attrs(body, 8)[rtnl.IFA_LOCAL])
        addrs = self.links[self.by_index(index)]["addrs"]
        if f"{ip}/{plen}" in addrs:
            raise fail(errno.EEXIST)
        addrs.append(f"{ip}/{plen}")
        return []

    def newroute(self, flags: int, body: bytes) -> list[bytes]:
        gw = ".".join(str(b) for b in rtnl.attrs(body, 12)[rtnl.RTA_GATEWAY])
        self.links.setdefault("(routes)", {"index": -1, "gateways": []})["gateways"].append(gw)
        return []

    def types(self) -> list[int]:
        return [kind for kind, _flags, _body in self.requests]


class FakeSocket:
    def __init__(self, kernel: FakeKernel) -> None:
        self.kernel = kernel
        self.closed = False

    def call(self, request: rtnl.Request) -> list[bytes]:
        assert not self.closed
        return self.kernel.call(request)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> FakeKernel:
    kernel = FakeKernel()

    def new_socket() -> FakeSocket:
        sock = FakeSocket(kernel)
        kernel.sockets.append(sock)
        return sock

    monkeypatch.setattr(link, "_new_socket", new_socket)
    return kernel


@pytest.fixture
def container(host: FakeKernel, monkeypatch: pytest.MonkeyPatch) -> FakeKernel:
    """Namespace fd 42, reached by _open_in_netns (whose setns part is tested
    for real in the integration tests)."""
    kernel = FakeKernel()
    host.peers[42] = kernel

    def open_in_netns(fd: int, ifname: str) -> FakeSocket:
        assert (fd, ifname) == (42, "eth0")
        sock = FakeSocket(host.peers[fd])
        kernel.sockets.append(sock)
        return sock

    monkeypatch.setattr(link, "_open_in_netns", open_in_netns)
    return kernel


def test_no_socket_until_first_use(host: FakeKernel) -> None:
    ops = link.RealNetOps()
    assert host.sockets == []
    ops.link_exists("lo")
    ops.link_exists("lo")
    assert len(host.sockets) == 1
    ops.close()
    ops.close()
    assert host.sockets[0].closed


def test_ensure_bridge_creates_addresses_and_raises(host: FakeKernel) -> None:
    with link.RealNetOps() as ops:
        ops.ensure_bridge("lnch-1", "10.89.0.1/24")
    index = host.links["lnch-1"]["index"]
    assert host.requests == [rtnl.get_link("lnch-1"), rtnl.new_bridge("lnch-1", BR_MAC),
                             rtnl.get_link("lnch-1"), rtnl.new_addr(index, "10.89.0.1", 24),
                             rtnl.set_up(index)]
    assert host.links["lnch-1"]["addrs"] == ["10.89.0.1/24"]
    assert host.links["lnch-1"]["flags"] == rtnl.IFF_UP
    assert host.sockets[0].closed


def test_ensure_bridge_is_idempotent(host: FakeKernel) -> None:
    with link.RealNetOps() as ops:
        ops.ensure_bridge("lnch-1", "10.89.0.1/24")
        del host.requests[:]
        ops.ensure_bridge("lnch-1", "10.89.0.1/24")  # the address: EEXIST; already up
    assert host.types() == [rtnl.RTM_GETLINK, rtnl.RTM_NEWADDR]


def test_ensure_bridge_tolerates_a_racer(host: FakeKernel) -> None:
    host.racer = True
    link.RealNetOps().ensure_bridge("lnch-1", "10.89.0.1/24")
    assert host.links["lnch-1"]["addrs"] == ["10.89.0.1/24"]
    assert host.links["lnch-1"]["flags"] == rtnl.IFF_UP


def test_ensure_bridge_refuses_another_kind(host: FakeKernel) -> None:
    host.make("lnch-1", "dummy")
    with pytest.raises(RuntimeFailure, match="interface lnch-1 exists and is not a bridge"):
        link.RealNetOps().ensure_bridge("lnch-1", "10.89.0.1/24")
    assert host.types() == [rtnl.RTM_GETLINK]


def test_netlink_errors_become_one_line(host: FakeKernel) -> None:
    host.errors[rtnl.RTM_NEWLINK] = errno.EPERM
    with pytest.raises(RuntimeFailure) as info:
        link.RealNetOps().ensure_bridge("lnch-1", "10.89.0.1/24")
    assert str(info.value) == "set up bridge lnch-1 (10.89.0.1/24): Operation not permitted"
    assert isinstance(info.value.__cause__, OSError)


def test_a_socket_that_cannot_open(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise fail(errno.EAFNOSUPPORT)

    monkeypatch.setattr(link, "_new_socket", refuse)
    with pytest.raises(RuntimeFailure, match=r"^open a netlink socket: Address family"):
        link.RealNetOps().link_exists("lo")


def test_delete_link(host: FakeKernel) -> None:
    ops = link.RealNetOps()
    host.make("veth1", "veth")
    assert ops.link_exists("veth1")
    assert ops.delete_link("veth1") is True
    assert ops.delete_link("veth1") is False  # ENODEV: absent, or gone meanwhile
    assert not ops.link_exists("veth1")
    assert host.requests[1] == rtnl.del_link("veth1")
    ops.delete_bridge("nothing-here")
    host.errors[rtnl.RTM_DELLINK] = errno.EBUSY
    with pytest.raises(RuntimeFailure, match=r"^delete interface x: Device or resource busy$"):
        ops.delete_link("x")


def test_add_container_veth(host: FakeKernel, container: FakeKernel) -> None:
    br = host.make("br", "bridge")["index"]
    link.RealNetOps().add_container_veth("veth1", 42, "eth0", "br", "10.89.0.2/24",
                                         "10.89.0.1", MAC)
    veth = host.links["veth1"]
    assert host.requests == [rtnl.get_link("br"), rtnl.new_veth("veth1", br, "eth0", MAC, 42),
                             rtnl.get_link("veth1"), rtnl.set_hairpin(veth["index"])]
    assert veth["hairpin"] == b"\x01" and veth["flags"] == rtnl.IFF_UP
    eth0 = container.links["eth0"]
    assert container.requests == [
        rtnl.set_up_by_name("lo"), rtnl.get_link("eth0"),
        rtnl.new_addr(eth0["index"], "10.89.0.2", 24), rtnl.set_up(eth0["index"]),
        rtnl.new_default_route("10.89.0.1")]
    assert eth0["addrs"] == ["10.89.0.2/24"] and eth0["flags"] == rtnl.IFF_UP
    assert container.links["lo"]["flags"] == rtnl.IFF_UP
    assert container.links["(routes)"]["gateways"] == ["10.89.0.1"]
    assert [s.closed for s in container.sockets] == [True]


def test_add_container_veth_without_a_gateway(host: FakeKernel, container: FakeKernel) -> None:
    host.make("br", "bridge")
    link.RealNetOps().add_container_veth("veth1", 42, "eth0", "br", "10.89.0.2/24", None, MAC)
    assert rtnl.RTM_NEWROUTE not in container.types()
    assert container.links["eth0"]["addrs"] == ["10.89.0.2/24"]


@pytest.mark.parametrize(("where", "kind", "message"), [
    ("container", rtnl.RTM_NEWROUTE,
     "configure eth0 (10.89.0.2/24) in the container's namespace: File exists"),
    ("container", rtnl.RTM_NEWADDR,
     "configure eth0 (10.89.0.2/24) in the container's namespace: File exists"),
    ("host", rtnl.RTM_SETLINK, "set hairpin mode on veth1: File exists"),
])
def test_add_container_veth_undoes_itself(host: FakeKernel, container: FakeKernel, where: str,
                                          kind: int, message: str) -> None:
    host.make("br", "bridge")
    (container if where == "container" else host).errors[kind] = errno.EEXIST
    with pytest.raises(RuntimeFailure) as info:
        link.RealNetOps().add_container_veth("veth1", 42, "eth0", "br", "10.89.0.2/24",
                                             "10.89.0.1", MAC)
    assert str(info.value) == message
    assert sorted(host.links) == ["br", "lo"]
    assert "eth0" not in container.links  # went with its host end
    assert all(s.closed for s in container.sockets)


def test_add_container_veth_when_the_pair_cannot_be_made(host: FakeKernel,
                                                         container: FakeKernel) -> None:
    host.make("br", "bridge")
    container.make("eth0", "veth")
    with pytest.raises(RuntimeFailure, match=r"^create veth pair veth1/eth0: File exists$"):
        link.RealNetOps().add_container_veth("veth1", 42, "eth0", "br", "10.89.0.2/24",
                                             None, MAC)
    assert rtnl.RTM_DELLINK not in host.types()  # nothing of ours to undo
    assert sorted(container.links) == ["eth0", "lo"]


def test_add_container_veth_needs_the_bridge(host: FakeKernel, container: FakeKernel) -> None:
    with pytest.raises(RuntimeFailure, match=r"^bridge br does not exist$"):
        link.RealNetOps().add_container_veth("veth1", 42, "eth0", "br", "10.89.0.2/24",
                                             None, MAC)
    assert host.types() == [rtnl.RTM_GETLINK]


def route(dst: str | None, plen: int, table: int) -> bytes:
    """An RTM_NEWROUTE payload as a dump carries it (table > 255 in RTA_TABLE only)."""
    body = struct.pack("=BBBBBBBBI", rtnl.AF_INET, plen, 0, 0, min(table, 252), 3, 0, 1, 0)
    body += rtnl.attr_u32(rtnl.RTA_TABLE, table)
    return body + (rtnl.attr(rtnl.RTA_DST, rtnl.ipv4(dst)) if dst else b"")


def test_host_routes(host: FakeKernel) -> None:
    host.routes = [
        route(None, 0, 254),  # default route
        route("172.30.0.0", 16, 254),
        route("127.0.0.1", 32, 255),  # local table
        route("192.168.5.0", 24, 1000),
    ]
    host.addr_dump = [struct.pack("=BBBBI", rtnl.AF_INET, 8, 0, 0, 2)
                      + rtnl.attr(rtnl.IFA_ADDRESS, rtnl.ipv4("10.1.2.3"))]
    assert link.RealNetOps().host_routes() == ["10.0.0.0/8", "172.30.0.0/16", "192.168.5.0/24"]
    assert host.requests == [rtnl.dump_routes(), rtnl.dump_addrs()]


def test_enable_forwarding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    knob = tmp_path / "ip_forward"
    knob.write_text("0\n")
    monkeypatch.setattr(link, "IP_FORWARD", str(knob))
    ops = link.RealNetOps()
    assert ops.enable_forwarding() == "0"
    assert knob.read_text() == "1"
    assert ops.enable_forwarding() == "1"
    monkeypatch.setattr(link, "IP_FORWARD", str(tmp_path / "missing"))
    with pytest.raises(RuntimeFailure, match="enable forwarding"):
        ops.enable_forwarding()


def test_entering_a_netns_needs_a_single_thread() -> None:
    release = threading.Event()
    worker = threading.Thread(target=release.wait)
    worker.start()
    try:
        with pytest.raises(RuntimeFailure, match="single-threaded"):
            link._open_in_netns(0, "eth0")
    finally:
        release.set()
        worker.join()


def test_names_are_checked_before_any_netlink(host: FakeKernel) -> None:
    with pytest.raises(Exception, match="invalid interface name"):
        link.RealNetOps().delete_link("../x")
    with pytest.raises(Exception, match="invalid interface name"):
        link.RealNetOps().add_container_veth("veth1", 42, "eth0/", "br", "10.89.0.2/24",
                                             None, MAC)
    assert host.requests == []


def test_importing_the_package_stays_light() -> None:
    code = ("import sys, launcher.network.endpoint, launcher.network.store, "
            "launcher.network.link, launcher.network.ipam\n"
            "heavy = {'pyroute2', 'ipaddress', 'json', 're', 'typing', 'dataclasses', "
            "'socket', '_socket', 'enum', 'subprocess', 'ctypes', 'asyncio'}\n"
            "print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, check=True).stdout
    assert out.strip() == "[]"
