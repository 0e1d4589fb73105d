"""rtnl: requests byte for byte, answers parsed, the socket's answer loop.

The expected requests were captured from iproute2 6.1 (Debian 12) in a
scratch network namespace, e.g.::

    unshare --net --mount sh -c 'mount -t tmpfs none /run; ip netns add scratch;
        strace -e trace=sendmsg -e write=3 ip link add name lnch-1 \\
            address 02:42:0a:59:00:01 type bridge; ...'

with ``ip``'s sequence number (5b7b0a6b) kept and packed back in. The answers
to parse are encoded by pyroute2, an independent implementation.
"""

from __future__ import annotations

import errno
import struct
from typing import Any

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg  # type: ignore[import-untyped]
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # type: ignore[import-untyped]
from pyroute2.netlink.rtnl.rtmsg import rtmsg  # type: ignore[import-untyped]

from launcher.network import rtnl

SEQ = 0x6B0A7B5B  # bytes 5b 7b 0a 6b, as ip sent them
IFINFO0 = "00000000 00000000 00000000 00000000"


def wire(words: str) -> bytes:
    return bytes.fromhex(words.replace(" ", "").replace("\n", ""))


@pytest.mark.parametrize(("request_", "captured"), [
    # ip link add name lnch-1 address 02:42:0a:59:00:01 type bridge
    (rtnl.new_bridge("lnch-1", "02:42:0a:59:00:01"), f"""
        48000000 10000506 5b7b0a6b 00000000 {IFINFO0}
        0a000100 02420a59 00010000 0b000300 6c6e6368 2d310000
        10001200 0a000100 62726964 67650000"""),
    # the name lookup of ip link show dev lnch-1 (ll_name_to_index)
    (rtnl.get_link("lnch-1"), f"""
        34000000 12000100 5b7b0a6b 00000000 {IFINFO0}
        08001d00 09000000 0b000300 6c6e6368 2d310000"""),
    # ip link add name veth1 up master lnch-1 type veth peer name eth0
    #     address 02:42:0a:59:00:02 netns scratch   (lnch-1: index 2; the netns: fd 4)
    (rtnl.new_veth("veth1", 2, "eth0", "02:42:0a:59:00:02", 4), """
        78000000 10000506 5b7b0a6b 00000000 00000000 00000000 01000000 01000000
        08000a00 02000000 0a000300 76657468 31000000
        44001200 08000100 76657468 38000200 34000100
        00000000 00000000 00000000 00000000 0a000100 02420a59 00020000
        08001c00 04000000 09000300 65746830 00000000"""),
    # bridge link set dev veth1 hairpin on   (veth1: index 3)
    (rtnl.set_hairpin(3), """
        2c000000 13000500 5b7b0a6b 00000000 07000000 03000000 00000000 00000000
        0c000c80 05000400 01000000"""),
    # ip addr add 10.89.0.1/24 dev lnch-1
    (rtnl.new_addr(2, "10.89.0.1", 24), """
        28000000 14000506 5b7b0a6b 00000000 02180000 02000000
        08000200 0a590001 08000100 0a590001"""),
    # ip link set dev lnch-1 up
    (rtnl.set_up(2), """
        20000000 10000500 5b7b0a6b 00000000 00000000 02000000 01000000 01000000"""),
    # ip route add default via 10.89.0.1
    (rtnl.new_default_route("10.89.0.1"), """
        24000000 18000506 5b7b0a6b 00000000 02000000 fe030001 00000000
        08000500 0a590001"""),
    # ip -4 route show table all
    (rtnl.dump_routes(), """
        1c000000 1a000103 5b7b0a6b 00000000 02000000 00000000 00000000"""),
    # ip -4 addr show
    (rtnl.dump_addrs(), """
        18000000 16000103 5b7b0a6b 00000000 02000000 00000000"""),
])
def test_requests_match_iproute2(request_: rtnl.Request, captured: str) -> None:
    assert rtnl.pack(request_, SEQ) == wire(captured)


def test_requests_by_name() -> None:
    """Where ip looks the index up first, these name the link in the request
    (the kernel's rtnl_dellink and rtnl_newlink find it by IFLA_IFNAME)."""
    assert rtnl.pack(rtnl.del_link("veth1"), 7) == wire(f"""
        2c000000 11000500 07000000 00000000 {IFINFO0}
        0a000300 76657468 31000000""")
    assert rtnl.pack(rtnl.set_up_by_name("lo"), 8) == wire("""
        28000000 10000500 08000000 00000000 00000000 00000000 01000000 01000000
        07000300 6c6f0000""")


def encoded(msg: Any, kind: int, **fields: Any) -> bytes:
    """A pyroute2 message's payload (its 16-byte header cut off)."""
    for key, value in fields.items():
        msg[key] = value
    msg["header"]["type"] = kind
    msg.encode()
    return bytes(msg.data)[16:]


def test_link_answer() -> None:
    payload = encoded(ifinfmsg(), 16, index=7, flags=0x1003, attrs=[
        ("IFLA_IFNAME", "br0"), ("IFLA_MASTER", 3),
        ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "bridge")]})])
    found = rtnl.Link(payload)
    assert (found.index, found.flags, found.name, found.master, found.kind) == (
        7, 0x1003, "br0", 3, "bridge")
    bare = rtnl.Link(encoded(ifinfmsg(), 16, index=1, attrs=[("IFLA_IFNAME", "lo")]))
    assert (bare.name, bare.master, bare.kind) == ("lo", 0, None)
    with pytest.raises(OSError, match="short netlink answer"):
        rtnl.Link(b"\0" * 8)


def test_nested_flag_is_masked() -> None:
    """Kernels since 5.2 mark nests with NLA_F_NESTED."""
    info = rtnl.attr(rtnl.IFLA_LINKINFO | rtnl.NLA_F_NESTED,
                     rtnl.attr(rtnl.IFLA_INFO_KIND, b"veth\0"))
    assert rtnl.Link(rtnl.ifinfomsg(index=4) + info).kind == "veth"


def test_route_answer() -> None:
    wide = encoded(rtmsg(), 24, family=2, dst_len=24, table=252, attrs=[
        ("RTA_TABLE", 1000), ("RTA_DST", "10.89.0.0"), ("RTA_OIF", 3)])
    assert rtnl.route_dst(wide) == ("10.89.0.0", 24, 1000)
    default = encoded(rtmsg(), 24, family=2, table=254, attrs=[("RTA_GATEWAY", "10.0.0.1")])
    assert rtnl.route_dst(default) == (None, 0, 254)
    with pytest.raises(OSError, match="short netlink answer"):
        rtnl.route_dst(b"\2")


def test_addr_answer() -> None:
    payload = encoded(ifaddrmsg(), 20, family=2, prefixlen=8, index=2, attrs=[
        ("IFA_ADDRESS", "10.1.2.3"), ("IFA_LOCAL", "10.1.2.3"), ("IFA_LABEL", "eth0")])
    assert rtnl.addr_cidr(payload) == ("10.1.2.3", 8)
    assert rtnl.addr_cidr(encoded(ifaddrmsg(), 20, family=10, prefixlen=64, attrs=[
        ("IFA_ADDRESS", "fe80::1")])) is None


def msg(kind: int, seq: int, payload: bytes = b"", flags: int = 0) -> bytes:
    size = 16 + len(payload)
    return struct.pack("=IHHII", size, kind, flags, seq, 4242) + payload + bytes(-size % 4)


def ack(seq: int, code: int = 0) -> bytes:
    return msg(rtnl.NLMSG_ERROR, seq, struct.pack("=i", -code) + bytes(16))


def test_messages_and_attrs() -> None:
    data = msg(16, 1, b"abcde") + msg(rtnl.NLMSG_DONE, 1, bytes(4))
    assert list(rtnl.messages(data)) == [(16, 0, 1, b"abcde"), (3, 0, 1, bytes(4))]
    with pytest.raises(OSError, match="malformed"):
        list(rtnl.messages(struct.pack("=IHHII", 64, 16, 0, 1, 0)))
    assert rtnl.attrs(rtnl.attr(1, b"x") + rtnl.attr(2, b"yz")[:5]) == {1: b"x"}


class FakeSock:
    """Datagrams from (port, bytes) pairs; what is sent is kept."""

    def __init__(self, *datagrams: tuple[int, bytes]) -> None:
        self.datagrams = list(datagrams)
        self.sent: list[tuple[bytes, tuple[int, int]]] = []

    def sendto(self, data: bytes, address: tuple[int, int]) -> int:
        self.sent.append((data, address))
        return len(data)

    def recvfrom_into(self, buf: bytearray, nbytes: int, flags: int
                      ) -> tuple[int, tuple[int, int]]:
        assert flags == rtnl.MSG_TRUNC
        port, data = self.datagrams.pop(0)
        size = min(len(data), len(buf))  # cut to fit, as the kernel does
        buf[:size] = data[:size]
        return len(data), (port, 0)  # MSG_TRUNC: the real length


def faked(*datagrams: tuple[int, bytes], bufsize: int = rtnl.BUFSIZE) -> tuple[rtnl.Socket,
                                                                                   FakeSock]:
    sock = rtnl.Socket.__new__(rtnl.Socket)
    fake = FakeSock(*datagrams)
    sock._sock = fake  # type: ignore[assignment]
    sock._seq = 0
    sock._buf = bytearray(bufsize)
    return sock, fake


def test_a_change_is_acknowledged() -> None:
    sock, fake = faked((0, ack(1)))
    assert sock.call(rtnl.set_up(2)) == []
    assert fake.sent == [(rtnl.pack(rtnl.set_up(2), 1), (0, 0))]


def test_a_kernel_error_is_an_oserror() -> None:
    sock, _ = faked((0, ack(1, errno.ENODEV)))
    with pytest.raises(OSError) as info:
        sock.call(rtnl.del_link("x"))
    assert (info.value.errno, info.value.strerror) == (errno.ENODEV, "No such device")


def test_a_get_ends_at_its_answer() -> None:
    sock, fake = faked((0, msg(rtnl.RTM_NEWLINK, 1, b"link")))
    assert sock.call(rtnl.get_link("lo")) == [b"link"]
    assert fake.datagrams == []


def test_a_dump_ends_at_done_and_skips_strangers() -> None:
    multi = rtnl.NLM_F_MULTI
    sock, fake = faked(
        (0, ack(7)),  # the tail of an answer given up earlier
        (0, msg(24, 1, b"r1", multi) + msg(24, 1, b"r2", multi)),
        (4242, msg(24, 1, b"forged", multi)),  # not the kernel
        (0, msg(24, 1, b"r3", multi) + msg(rtnl.NLMSG_DONE, 1, bytes(4), multi)))
    assert sock.call(rtnl.dump_routes()) == [b"r1", b"r2", b"r3"]
    assert fake.datagrams == []


def test_an_interrupted_dump_is_read_again() -> None:
    intr = rtnl.NLM_F_MULTI | rtnl.NLM_F_DUMP_INTR
    sock, fake = faked((0, msg(24, 1, b"old", intr) + msg(rtnl.NLMSG_DONE, 1, bytes(4), intr)),
                       (0, msg(24, 2, b"new") + msg(rtnl.NLMSG_DONE, 2, bytes(4))))
    assert sock.call(rtnl.dump_routes()) == [b"new"]
    assert [struct.unpack_from("=I", data, 8)[0] for data, _ in fake.sent] == [1, 2]
    forever = [(0, msg(rtnl.NLMSG_DONE, n, bytes(4), intr)) for n in range(1, 6)]
    sock, _ = faked(*forever)
    with pytest.raises(OSError, match="kept changing"):
        sock.call(rtnl.dump_addrs())


def test_a_truncated_error_is_no_ack() -> None:
    sock, _ = faked((0, msg(rtnl.NLMSG_ERROR, 1, b"\0\0")))
    with pytest.raises(OSError) as info:
        sock.call(rtnl.set_up(1))
    assert info.value.errno == errno.EBADMSG


def test_a_failed_dump() -> None:
    sock, _ = faked((0, msg(rtnl.NLMSG_DONE, 1, struct.pack("=i", -errno.EINVAL))))
    with pytest.raises(OSError, match="Invalid argument"):
        sock.call(rtnl.dump_addrs())


def test_an_answer_too_large_for_the_buffer() -> None:
    sock, _ = faked((0, msg(24, 1, bytes(100))), bufsize=64)
    with pytest.raises(OSError, match="larger than the buffer"):
        sock.call(rtnl.dump_routes())


def test_the_real_kernel_answers() -> None:
    """Read-only, needs no privilege: the loopback interface of this namespace."""
    sock = rtnl.Socket()
    try:
        lo = rtnl.Link(sock.call(rtnl.get_link("lo"))[0])
        assert lo.name == "lo" and lo.index > 0
        with pytest.raises(OSError) as info:
            sock.call(rtnl.get_link("no-such-if0"))
        assert info.value.errno == errno.ENODEV
        assert all(rtnl.addr_cidr(p) is not None for p in sock.call(rtnl.dump_addrs()))
    finally:
        sock.close()
