from __future__ import annotations

from typing import Any

import pytest

from launcher.errors import StateError, UsageError
from launcher.network.model import (
    Endpoint,
    Network,
    check_ifname,
    check_name,
    is_synthetic,
    synthetic,
)

NID = "ab" * 32


def network_doc(**changes: Any) -> dict[str, Any]:
    doc = Network("web", NID, "10.89.0.0/24", "10.89.0.1", "lnch-abababab", False,
                  "2024-05-01T10:00:00.123456789Z", {"team": "a"}).to_json()
    doc.update(changes)
    return doc


def endpoint_doc(**changes: Any) -> dict[str, Any]:
    doc = Endpoint("web", "c" * 64, "veth0a1b2c3d", "eth0", "10.89.0.2", 24,
                   "02:42:0a:59:00:02", "10.89.0.1", ["db"]).to_json()
    doc.update(changes)
    return doc


def test_network_round_trip() -> None:
    net = Network.from_json(network_doc(), "/x/web.json")
    assert net.to_json() == network_doc()
    assert (net.prefixlen, net.gateway_cidr) == (24, "10.89.0.1/24")


@pytest.mark.parametrize("changes", [
    {"id": "AB" * 32}, {"id": "ab"}, {"driver": "macvlan"}, {"subnet": "10.89.0.1/24"},
    {"subnet": "10.89.0.0/31"}, {"gateway": "10.89.1.1"}, {"gateway": "10.89.0.0"},
    {"gateway": "10.89.0.255"}, {"bridge": "a-very-long-bridge-name"}, {"bridge": "a/b"},
    {"internal": "no"}, {"created": "yesterday"}, {"labels": {"a": 1}}, {"name": "../etc"},
    {"name": 7}, {"labels": None},
])
def test_corrupt_network_names_the_file(changes: dict[str, Any]) -> None:
    with pytest.raises(StateError, match=r"/x/web\.json"):
        Network.from_json(network_doc(**changes), "/x/web.json")


def test_network_not_an_object() -> None:
    with pytest.raises(StateError, match="not a JSON object"):
        Network.from_json([1], "/x/web.json")


def test_endpoint_round_trip() -> None:
    ep = Endpoint.from_json(endpoint_doc(), "/s/e.json")
    assert ep.to_json() == endpoint_doc()
    assert ep.ip_cidr == "10.89.0.2/24"


@pytest.mark.parametrize("changes", [
    {"ip": "10.89.0"}, {"prefixlen": 33}, {"prefixlen": "24"}, {"mac": "02:42:0A:59:00:02"},
    {"mac": "02:42:0a:59:00"}, {"gateway": "x"}, {"aliases": "db"}, {"aliases": [1]},
    {"host_veth": ""}, {"ifname": "eth0 "}, {"container_id": "../c"}, {"network": ""},
])
def test_corrupt_endpoint_names_the_file(changes: dict[str, Any]) -> None:
    with pytest.raises(StateError, match=r"/s/e\.json"):
        Endpoint.from_json(endpoint_doc(**changes), "/s/e.json")


def test_internal_endpoint_has_no_gateway() -> None:
    assert Endpoint.from_json(endpoint_doc(gateway=""), "e").gateway == ""


@pytest.mark.parametrize("name", ["web", "a", "my_net.1-x", "A9"])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "-x", ".x", "a/b", "a..b", "a b", "é", "x" * 129])
def test_bad_names(name: str) -> None:
    with pytest.raises(UsageError, match="invalid network name"):
        check_name(name)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a:b", "a b", "x" * 16, "é"])
def test_bad_ifnames(name: str) -> None:
    with pytest.raises(UsageError):
        check_ifname(name)


def test_ifname_limit() -> None:
    assert check_ifname("x" * 15) == "x" * 15


def test_synthetic_networks() -> None:
    assert (synthetic("host").driver, synthetic("none").driver) == ("host", "null")
    assert synthetic("host").id == synthetic("host").id != synthetic("none").id
    assert all(len(synthetic(n).id) == 64 for n in ("host", "none"))
    assert is_synthetic("none") and not is_synthetic("bridge")
