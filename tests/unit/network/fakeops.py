"""A stand-in for the netlink seam (launcher.network.link.NetOps): interfaces as a dict.

``fail`` names operations that raise RuntimeFailure (as a netlink error would),
after recording the call and without changing anything.
"""

from __future__ import annotations

from typing import Any

from launcher.errors import RuntimeFailure


class FakeNetOps:
    def __init__(self, routes: list[str] | None = None, fail: set[str] | None = None) -> None:
        self.links: dict[str, dict[str, Any]] = {}
        self.routes = list(routes or [])
        self.fail = set(fail or ())
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.forwarding = "0"
        self.closed = False

    def _rec(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if name in self.fail:
            raise RuntimeFailure(f"injected failure: {name}")

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def ensure_bridge(self, name: str, gateway_cidr: str) -> None:
        self._rec("ensure_bridge", name, gateway_cidr)
        link = self.links.setdefault(name, {"kind": "bridge", "addrs": set()})
        if link["kind"] != "bridge":
            raise RuntimeFailure(f"interface {name} exists and is not a bridge")
        link["addrs"].add(gateway_cidr)

    def delete_bridge(self, name: str) -> None:
        self._rec("delete_bridge", name)
        self.links.pop(name, None)

    def add_container_veth(self, host_name: str, netns_fd: int, ifname: str, bridge: str,
                           ip_cidr: str, gateway: str | None, mac: str) -> None:
        self._rec("add_container_veth", host_name, netns_fd, ifname, bridge, ip_cidr, gateway,
                  mac)
        if self.links.get(bridge, {}).get("kind") != "bridge":
            raise RuntimeFailure(f"bridge {bridge} does not exist")
        if host_name in self.links:
            raise RuntimeFailure(f"create veth pair {host_name}/{ifname}: File exists")
        self.links[host_name] = {"kind": "veth", "master": bridge, "netns": netns_fd,
                                 "peer": ifname, "ip": ip_cidr, "gateway": gateway, "mac": mac}

    def delete_link(self, name: str) -> bool:
        self._rec("delete_link", name)
        return self.links.pop(name, None) is not None

    def link_exists(self, name: str) -> bool:
        return name in self.links

    def host_routes(self) -> list[str]:
        self._rec("host_routes")
        return list(self.routes)

    def enable_forwarding(self) -> str:
        self._rec("enable_forwarding")
        old, self.forwarding = self.forwarding, "1"
        return old

    def close(self) -> None:
        self.closed = True

    def veths(self) -> list[str]:
        return sorted(n for n, link in self.links.items() if link["kind"] == "veth")
