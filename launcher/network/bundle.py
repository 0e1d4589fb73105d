"""A container's network files in its bundle: ``network.json`` and the /etc files.

``network.json`` (0600, written atomically)::

    config        runconfig.NetConfig: what the container asked for (every start)
    hostname      the container's host name; host_gateway: what --add-host's
                  host-gateway means for it
    target        container:ID mode: [pid, start time] of the container joined
    active        null, or what is set up *now* for one run of the container:
        pid, pid_start   the init it was set up for
        networks         names being or already connected
        endpoints        model.Endpoint records, as connected (eth0 first)
        ip, ports        the address and mappings published (host ports chosen)

``active`` is written *ahead* of each host change (the networks before their
veths, the ports before their rules), so ``teardown`` after a crash at any
point knows everything it has to undo; it is cleared once undone.

``hosts``, ``resolv.conf`` and ``hostname`` are bind-mounted at /etc/… in the
container (and in containers joining its namespace). Bind mounts pin the
inode: later changes go through ``hostsfile.rewrite_hosts`` (in place).
"""

from __future__ import annotations

import os

from launcher.errors import StateError, UsageError
from launcher.network import files
from launcher.network.model import DEFAULT_NETWORK, Endpoint

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from launcher.network.ports import PortMapping
    from launcher.network.runconfig import NetConfig
    from launcher.paths import Paths

NETWORK_FILE = "network.json"
HOSTS, RESOLV_CONF, HOSTNAME = "hosts", "resolv.conf", "hostname"
# bundle file -> where the container sees it
ETC_FILES = ((HOSTS, "/etc/hosts"), (RESOLV_CONF, "/etc/resolv.conf"),
             (HOSTNAME, "/etc/hostname"))


def bundle_dir(paths: Paths, cid: str) -> str:
    """``storage/containers/<cid>`` (backend.linux.layout makes it)."""
    return os.path.join(paths.storage, "containers", cid)


class Active:
    """What one run of the container has set up (see the module docstring)."""

    __slots__ = ("endpoints", "helper", "ip", "networks", "pid", "pid_start", "ports")

    def __init__(self, pid: int, pid_start: int) -> None:
        self.pid = pid
        self.pid_start = pid_start
        self.networks: list[str] = []
        self.endpoints: list[Endpoint] = []
        self.ip = ""
        self.ports: list[PortMapping] = []
        self.helper = (0, 0)  # (pid, start time) of slirp4netns, for slirp4netns mode

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "pid_start": self.pid_start, "helper": list(self.helper),
                "networks": list(self.networks),
                "endpoints": [e.to_json() for e in self.endpoints], "ip": self.ip,
                "ports": [m.spec() for m in self.ports]}

    @classmethod
    def parse(cls, data: Any, source: str) -> Active:
        from launcher.network.ports import parse_publish

        if type(data) is not dict or type(data.get("pid")) is not int \
                or type(data.get("pid_start")) is not int:
            raise ValueError("active: no pid")
        act = cls(data["pid"], data["pid_start"])
        act.networks = [str(n) for n in data.get("networks") or []]
        act.endpoints = [Endpoint.from_json(e, source) for e in data.get("endpoints") or []]
        act.ip = str(data.get("ip") or "")
        helper = data.get("helper") or [0, 0]
        if type(helper) is list and len(helper) == 2 and all(type(v) is int for v in helper):
            act.helper = (helper[0], helper[1])
        act.ports = [m for spec in data.get("ports") or [] for m in parse_publish(str(spec))]
        return act


class NetState:
    """The contents of ``network.json``."""

    __slots__ = ("active", "config", "host_gateway", "hostname", "target")

    def __init__(self, config: NetConfig, hostname: str, host_gateway: str = "") -> None:
        self.config = config
        self.hostname = hostname
        self.host_gateway = host_gateway
        self.target: tuple[int, int] | None = None
        self.active: Active | None = None

    def to_json(self) -> dict[str, Any]:
        return {"config": self.config.to_json(), "hostname": self.hostname,
                "host_gateway": self.host_gateway,
                "target": list(self.target) if self.target else None,
                "active": self.active.to_json() if self.active else None}


def load_state(bundle: str) -> NetState | None:
    """The bundle's network.json; None when it has none (a container from before
    networking, or one whose run failed before it was written)."""
    from launcher.network.runconfig import NetConfig

    path = os.path.join(bundle, NETWORK_FILE)
    try:
        data = files.read_json(path, "network state")
    except FileNotFoundError:
        return None
    try:
        if type(data) is not dict:
            raise ValueError("not a JSON object")
        st = NetState(NetConfig.from_json(data.get("config"), path), str(data["hostname"]),
                      str(data.get("host_gateway") or ""))
        target = data.get("target")
        if target is not None:
            st.target = (int(target[0]), int(target[1]))
        if data.get("active") is not None:
            st.active = Active.parse(data["active"], path)
    except (ValueError, TypeError, KeyError, IndexError, UsageError) as exc:
        raise StateError(f"network state {path} is corrupt ({exc})") from None
    return st


def save_state(bundle: str, st: NetState) -> None:
    """Atomic (temp + rename), 0600, without fsync: like the container's record,
    it describes a container whose processes a crash would end anyway, and the
    start path should not wait for the disk."""
    from launcher import fastjson

    path = os.path.join(bundle, NETWORK_FILE)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    try:
        os.write(fd, fastjson.dumps(st.to_json()).encode())
    finally:
        os.close(fd)
    os.rename(tmp, path)


def write_file(bundle: str, name: str, text: str) -> None:
    """A new /etc file of the bundle, 0644 (the container reads it as any user)."""
    path = os.path.join(bundle, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o644)
    try:
        os.fchmod(fd, 0o644)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


# -- /etc/hosts ------------------------------------------------------------------


def dns_names(cfg: NetConfig, cid: str, aliases: list[str]) -> list[str]:
    """What peers call a container on a network: its name, the network's
    aliases, its short id (Docker's DNSNames)."""
    names = ([cfg.name] if cfg.name else []) + list(aliases) + [cid[:12]]
    return list(dict.fromkeys(names))


def hosts_text(paths: Paths, cid: str, st: NetState) -> str:
    """The container's /etc/hosts now: itself, --add-host, and on user-defined
    networks the other members (their endpoint records) by name and alias."""
    from launcher.network.dns import read_host_file
    from launcher.network.hostsfile import hosts_file

    cfg = st.config
    gateway = st.host_gateway or None
    try:
        if cfg.kind == "host":
            return hosts_file(hostname=st.hostname, ip=None, extra_hosts=cfg.extra_hosts,
                              network_mode="host", host_gateway=gateway,
                              host_text=read_host_file("/etc/hosts") or "")
        eps = st.active.endpoints if st.active else []
        own = ([cfg.name] if cfg.name else []) + [a for n in cfg.networks for a in n.aliases]
        return hosts_file(hostname=st.hostname, ip=eps[0].ip if eps else None,
                          aliases=list(dict.fromkeys(own)), extra_hosts=cfg.extra_hosts,
                          peers=_peers(paths, cid, eps), host_gateway=gateway)
    except ValueError as exc:
        raise UsageError(f"/etc/hosts of {cid[:12]}: {exc}") from None


def _peers(paths: Paths, cid: str, eps: list[Endpoint]) -> list[tuple[str, list[str]]]:
    """(ip, names) of the other members of the container's user-defined networks
    (the default ``bridge`` has none: Docker's legacy network resolves no names)."""
    out: list[tuple[str, list[str]]] = []
    for ep in eps:
        if ep.network == DEFAULT_NETWORK:
            continue
        from launcher.network import endpoint

        try:
            others = endpoint.endpoints(paths, ep.network)
        except StateError:
            continue  # a corrupt record: prune removes it; names of the others still resolve
        out += [(o.ip, o.aliases) for o in others if o.container_id != cid and o.aliases]
    return out


def network_members(paths: Paths, networks: list[str]) -> list[str]:
    """Ids of the containers with an endpoint on any of the user-defined ``networks``."""
    from launcher.network import endpoint

    found: dict[str, None] = {}
    for name in networks:
        if name == DEFAULT_NETWORK:
            continue
        try:
            found.update((e.container_id, None) for e in endpoint.endpoints(paths, name))
        except StateError:
            continue
    return list(found)


def refresh_hosts(paths: Paths, cids: list[str]) -> None:
    """Rewrite the hosts files of these containers from their state and the
    endpoint records now. Call under ``files.hosts_lock``: two writers that each
    read the records before the other's change would lose one. A container
    without network state (gone meanwhile, or from before networking) is skipped."""
    from launcher.network.hostsfile import rewrite_hosts

    for cid in cids:
        bundle = bundle_dir(paths, cid)
        try:
            st = load_state(bundle)
        except StateError:
            continue
        if st is None or st.config.kind != "bridge":
            continue
        try:
            rewrite_hosts(os.path.join(bundle, HOSTS), hosts_text(paths, cid, st))
        except UsageError:
            continue
        except Exception:
            if os.path.isdir(bundle):
                raise  # a real failure (the bundle is there): say so
