"""--network/-p/-P/--dns... into a NetConfig: Docker's conflicts, warnings and the stored form."""

from __future__ import annotations

from typing import Any

import pytest

from launcher.errors import ConflictError, StateError, UsageError
from launcher.network.ports import parse_publish
from launcher.network.runconfig import NetConfig, check_mode, from_request
from launcher.spec.request import RunRequest


def config(exposed: tuple[str, ...] = (), **kw: Any) -> tuple[NetConfig, list[str]]:
    warnings: list[str] = []
    kw.setdefault("network", "bridge")
    return from_request(RunRequest("img", **kw), exposed, warnings.append), warnings


def test_check_mode() -> None:
    assert check_mode("default") == "bridge"
    for ok in ("bridge", "none", "host", "web", "container:db", "container:0123abcd"):
        assert check_mode(ok) == ok
    for bad in ("", "container:", "pod:x", "a/b", "..", "-x", "x" * 129):
        with pytest.raises(ValueError):
            check_mode(bad)


def test_default_bridge() -> None:
    cfg, warnings = config(name="web", hostname="h")
    assert (cfg.kind, cfg.mode, [n.name for n in cfg.networks]) == ("bridge", "bridge", ["bridge"])
    assert (cfg.name, cfg.hostname, warnings) == ("web", "h", [])


def test_user_network_takes_ip_and_aliases() -> None:
    cfg, _ = config(network="web", ip="10.89.0.9", network_aliases=["db", "sql"])
    [net] = cfg.networks
    assert (net.name, net.ip, net.aliases) == ("web", "10.89.0.9", ["db", "sql"])


@pytest.mark.parametrize("mode", ["bridge", "none", "host"])
def test_ip_and_aliases_only_on_user_networks(mode: str) -> None:
    with pytest.raises(UsageError, match="user defined networks only"):
        config(network=mode, ip="10.88.0.9")
    with pytest.raises(UsageError, match="user defined networks"):
        config(network=mode, network_aliases=["x"])


def test_ports_and_publish_all() -> None:
    explicit = [parse_publish("8080:80"), parse_publish("127.0.0.1::53/udp")]
    cfg, _ = config(("80/tcp", "443/tcp", "53/udp"), publish=explicit, publish_all=True)
    assert [m.spec() for m in cfg.ports] == ["8080:80/tcp", "127.0.0.1::53/udp", "443/tcp"]
    cfg, _ = config(("80/tcp",))  # -P not given: exposed ports stay unpublished
    assert cfg.ports == []


def test_the_same_host_port_twice_is_a_conflict() -> None:
    with pytest.raises(ConflictError, match="port is already allocated"):
        config(publish=[parse_publish("8080:80"), parse_publish("8080:81")])


@pytest.mark.parametrize("mode", ["host", "none"])
def test_ports_are_discarded_with_a_warning(mode: str) -> None:
    cfg, warnings = config(network=mode, publish=[parse_publish("80")], publish_all=True)
    assert cfg.ports == [] and cfg.networks == []
    assert warnings == [f"WARNING: Published ports are discarded when using {mode} network mode"]


@pytest.mark.parametrize(("flags", "what"), [
    ({"publish": [parse_publish("80")]}, "port publishing"),
    ({"publish_all": True}, "port publishing"),
    ({"dns": ["1.1.1.1"]}, "dns"),
    ({"dns_search": ["example.com"]}, "dns"),
    ({"dns_options": ["ndots:2"]}, "dns"),
    ({"hostname": "h"}, "hostname"),
    ({"add_hosts": [("a", "10.0.0.1")]}, "custom host-to-IP mapping"),
    ({"ip": "10.0.0.2"}, "network-scoped"),
])
def test_container_mode_conflicts(flags: dict[str, Any], what: str) -> None:
    with pytest.raises(UsageError, match=f"conflicting options: {what}"):
        config(network="container:db", **flags)


def test_container_mode() -> None:
    cfg, _ = config(network="container:db")
    assert (cfg.kind, cfg.target, cfg.networks, cfg.ports) == ("container", "db", [], [])


def test_stored_form_round_trips() -> None:
    cfg, _ = config(network="web", ip="10.89.0.9", network_aliases=["db"], name="n",
                    hostname="h", publish=[parse_publish("127.0.0.1:8000-8001:80-81/udp")],
                    dns=["1.1.1.1"], dns_search=["example.com"], dns_options=["ndots:2"],
                    add_hosts=[("gw", "host-gateway")])
    back = NetConfig.from_json(cfg.to_json(), "network.json")
    assert back.to_json() == cfg.to_json()
    assert [m.host_port for m in back.ports] == [8000, 8001]


@pytest.mark.parametrize("doc", [
    None, {}, {"mode": "a/b", "networks": [], "ports": []},
    {"mode": "bridge", "networks": [{"name": 1, "aliases": []}], "ports": []},
    {"mode": "bridge", "networks": [], "ports": ["80:80:80:80"]},
    {"mode": "bridge", "networks": "x", "ports": []},
])
def test_corrupt_stored_form_names_the_file(doc: object) -> None:
    with pytest.raises(StateError, match=r"network\.json"):
        NetConfig.from_json(doc, "network.json")


def test_slirp4netns_mode_publishes_ports() -> None:
    from launcher.network.ports import parse_publish
    from launcher.network.runconfig import check_mode, from_request
    from launcher.spec.request import RunRequest

    assert check_mode("slirp4netns") == "slirp4netns"
    req = RunRequest("img", network="slirp4netns", publish=[parse_publish("8080:80")])
    cfg = from_request(req, [], lambda _m: None)
    assert cfg.kind == "slirp4netns" and cfg.networks == []
    assert [m.spec() for m in cfg.ports] == ["8080:80/tcp"]
