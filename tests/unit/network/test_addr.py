from __future__ import annotations

import pytest

from launcher.network import addr


@pytest.mark.parametrize("text", ["10.88.0.2", "0.0.0.0", "255.255.255.255"])
def test_ip_round_trip(text: str) -> None:
    assert addr.format_ip(addr.parse_ip(text)) == text


@pytest.mark.parametrize("text", ["", "10.88.0", "10.88.0.2.1", "10.88.0.256", "10.088.0.1",
                                  "10.88.0.-1", "10.88.0. 1", "a.b.c.d", "10.88.0.٣", "::1"])
def test_bad_ips(text: str) -> None:
    with pytest.raises(ValueError):
        addr.parse_ip(text)


def test_cidr() -> None:
    assert addr.parse_cidr("10.88.0.0/16") == (addr.parse_ip("10.88.0.0"), 16)
    assert addr.format_cidr(*addr.parse_cidr("10.88.7.9/16", strict=False)) == "10.88.0.0/16"
    with pytest.raises(ValueError, match=r"should be 10\.88\.0\.0/16"):
        addr.parse_cidr("10.88.7.9/16")
    for bad in ("10.88.0.0", "10.88.0.0/33", "10.88.0.0/", "10.88.0.0/016", "10.88.0.0/x"):
        with pytest.raises(ValueError):
            addr.parse_cidr(bad)


def test_overlaps_and_contains() -> None:
    a = addr.parse_cidr("10.89.0.0/24")
    assert addr.overlaps(a, addr.parse_cidr("10.89.0.0/16"))
    assert addr.overlaps(addr.parse_cidr("10.89.0.128/25"), a)
    assert not addr.overlaps(a, addr.parse_cidr("10.89.1.0/24"))
    assert addr.contains(a, addr.parse_ip("10.89.0.255"))
    assert not addr.contains(a, addr.parse_ip("10.89.1.0"))


def test_host_range() -> None:
    first, last = addr.host_range(addr.parse_cidr("10.89.0.0/24"))
    assert (addr.format_ip(first), addr.format_ip(last)) == ("10.89.0.1", "10.89.0.254")
    assert addr.host_range(addr.parse_cidr("10.0.0.0/30")) == (
        addr.parse_ip("10.0.0.1"), addr.parse_ip("10.0.0.2"))
    with pytest.raises(ValueError, match="too small"):
        addr.host_range(addr.parse_cidr("10.0.0.0/31"))


def test_mac_for_is_dockers() -> None:
    assert addr.mac_for("172.17.0.2") == "02:42:ac:11:00:02"
    assert addr.mac_for("10.88.255.254") == "02:42:0a:58:ff:fe"
