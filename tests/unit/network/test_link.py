"""RealNetOps' logic against a fake pyroute2 IPRoute (the kernel side is in
tests/integration/network/test_link_root.py)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

from launcher.errors import RuntimeFailure
from launcher.network import link

REPO = Path(__file__).resolve().parents[3]


class FakeIPRoute:
    def __init__(self) -> None:
        self.links: dict[str, dict[str, Any]] = {"lo": {"index": 1, "kind": None}}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.errors: dict[tuple[str, str], int] = {}
        self.racer = False  # another process creates the link just before our add
        self.routes: list[dict[str, Any]] = []
        self.addrs: list[dict[str, Any]] = []
        self.closed = False

    def _check(self, what: str, cmd: str, kwargs: dict[str, Any]) -> None:
        self.calls.append((what, cmd, kwargs))
        if (what, cmd) in self.errors:
            raise NetlinkError(self.errors[(what, cmd)])

    def _find(self, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        for name, data in self.links.items():
            if name == kwargs.get("ifname") or data["index"] == kwargs.get("index"):
                return name, data
        raise NetlinkError(errno.ENODEV)

    def link(self, cmd: str, **kwargs: Any) -> list[dict[Any, Any]]:
        self._check("link", cmd, kwargs)
        if cmd == "get":
            _name, data = self._find(kwargs)
            return [{"index": data["index"], ("linkinfo", "kind"): data["kind"]}]
        if cmd == "add":
            exists = kwargs["ifname"] in self.links
            if not exists:
                self.links[kwargs["ifname"]] = {"index": len(self.links) + 1,
                                                "kind": kwargs["kind"]}
            if exists or self.racer:
                raise NetlinkError(errno.EEXIST)
        elif cmd == "del":
            name, _data = self._find(kwargs)
            del self.links[name]
        return []

    def addr(self, cmd: str, **kwargs: Any) -> list[dict[str, Any]]:
        self._check("addr", cmd, kwargs)
        return self.addrs

    def route(self, cmd: str, **kwargs: Any) -> list[dict[str, Any]]:
        self._check("route", cmd, kwargs)
        return self.routes

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def ipr(monkeypatch: pytest.MonkeyPatch) -> FakeIPRoute:
    fake = FakeIPRoute()
    monkeypatch.setattr(link, "_new_iproute", lambda: fake)
    return fake


def test_ensure_bridge_creates_addresses_and_raises(ipr: FakeIPRoute) -> None:
    ops = link.RealNetOps()
    ops.ensure_bridge("lnch-1", "10.89.0.1/24")
    index = ipr.links["lnch-1"]["index"]
    assert [(w, c) for w, c, _ in ipr.calls] == [
        ("link", "get"), ("link", "add"), ("link", "get"), ("addr", "add"), ("link", "set")]
    assert ipr.calls[1][2] == {"ifname": "lnch-1", "kind": "bridge",
                               "address": "02:42:0a:59:00:01"}
    assert ipr.calls[3][2] == {"index": index, "address": "10.89.0.1", "prefixlen": 24}
    assert ipr.calls[4][2] == {"index": index, "state": "up"}
    ops.close()
    assert ipr.closed


def test_ensure_bridge_is_idempotent(ipr: FakeIPRoute) -> None:
    with link.RealNetOps() as ops:
        ops.ensure_bridge("lnch-1", "10.89.0.1/24")
        ipr.errors[("addr", "add")] = errno.EEXIST
        ops.ensure_bridge("lnch-1", "10.89.0.1/24")
    assert [c for w, c, _ in ipr.calls if w == "link"].count("add") == 1


def test_ensure_bridge_tolerates_a_racer(ipr: FakeIPRoute) -> None:
    ipr.racer = True
    link.RealNetOps().ensure_bridge("lnch-1", "10.89.0.1/24")
    assert ("addr", "add") in [(w, c) for w, c, _ in ipr.calls]


def test_ensure_bridge_refuses_another_kind(ipr: FakeIPRoute) -> None:
    ipr.links["lnch-1"] = {"index": 5, "kind": "dummy"}
    with pytest.raises(RuntimeFailure, match="not a bridge"):
        link.RealNetOps().ensure_bridge("lnch-1", "10.89.0.1/24")


def test_netlink_errors_become_one_line(ipr: FakeIPRoute) -> None:
    ipr.errors[("link", "add")] = errno.EPERM
    with pytest.raises(RuntimeFailure) as info:
        link.RealNetOps().ensure_bridge("lnch-1", "10.89.0.1/24")
    assert str(info.value) == "set up bridge lnch-1 (10.89.0.1/24): Operation not permitted"
    assert isinstance(info.value.__cause__, NetlinkError)


def test_delete_link(ipr: FakeIPRoute) -> None:
    ops = link.RealNetOps()
    ipr.links["veth1"] = {"index": 9, "kind": "veth"}
    assert ops.link_exists("veth1")
    assert ops.delete_link("veth1") is True
    assert ops.delete_link("veth1") is False
    assert not ops.link_exists("veth1")
    ipr.links["veth2"] = {"index": 10, "kind": "veth"}
    ipr.errors[("link", "del")] = errno.ENODEV  # gone between the lookup and the delete
    assert ops.delete_link("veth2") is False
    ops.delete_bridge("nothing-here")


def test_add_container_veth(ipr: FakeIPRoute, monkeypatch: pytest.MonkeyPatch) -> None:
    inside: list[tuple[Any, ...]] = []
    monkeypatch.setattr(link, "_configure_inside", lambda *args: inside.append(args))
    ipr.links["br"] = {"index": 2, "kind": "bridge"}
    link.RealNetOps().add_container_veth("veth1", 42, "eth0", "br", "10.89.0.2/24",
                                         "10.89.0.1", "02:42:0a:59:00:02")
    add = next(kw for w, c, kw in ipr.calls if (w, c) == ("link", "add"))
    assert add == {"ifname": "veth1", "kind": "veth", "master": 2, "state": "up", "peer": {
        "ifname": "eth0", "net_ns_fd": 42, "address": "02:42:0a:59:00:02"}}
    [hairpin] = [kw for w, c, kw in ipr.calls if (w, c) == ("link", "set")]
    assert hairpin == {"index": ipr.links["veth1"]["index"], "kind": "bridge_slave", "mode": 1}
    assert inside == [(42, "eth0", "10.89.0.2/24", "10.89.0.1")]


def test_add_container_veth_undoes_itself(ipr: FakeIPRoute,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any) -> None:
        raise RuntimeFailure("configure eth0: File exists")

    monkeypatch.setattr(link, "_configure_inside", fail)
    ipr.links["br"] = {"index": 2, "kind": "bridge"}
    with pytest.raises(RuntimeFailure, match="File exists"):
        link.RealNetOps().add_container_veth("veth1", 42, "eth0", "br", "10.89.0.2/24",
                                             None, "02:42:0a:59:00:02")
    assert "veth1" not in ipr.links


def test_add_container_veth_needs_the_bridge(ipr: FakeIPRoute) -> None:
    with pytest.raises(RuntimeFailure, match="bridge br does not exist"):
        link.RealNetOps().add_container_veth("veth1", 42, "eth0", "br", "10.89.0.2/24",
                                             None, "02:42:0a:59:00:02")
    assert "veth1" not in ipr.links


def test_host_routes(ipr: FakeIPRoute) -> None:
    ipr.routes = [
        {"table": 254, "dst_len": 0, "dst": None},  # default route
        {"table": 254, "dst_len": 16, "dst": "172.30.0.0"},
        {"table": 255, "dst_len": 32, "dst": "127.0.0.1"},  # local table
        {"table": 252, "RTA_TABLE": 1000, "dst_len": 24, "dst": "192.168.5.0"},
    ]
    ipr.addrs = [{"address": "10.1.2.3", "prefixlen": 8}]
    assert link.RealNetOps().host_routes() == ["10.0.0.0/8", "172.30.0.0/16",
                                               "192.168.5.0/24"]


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


def test_names_are_checked_before_any_netlink(ipr: FakeIPRoute) -> None:
    with pytest.raises(Exception, match="invalid interface name"):
        link.RealNetOps().delete_link("../x")
    assert ipr.calls == []


def test_importing_the_package_stays_light() -> None:
    code = ("import sys, launcher.network.endpoint, launcher.network.store, "
            "launcher.network.link, launcher.network.ipam\n"
            "heavy = {'pyroute2', 'ipaddress', 'json', 're', 'typing', 'dataclasses', "
            "'socket', 'enum', 'subprocess'}\n"
            "print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, check=True).stdout
    assert out.strip() == "[]"
