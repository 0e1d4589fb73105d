"""A container's networking as Docker shows it: ``inspect``, ``ps``'s PORTS, ``port``.

Read from the bundle's network.json (bundle.py): the config for HostConfig,
what is set up now (``active``) for NetworkSettings — empty addresses once
the container has stopped, as Docker shows a stopped container.
"""

from __future__ import annotations

from launcher.errors import LauncherError, StateError
from launcher.network import bundle as nb

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from launcher.network.model import Endpoint
    from launcher.network.ports import PortMapping
    from launcher.paths import Paths


def _state(bundle: str, running: bool) -> nb.NetState | None:
    try:
        st = nb.load_state(bundle)
    except StateError:
        return None
    if st is not None and not running:
        st.active = None  # what a stopped container still records is being torn down
    return st


def port_bindings(mappings: list[PortMapping], chosen: bool) -> dict[str, Any]:
    """``{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}``; ``chosen``:
    as published (the host address and port filled in), else as asked."""
    out: dict[str, list[dict[str, str]]] = {}
    for m in mappings:
        ip = m.host_ip or ("0.0.0.0" if chosen else "")
        port = str(m.host_port) if m.host_port or chosen else ""
        out.setdefault(f"{m.container_port}/{m.proto}", []).append(
            {"HostIp": ip, "HostPort": port})
    return out


def inspect_fields(paths: Paths, cid: str, bundle: str, running: bool) -> dict[str, Any]:
    """``NetworkSettings`` and the network part of ``HostConfig`` (key ``HostConfig``)."""
    st = _state(bundle, running)
    if st is None:
        return {"NetworkSettings": {"Networks": {}, "Ports": {}},
                "HostConfig": {"NetworkMode": "none"}}
    cfg = st.config
    eps = {e.network: e for e in (st.active.endpoints if st.active else [])}
    names = [n.name for n in cfg.networks] if cfg.kind == "bridge" else \
        ([cfg.mode] if cfg.kind in ("host", "none", "slirp4netns") else [])
    networks = {name: _endpoint_json(paths, cid, name, eps.get(name),
                                     next((n.aliases for n in cfg.networks if n.name == name), []))
                for name in names}
    settings: dict[str, Any] = {
        "SandboxKey": f"/proc/{st.active.pid}/ns/net" if st.active else "",
        "Ports": port_bindings(st.active.ports, True) if st.active else {},
        "Networks": networks}
    default = networks.get("bridge", {})
    for key in ("Gateway", "IPAddress", "IPPrefixLen", "MacAddress"):
        settings[key] = default.get(key, 0 if key == "IPPrefixLen" else "")
    host = {"NetworkMode": cfg.mode, "PortBindings": port_bindings(cfg.ports, False),
            "Dns": list(cfg.dns), "DnsSearch": list(cfg.dns_search),
            "DnsOptions": list(cfg.dns_options),
            "ExtraHosts": [f"{name}:{ip}" for name, ip in cfg.extra_hosts]}
    return {"NetworkSettings": settings, "HostConfig": host}


def _endpoint_json(paths: Paths, cid: str, name: str, ep: Endpoint | None,
                   aliases: list[str]) -> dict[str, Any]:
    import hashlib

    net_id = _network_id(paths, name)
    return {"IPAMConfig": None, "Links": None, "Aliases": list(aliases) or None,
            "MacAddress": ep.mac if ep else "", "NetworkID": net_id,
            "EndpointID": hashlib.sha256(f"{net_id}:{cid}".encode()).hexdigest() if ep else "",
            "Gateway": ep.gateway if ep else "", "IPAddress": ep.ip if ep else "",
            "IPPrefixLen": ep.prefixlen if ep else 0, "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "DNSNames": (ep.aliases or None) if ep else None}


def _network_id(paths: Paths, name: str) -> str:
    from launcher.network.model import is_synthetic, synthetic

    if is_synthetic(name):
        return synthetic(name).id
    from launcher.network import files
    from launcher.network.model import Network

    path = files.network_file(paths, name)
    try:
        return Network.from_json(files.read_json(path, "network file"), path).id
    except (FileNotFoundError, LauncherError):
        return ""  # removed since (network rm) or unreadable: inspect still works


def published(bundle: str, running: bool) -> list[PortMapping]:
    """The mappings a running container publishes, host ports as chosen."""
    st = _state(bundle, running)
    return list(st.active.ports) if st is not None and st.active is not None else []


def ports_column(bundle: str, running: bool) -> str:
    """``ps``'s PORTS: ``0.0.0.0:8080->80/tcp, 127.0.0.1:9000->9000/udp``."""
    return ", ".join(f"{m.host_address()}->{m.container_port}/{m.proto}"
                     for m in published(bundle, running))


def port_lines(bundle: str, running: bool, private: str | None) -> list[str]:
    """``launcher port C [PORT[/PROTO]]``: Docker's lines (``80/tcp -> 0.0.0.0:8080``;
    only the host addresses when a port is named). LauncherError when a named
    port is not published."""
    mappings = published(bundle, running)
    if private is None:
        return [str(m) for m in mappings]
    port, _, proto = private.partition("/")
    proto = proto or "tcp"
    if not (port.isascii() and port.isdigit()) or proto not in ("tcp", "udp", "sctp"):
        from launcher.errors import UsageError

        raise UsageError(f"invalid port {private!r}: expected PORT[/PROTO]")
    hits = [m.host_address() for m in mappings
            if m.container_port == int(port) and m.proto == proto]
    if not hits:
        from launcher.errors import NotFoundError

        raise NotFoundError(f"No public port '{port}/{proto}' published for the container")
    return hits
