"""IPv4 addresses and subnets as integers, without :mod:`ipaddress`.

The container start path allocates an address on every ``run`` with a
network; ``ipaddress`` costs ~3.5 ms to import (functools, collections), this
needs none of it. Parsing is strict: dotted quads of decimal octets, no
leading zeros (``010`` is octal to some parsers and decimal to others), and
a subnet must not have host bits set. Only ``network create --subnet`` reaches
for ``ipaddress``, to give the user its exact messages.
"""

from __future__ import annotations

ALL_ONES = 0xFFFFFFFF


def parse_ip(text: str) -> int:
    """``"10.88.0.2"`` -> its integer; ValueError if not a canonical dotted quad."""
    parts = text.split(".")
    if len(parts) != 4:
        raise ValueError(f"invalid IPv4 address {text!r}")
    value = 0
    for part in parts:
        if not (part.isascii() and part.isdigit()) or len(part) > 3 \
                or (len(part) > 1 and part[0] == "0") or int(part) > 255:
            raise ValueError(f"invalid IPv4 address {text!r}")
        value = value << 8 | int(part)
    return value


def format_ip(value: int) -> str:
    return f"{value >> 24 & 255}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


def mask(prefixlen: int) -> int:
    return (ALL_ONES << (32 - prefixlen)) & ALL_ONES


def parse_cidr(text: str, strict: bool = True) -> tuple[int, int]:
    """``"10.88.0.0/16"`` -> (network int, prefix length). ``strict``: host bits
    must be zero; otherwise they are cleared (a route's or an address's net)."""
    ip, sep, plen = text.partition("/")
    if not sep or not (plen.isascii() and plen.isdigit()) or len(plen) > 2 \
            or (len(plen) > 1 and plen[0] == "0") or int(plen) > 32:
        raise ValueError(f"invalid IPv4 subnet {text!r}")
    prefixlen = int(plen)
    value = parse_ip(ip)
    net = value & mask(prefixlen)
    if strict and net != value:
        raise ValueError(f"invalid subnet {text!r}: it should be {format_ip(net)}/{prefixlen}")
    return net, prefixlen


def format_cidr(net: int, prefixlen: int) -> str:
    return f"{format_ip(net)}/{prefixlen}"


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two (network, prefixlen) subnets share any address."""
    shorter = min(a[1], b[1])
    return (a[0] & mask(shorter)) == (b[0] & mask(shorter))


def contains(subnet: tuple[int, int], ip: int) -> bool:
    return (ip & mask(subnet[1])) == subnet[0]


def host_range(subnet: tuple[int, int]) -> tuple[int, int]:
    """First and last address usable by a host: the network and broadcast
    addresses excluded (a /31 or /32 has no room for a gateway and a host)."""
    net, prefixlen = subnet
    if prefixlen > 30:
        raise ValueError(f"subnet {format_cidr(net, prefixlen)} is too small (at most /30)")
    return net + 1, net + (1 << (32 - prefixlen)) - 2


def mac_for(ip: str) -> str:
    """Docker's derived MAC: ``02:42`` (locally administered, unicast) + the
    four bytes of the IPv4 address. Unique within a network, stable per address."""
    value = parse_ip(ip)
    octets = [0x02, 0x42] + [value >> shift & 255 for shift in (24, 16, 8, 0)]
    return ":".join(f"{o:02x}" for o in octets)
