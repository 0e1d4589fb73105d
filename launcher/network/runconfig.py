"""What a container asks of the network (``run --network -p -P --dns ...``), checked. Pure.

``from_request`` turns the flags into a :class:`NetConfig` once, with Docker's
conflict errors and warnings; the config is kept in the bundle's
``network.json`` (container.py) so that every start of the container — a
monitor's restart too — sets up the same thing. ``mode`` is Docker's
``HostConfig.NetworkMode``:

==================  ==========================================================
``bridge`` / NAME   a new network namespace on the default ``bridge`` network
                    or the user-defined network NAME (``kind`` "bridge")
``none``            a new network namespace with only ``lo``
``host``            the host's network namespace
``container:ID``    the namespace of another (running) container, and its
                    /etc/hosts, /etc/resolv.conf and hostname
``slirp4netns``     a new network namespace reaching out through slirp4netns,
                    user-mode networking that needs no root (slirp.py): the
                    default of rootless containers
==================  ==========================================================
"""

from __future__ import annotations

from launcher.errors import StateError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from launcher.network.ports import PortMapping
    from launcher.spec.request import RunRequest

PREDEFINED_MODES = ("bridge", "none", "host", "slirp4netns")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def _is_name(text: str) -> bool:
    return (0 < len(text) <= 128 and text[0].isascii() and text[0].isalnum()
            and _NAME_CHARS.issuperset(text) and ".." not in text)


def check_mode(text: str) -> str:
    """A ``--network`` value, canonical (``default`` is ``bridge``); ValueError."""
    if text == "default":
        return "bridge"
    if text in PREDEFINED_MODES:
        return text
    kind, colon, ref = text.partition(":")
    if colon:
        if kind != "container" or not _is_name(ref):
            raise ValueError("expected bridge, none, host, slirp4netns, container:NAME|ID or a "
                             "network name")
        return text
    if not _is_name(text):
        raise ValueError("expected bridge, none, host, container:NAME|ID or a network name "
                         "([A-Za-z0-9][A-Za-z0-9_.-]*)")
    return text


class NetRequest:
    """One network to join: its name, ``--network-alias`` names, ``--ip``."""

    __slots__ = ("aliases", "ip", "name")

    def __init__(self, name: str, aliases: list[str] | None = None,
                 ip: str | None = None) -> None:
        self.name = name
        self.aliases = list(aliases or [])
        self.ip = ip

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "aliases": list(self.aliases), "ip": self.ip}


class NetConfig:
    """The network side of one container (see the module docstring)."""

    __slots__ = ("dns", "dns_options", "dns_search", "extra_hosts", "hostname", "mode", "name",
                 "networks", "ports")

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.networks: list[NetRequest] = []  # kind "bridge": the first carries the default route
        self.ports: list[PortMapping] = []  # -p and -P, host port 0 = chosen at start
        self.hostname: str | None = None  # --hostname; None: the default
        self.name = ""  # --name: the container's name on its networks
        self.dns: list[str] = []
        self.dns_search: list[str] = []
        self.dns_options: list[str] = []
        self.extra_hosts: list[tuple[str, str]] = []  # --add-host (name, ip | host-gateway)

    @property
    def kind(self) -> str:
        """``bridge``, ``none``, ``host``, ``slirp4netns`` or ``container``."""
        if self.mode in ("none", "host", "slirp4netns"):
            return self.mode
        return "container" if self.mode.startswith("container:") else "bridge"

    @property
    def target(self) -> str:
        """The container whose namespace a ``container:`` mode joins."""
        return self.mode.partition(":")[2] if self.kind == "container" else ""

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "networks": [n.to_json() for n in self.networks],
                "ports": [m.spec() for m in self.ports], "hostname": self.hostname,
                "name": self.name, "dns": list(self.dns), "dns_search": list(self.dns_search),
                "dns_options": list(self.dns_options),
                "extra_hosts": [list(h) for h in self.extra_hosts]}

    @classmethod
    def from_json(cls, data: object, source: str) -> NetConfig:
        """The stored config; StateError naming ``source`` when a field is wrong."""
        try:
            return cls._parse(data)
        except (ValueError, TypeError, KeyError, UsageError) as exc:
            raise StateError(f"network config {source} is corrupt ({exc})") from None

    @classmethod
    def _parse(cls, data: object) -> NetConfig:
        from launcher.network.ports import parse_publish

        if type(data) is not dict:
            raise ValueError("not a JSON object")
        cfg = cls(check_mode(_str(data["mode"])))
        for net in _list(data["networks"]):
            if type(net) is not dict:
                raise ValueError("a network is not an object")
            ip = net.get("ip")
            cfg.networks.append(NetRequest(check_mode(_str(net["name"])),
                                           [_str(a) for a in _list(net["aliases"])],
                                           None if ip is None else _str(ip)))
        cfg.ports = [m for spec in _list(data["ports"]) for m in parse_publish(_str(spec))]
        hostname = data.get("hostname")
        cfg.hostname = None if hostname is None else _str(hostname)
        cfg.name = _str(data.get("name", ""))
        for key in ("dns", "dns_search", "dns_options"):
            setattr(cfg, key, [_str(v) for v in _list(data.get(key, []))])
        pairs = [_list(h) for h in _list(data.get("extra_hosts", []))]
        cfg.extra_hosts = [(_str(h[0]), _str(h[1])) for h in pairs if len(h) == 2]
        return cfg


def _str(value: object) -> str:
    if type(value) is not str:
        raise ValueError(f"{value!r} is not a string")
    return value


def _list(value: object) -> list[Any]:
    if type(value) is not list:
        raise ValueError(f"{value!r} is not a list")
    return value


def from_request(req: RunRequest, exposed: Iterable[str],
                 warn: Callable[[str], object]) -> NetConfig:
    """The network config of ``run``: Docker's conflicts are UsageErrors (exit
    125); ``-p`` with ``--network host``/``none`` is dropped with a warning.
    ``req.network`` must be resolved already (None is the default network's job)."""
    mode = check_mode(req.network or "bridge")
    cfg = NetConfig(mode)
    cfg.hostname, cfg.name = req.hostname, req.name or ""
    cfg.dns, cfg.dns_search, cfg.dns_options = list(req.dns), list(req.dns_search), \
        list(req.dns_options)
    cfg.extra_hosts = list(req.add_hosts)
    explicit = [m for group in req.publish for m in group]
    kind = cfg.kind
    if kind == "container":
        _check_container_mode(req, explicit)
        return cfg
    if kind in ("host", "none") and (explicit or req.publish_all):
        warn(f"WARNING: Published ports are discarded when using {mode} network mode")
    elif kind in ("bridge", "slirp4netns"):
        from launcher.network import ports

        try:
            cfg.ports = explicit + ports.publish_all(exposed, explicit) if req.publish_all \
                else explicit
        except ValueError as exc:
            raise UsageError(f"-P: {exc}") from None
        ports.check_conflicts(cfg.ports, [])  # the same host port twice in one run
    user_defined = kind == "bridge" and mode != "bridge"
    if req.ip and not user_defined:
        raise UsageError("user specified IP address is supported on user defined networks only")
    if req.network_aliases and not user_defined:
        raise UsageError("network-scoped aliases are supported only for containers in user "
                         "defined networks")
    if kind == "bridge":
        cfg.networks = [NetRequest(mode, list(req.network_aliases), req.ip)]
    return cfg


def _check_container_mode(req: RunRequest, explicit: list[PortMapping]) -> None:
    """Docker's refusals for ``--network container:X``: the namespace, and with it
    hosts, DNS and the hostname, belong to the other container."""
    conflicts = (
        (explicit or req.publish_all, "port publishing and the container type network mode"),
        (req.dns or req.dns_search or req.dns_options, "dns and the network mode"),
        (req.hostname, "hostname and the network mode"),
        (req.add_hosts, "custom host-to-IP mapping and the network mode"),
        (req.ip or req.network_aliases, "network-scoped settings (--ip, --network-alias) and "
                                        "the container type network mode"),
    )
    for present, what in conflicts:
        if present:
            raise UsageError(f"conflicting options: {what}")
