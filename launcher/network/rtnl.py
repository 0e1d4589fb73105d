"""rtnetlink on a raw socket: the few requests launcher sends, and their answers.

pyroute2 costs ~150-200 ms to import (its package pulls asyncio,
multiprocessing, ssl); the stdlib ``socket`` module ~9 ms (enum). This needs
only ``_socket`` (the C core of ``socket``, ~0.5 ms) and ``struct``.

Wire format, host byte order, every part padded to 4 bytes::

    nlmsghdr   len u32, type u16, flags u16, seq u32, port id u32
    ifinfomsg  family u8, pad u8, type u16, index i32, flags u32, change u32
    ifaddrmsg  family u8, prefixlen u8, flags u8, scope u8, index u32
    rtmsg      family, dst_len, src_len, tos, table, protocol, scope, type: u8; flags u32
    rtattr     len u16, type u16, payload   (a nested attribute's payload is attributes)

A request is ``(type, flags, body)``; :class:`Socket` adds the header and
reads the kernel's answer (an error becomes ``OSError(errno)``). The request
builders lay their attributes out in the order iproute2 does, so the unit
tests compare them byte for byte with what ``ip`` and ``bridge`` send.
"""

from __future__ import annotations

import errno
import os
import struct

from launcher.network.addr import format_ip, parse_ip

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    Request = tuple[int, int, bytes]

AF_UNSPEC, AF_INET, AF_BRIDGE, AF_NETLINK = 0, 2, 7, 16
NETLINK_ROUTE = 0
MSG_TRUNC = 0x20

NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE = 1, 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_DUMP_INTR = 0x1, 0x2, 0x4, 0x10
NLM_F_DUMP = 0x300
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_PROTINFO = 1, 3, 10, 12
IFLA_LINKINFO, IFLA_NET_NS_FD, IFLA_EXT_MASK = 18, 28, 29
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFLA_BRPORT_MODE = 4  # hairpin
RTEXT_FILTER_VF, RTEXT_FILTER_SKIP_STATS = 1, 8
IFF_UP = 1

IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_GATEWAY, RTA_TABLE = 1, 5, 15
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1

_NLMSGHDR = struct.Struct("=IHHII")
_RTATTR = struct.Struct("=HH")
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_U32 = struct.Struct("=I")
_I32 = struct.Struct("=i")
DUMP_TRIES = 5
BUFSIZE = 65536  # the kernel caps a dump datagram at 32 KiB


# -- encoding -------------------------------------------------------------------


def attr(kind: int, payload: bytes) -> bytes:
    """One attribute, padded to 4 bytes (``nla_len`` counts no padding)."""
    size = _RTATTR.size + len(payload)
    return _RTATTR.pack(size, kind) + payload + bytes(-size % 4)


def attr_str(kind: int, text: str) -> bytes:
    """A NUL-terminated string attribute (names)."""
    return attr(kind, text.encode() + b"\0")


def attr_u32(kind: int, value: int) -> bytes:
    return attr(kind, _U32.pack(value))


def ipv4(text: str) -> bytes:
    return parse_ip(text).to_bytes(4, "big")


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def ifinfomsg(family: int = AF_UNSPEC, index: int = 0, flags: int = 0,
              change: int = 0) -> bytes:
    return _IFINFOMSG.pack(family, 0, index, flags, change)


def pack(request: Request, seq: int) -> bytes:
    """The request as one netlink message (port id 0: the kernel fills it in)."""
    kind, flags, body = request
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, flags, seq, 0) + body


_CHANGE = NLM_F_REQUEST | NLM_F_ACK
_CREATE = NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE


def get_link(name: str) -> Request:
    """The link called ``name`` (answer: one RTM_NEWLINK, or ENODEV)."""
    return (RTM_GETLINK, NLM_F_REQUEST,
            ifinfomsg() + attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS)
            + attr_str(IFLA_IFNAME, name))


def new_bridge(name: str, address: str) -> Request:
    """Create bridge ``name`` (down) with MAC ``address``; EEXIST if the name is taken."""
    return (RTM_NEWLINK, _CREATE,
            ifinfomsg() + attr(IFLA_ADDRESS, mac(address)) + attr_str(IFLA_IFNAME, name)
            + attr(IFLA_LINKINFO, attr(IFLA_INFO_KIND, b"bridge")))


def new_veth(name: str, master: int, peer: str, peer_address: str, peer_netns_fd: int
             ) -> Request:
    """Create veth ``name``, up and enslaved to ``master``, whose peer ``peer``
    (down, MAC ``peer_address``) is born in the namespace ``peer_netns_fd``."""
    peer_msg = (ifinfomsg() + attr(IFLA_ADDRESS, mac(peer_address))
                + attr_u32(IFLA_NET_NS_FD, peer_netns_fd) + attr_str(IFLA_IFNAME, peer))
    info = attr(IFLA_INFO_KIND, b"veth") + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_msg))
    return (RTM_NEWLINK, _CREATE,
            ifinfomsg(flags=IFF_UP, change=IFF_UP) + attr_u32(IFLA_MASTER, master)
            + attr_str(IFLA_IFNAME, name) + attr(IFLA_LINKINFO, info))


def set_up(index: int) -> Request:
    return (RTM_NEWLINK, _CHANGE, ifinfomsg(index=index, flags=IFF_UP, change=IFF_UP))


def set_up_by_name(name: str) -> Request:
    """Bring ``name`` up without knowing its index (ENODEV if absent)."""
    return (RTM_NEWLINK, _CHANGE,
            ifinfomsg(flags=IFF_UP, change=IFF_UP) + attr_str(IFLA_IFNAME, name))


def set_hairpin(index: int) -> Request:
    """Hairpin mode on bridge port ``index``, as ``bridge link set hairpin on``.

    An AF_BRIDGE RTM_SETLINK goes to the master's ``br_setlink``, which reads
    IFLA_PROTINFO as IFLA_BRPORT_* attributes only when NLA_F_NESTED is set
    (without it, the payload is taken for a bare STP port state)."""
    return (RTM_SETLINK, _CHANGE,
            ifinfomsg(AF_BRIDGE, index)
            + attr(IFLA_PROTINFO | NLA_F_NESTED, attr(IFLA_BRPORT_MODE, b"\x01")))


def del_link(name: str) -> Request:
    """Delete the link called ``name`` (ENODEV if absent); a veth takes its peer."""
    return (RTM_DELLINK, _CHANGE, ifinfomsg() + attr_str(IFLA_IFNAME, name))


def new_addr(index: int, ip: str, prefixlen: int) -> Request:
    """Add ``ip/prefixlen`` to link ``index`` (no broadcast address, like ``ip addr add``)."""
    return (RTM_NEWADDR, _CREATE,
            _IFADDRMSG.pack(AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index)
            + attr(IFA_LOCAL, ipv4(ip)) + attr(IFA_ADDRESS, ipv4(ip)))


def new_default_route(gateway: str) -> Request:
    """``ip route add default via gateway``; EEXIST if there is a default route."""
    return (RTM_NEWROUTE, _CREATE,
            _RTMSG.pack(AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE,
                        RTN_UNICAST, 0)
            + attr(RTA_GATEWAY, ipv4(gateway)))


def dump_routes() -> Request:
    """Every IPv4 route, of every table."""
    return (RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, _RTMSG.pack(AF_INET, 0, 0, 0, 0, 0, 0, 0, 0))


def dump_addrs() -> Request:
    """Every IPv4 address, of every interface."""
    return (RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, _IFADDRMSG.pack(AF_INET, 0, 0, 0, 0))


# -- decoding -------------------------------------------------------------------


def messages(data: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """(type, flags, seq, payload) of each message in one datagram."""
    off = 0
    while off + _NLMSGHDR.size <= len(data):
        size, kind, flags, seq, _port = _NLMSGHDR.unpack_from(data, off)
        if size < _NLMSGHDR.size or off + size > len(data):
            raise OSError(errno.EBADMSG, "malformed netlink message")
        yield kind, flags, seq, data[off + _NLMSGHDR.size:off + size]
        off += (size + 3) & ~3


def attrs(data: bytes, start: int = 0) -> dict[int, bytes]:
    """The attributes from ``start`` on, by type (flags masked off; the last of
    a repeated type wins). A truncated trailing attribute is ignored."""
    found: dict[int, bytes] = {}
    off = start
    while off + _RTATTR.size <= len(data):
        size, kind = _RTATTR.unpack_from(data, off)
        if size < _RTATTR.size or off + size > len(data):
            break
        found[kind & NLA_TYPE_MASK] = data[off + _RTATTR.size:off + size]
        off += (size + 3) & ~3
    return found


def _fixed(layout: struct.Struct, payload: bytes) -> tuple[int, ...]:
    """The fixed header at the start of an answer's payload."""
    if len(payload) < layout.size:
        raise OSError(errno.EBADMSG, "short netlink answer")
    return layout.unpack_from(payload)


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.split(b"\0", 1)[0].decode(errors="replace")


class Link:
    """What launcher reads of an RTM_NEWLINK message."""

    __slots__ = ("flags", "index", "kind", "master", "name")

    def __init__(self, payload: bytes) -> None:
        _family, _type, self.index, self.flags, _change = _fixed(_IFINFOMSG, payload)
        found = attrs(payload, _IFINFOMSG.size)
        self.name = _text(found.get(IFLA_IFNAME))
        master = found.get(IFLA_MASTER)
        self.master = _U32.unpack(master)[0] if master is not None and len(master) == 4 else 0
        info = found.get(IFLA_LINKINFO)
        self.kind = None if info is None else _text(attrs(info).get(IFLA_INFO_KIND))


def route_dst(payload: bytes) -> tuple[str | None, int, int]:
    """(destination or None, its prefix length, table) of an IPv4 RTM_NEWROUTE."""
    family, dst_len, _s, _t, table, _p, _sc, _ty, _f = _fixed(_RTMSG, payload)
    found = attrs(payload, _RTMSG.size)
    wide = found.get(RTA_TABLE)  # rtm_table is u8: ids above 255 travel here only
    if wide is not None and len(wide) == 4:
        table = _U32.unpack(wide)[0]
    dst = found.get(RTA_DST)
    if family != AF_INET or dst is None or len(dst) != 4:
        return None, dst_len, table
    return format_ip(int.from_bytes(dst, "big")), dst_len, table


def addr_cidr(payload: bytes) -> tuple[str, int] | None:
    """(address, prefix length) of an IPv4 RTM_NEWADDR (IFA_ADDRESS: for a
    point-to-point link, the peer's)."""
    family, prefixlen, _flags, _scope, _index = _fixed(_IFADDRMSG, payload)
    value = attrs(payload, _IFADDRMSG.size).get(IFA_ADDRESS)
    if family != AF_INET or value is None or len(value) != 4:
        return None
    return format_ip(int.from_bytes(value, "big")), prefixlen


# -- the socket -----------------------------------------------------------------


class Socket:
    """An rtnetlink socket of the namespace this thread is in when it is made
    (it stays there whatever the thread does afterwards)."""

    __slots__ = ("_buf", "_seq", "_sock")

    def __init__(self) -> None:
        import _socket

        self._sock = _socket.socket(AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC,
                                    NETLINK_ROUTE)
        self._seq = 0
        self._buf = bytearray(BUFSIZE)

    def close(self) -> None:
        self._sock.close()

    def call(self, request: Request) -> list[bytes]:
        """Send ``request``; the payloads of the answer (a dump's parts, a get's
        one message, nothing for an acknowledged change). A kernel error
        becomes OSError with its errno."""
        for _ in range(DUMP_TRIES):  # only a dump can be interrupted (and is read again)
            payloads, interrupted = self._exchange(request)
            if not interrupted:
                return payloads
        raise OSError(errno.EAGAIN, "the dump kept changing while being read")

    def _exchange(self, request: Request) -> tuple[list[bytes], bool]:
        self._seq = seq = self._seq % 0xFFFFFFFF + 1
        self._sock.sendto(pack(request, seq), (0, 0))
        flags = request[1]
        dump = flags & NLM_F_DUMP == NLM_F_DUMP
        payloads: list[bytes] = []
        interrupted = False
        while True:
            for kind, mflags, mseq, payload in self._receive():
                if mseq != seq or kind == NLMSG_NOOP:
                    continue  # the tail of an answer abandoned earlier
                interrupted = interrupted or bool(mflags & NLM_F_DUMP_INTR)
                if kind in (NLMSG_ERROR, NLMSG_DONE):
                    # NLMSG_ERROR: 0 (the ACK) or -errno; NLMSG_DONE: a dump's end
                    # and its error, if any (0 where a kernel sends no int at all).
                    if len(payload) >= 4:
                        code = -_I32.unpack_from(payload)[0]
                    else:
                        code = errno.EBADMSG if kind == NLMSG_ERROR else 0
                    if code > 0:
                        raise OSError(code, os.strerror(code))
                    return payloads, interrupted
                payloads.append(payload)
                if not dump and not flags & NLM_F_ACK:
                    return payloads, interrupted  # a get: its one answer

    def _receive(self) -> Iterator[tuple[int, int, int, bytes]]:
        """The messages of the next datagram from the kernel (others are dropped)."""
        while True:
            size, (port, _groups) = self._sock.recvfrom_into(self._buf, 0, MSG_TRUNC)
            if size > len(self._buf):
                raise OSError(errno.EMSGSIZE, "netlink answer larger than the buffer")
            # Only the kernel's (port 0): in a container's namespace, a process
            # with CAP_NET_ADMIN there could send to this socket too.
            if port == 0:
                break
        return messages(bytes(memoryview(self._buf)[:size]))
