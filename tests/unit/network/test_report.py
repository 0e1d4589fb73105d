"""inspect's NetworkSettings/HostConfig, ps's PORTS and `port` lines, from network.json."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from launcher.errors import NotFoundError, UsageError
from launcher.network import bundle as nb
from launcher.network import report
from launcher.network.model import Endpoint
from launcher.network.ports import parse_publish
from launcher.network.runconfig import NetConfig, NetRequest
from launcher.paths import Paths

CID = "ab" * 32


@pytest.fixture
def bundle(tmp_path: Path) -> tuple[Paths, str]:
    paths = Paths(str(tmp_path / "storage"), str(tmp_path / "state"))
    path = nb.bundle_dir(paths, CID)
    os.makedirs(path)
    cfg = NetConfig("bridge")
    cfg.networks = [NetRequest("bridge")]
    cfg.ports = parse_publish("8080:80") + parse_publish("127.0.0.1::53/udp")
    cfg.dns, cfg.extra_hosts = ["1.1.1.1"], [("db", "10.0.0.5")]
    st = nb.NetState(cfg, "abababababab")
    st.active = nb.Active(os.getpid(), 0)
    st.active.networks = ["bridge"]
    st.active.endpoints = [Endpoint("bridge", CID, "veth00000000", "eth0", "10.88.0.2", 16,
                                    "02:42:0a:58:00:02", "10.88.0.1", ["abababababab"])]
    st.active.ip = "10.88.0.2"
    st.active.ports = parse_publish("8080:80") + parse_publish("127.0.0.1:41000:53/udp")
    nb.save_state(path, st)
    return paths, path


def test_ports_column_and_port_lines(bundle: tuple[Paths, str]) -> None:
    _paths, path = bundle
    assert report.ports_column(path, True) == "0.0.0.0:8080->80/tcp, 127.0.0.1:41000->53/udp"
    assert report.ports_column(path, False) == ""
    assert report.port_lines(path, True, None) == ["80/tcp -> 0.0.0.0:8080",
                                                   "53/udp -> 127.0.0.1:41000"]
    assert report.port_lines(path, True, "53/udp") == ["127.0.0.1:41000"]
    assert report.port_lines(path, True, "80") == ["0.0.0.0:8080"]
    with pytest.raises(NotFoundError, match="No public port '81/tcp'"):
        report.port_lines(path, True, "81")
    with pytest.raises(UsageError):
        report.port_lines(path, True, "x/tcp")


def test_inspect_of_a_running_container(bundle: tuple[Paths, str]) -> None:
    paths, path = bundle
    doc = report.inspect_fields(paths, CID, path, True)
    settings = doc["NetworkSettings"]
    assert settings["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
                                 "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "41000"}]}
    net = settings["Networks"]["bridge"]
    assert (net["IPAddress"], net["Gateway"], net["MacAddress"], net["IPPrefixLen"]) == (
        "10.88.0.2", "10.88.0.1", "02:42:0a:58:00:02", 16)
    assert settings["IPAddress"] == "10.88.0.2"
    host = doc["HostConfig"]
    assert host["NetworkMode"] == "bridge"
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                                    "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    assert (host["Dns"], host["ExtraHosts"]) == (["1.1.1.1"], ["db:10.0.0.5"])


def test_inspect_of_a_stopped_container_has_no_addresses(bundle: tuple[Paths, str]) -> None:
    paths, path = bundle
    settings = report.inspect_fields(paths, CID, path, False)["NetworkSettings"]
    assert settings["Ports"] == {}
    assert settings["Networks"]["bridge"]["IPAddress"] == ""


def test_inspect_without_network_state(tmp_path: Path) -> None:
    paths = Paths(str(tmp_path / "s"), str(tmp_path / "t"))
    doc = report.inspect_fields(paths, CID, str(tmp_path), True)
    assert doc["NetworkSettings"]["Networks"] == {}
