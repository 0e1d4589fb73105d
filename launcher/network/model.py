"""What a network and an endpoint are: plain records, validated on load.

A :class:`Network` is one bridge network (``storage/networks/<name>.json``);
an :class:`Endpoint` is one container's attachment to it
(``state/networks/<name>/endpoints/<cid>.json``) — the host veth name is kept
so that ``rm -f`` or ``system prune`` after a killed CLI can remove it.
Loading checks every field: a corrupt file is a StateError naming it, and no
unchecked string from a file reaches a path or a netlink request.

The predefined ``host`` and ``none`` networks are never stored: :func:`synthetic`
makes them for ``network ls``/``inspect``, as Docker lists them.
"""

from __future__ import annotations

from launcher.errors import StateError, UsageError
from launcher.network import addr

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_NETWORK = "bridge"  # Docker's name for the default network
DEFAULT_BRIDGE = "launcher0"  # its interface (Docker: docker0, podman: podman0)
BRIDGE_PREFIX = "lnch-"  # user networks: lnch-<first 8 hex of the id>
PREDEFINED = ("bridge", "host", "none")
# Fixed ids for the synthetic networks, stable across runs like stored ones:
# sha256 of "launcher predefined network <name>".
_SYNTHETIC = {
    "host": ("host", "18251c1d01c18e44071053581dd05ba787c3fe0cdb7fa089a7bd831409d8a00b"),
    "none": ("null", "b10aa3214c6b9d3724d062f6c5f3ba465cc055d195f11378ef059037337b03a7"),
}
IFNAMSIZ = 16  # the kernel's limit, with the NUL: names have at most 15 bytes


def check_name(name: str, what: str = "network") -> str:
    """A network name or container id: ``[A-Za-z0-9][A-Za-z0-9_.-]*``, no ``..``
    (it becomes a file name)."""
    ok = (0 < len(name) <= 128 and name[0].isascii() and name[0].isalnum()
          and all(c.isascii() and (c.isalnum() or c in "_.-") for c in name)
          and ".." not in name)
    if not ok:
        raise UsageError(f"invalid {what} name {name!r}: use [A-Za-z0-9][A-Za-z0-9_.-]*")
    return name


def check_ifname(name: str) -> str:
    """An interface name the kernel accepts (``dev_valid_name``): 1-15 bytes,
    no ``/``, ``:`` or whitespace, not ``.`` or ``..``."""
    ok = (0 < len(name.encode()) < IFNAMSIZ and name not in (".", "..") and name.isascii()
          and name.isprintable() and not any(c in "/: " for c in name))
    if not ok:
        raise UsageError(f"invalid interface name {name!r}")
    return name


def _check_mac(mac: str) -> str:
    parts = mac.split(":")
    if len(parts) != 6 or not all(len(p) == 2 and p.isascii() and all(
            c in "0123456789abcdef" for c in p) for p in parts):
        raise ValueError(f"invalid MAC address {mac!r}")
    return mac


def _field(data: dict[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    if type(value) is not kind:
        raise ValueError(f"field {key!r} is missing or not a {kind.__name__}")
    return value


def _labels(data: dict[str, Any]) -> dict[str, str]:
    labels = _field(data, "labels", dict)
    if not all(type(k) is str and type(v) is str for k, v in labels.items()):
        raise ValueError("labels must map strings to strings")
    return dict(labels)


class Network:
    """A bridge network (or, with driver ``host``/``null``, a synthetic one)."""

    __slots__ = ("bridge", "created", "driver", "gateway", "id", "internal", "labels", "name",
                 "subnet")

    def __init__(self, name: str, nid: str, subnet: str, gateway: str, bridge: str,
                 internal: bool = False, created: str = "",
                 labels: dict[str, str] | None = None, driver: str = "bridge") -> None:
        self.name = name
        self.id = nid  # 64 lowercase hex
        self.driver = driver  # "bridge"; "host"/"null" for the synthetic ones
        self.subnet = subnet  # canonical CIDR, "10.89.0.0/24"
        self.gateway = gateway  # the bridge's address, "10.89.0.1"
        self.bridge = bridge  # interface name, at most 15 bytes
        self.internal = internal  # no NAT, no outbound traffic (firewall.py)
        self.created = created  # RFC 3339
        self.labels = dict(labels or {})

    @property
    def prefixlen(self) -> int:
        return int(self.subnet.rpartition("/")[2])

    @property
    def gateway_cidr(self) -> str:
        """The bridge's address with the subnet's prefix, ``10.89.0.1/24``."""
        return f"{self.gateway}/{self.prefixlen}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "id": self.id, "driver": self.driver, "subnet": self.subnet,
                "gateway": self.gateway, "bridge": self.bridge, "internal": self.internal,
                "created": self.created, "labels": dict(self.labels)}

    @classmethod
    def from_json(cls, data: object, source: str) -> Network:
        """A stored network; StateError naming ``source`` if any field is wrong."""
        try:
            return cls._parse(data)
        except (ValueError, UsageError) as exc:
            raise StateError(f"network file {source} is corrupt ({exc}): delete it and "
                             "create the network again") from None

    @classmethod
    def _parse(cls, data: object) -> Network:
        from launcher import rfc3339

        if type(data) is not dict:
            raise ValueError("not a JSON object")
        nid = _field(data, "id", str)
        if len(nid) != 64 or not all(c in "0123456789abcdef" for c in nid):
            raise ValueError("id is not 64 lowercase hex digits")
        if _field(data, "driver", str) != "bridge":
            raise ValueError(f"unknown driver {data['driver']!r}")
        subnet = addr.parse_cidr(_field(data, "subnet", str))
        first, last = addr.host_range(subnet)
        gateway = addr.parse_ip(_field(data, "gateway", str))
        if not first <= gateway <= last:
            raise ValueError("gateway outside the subnet's host range")
        rfc3339.parse_time(_field(data, "created", str))
        return cls(check_name(_field(data, "name", str)), nid, data["subnet"], data["gateway"],
                   check_ifname(_field(data, "bridge", str)), _field(data, "internal", bool),
                   data["created"], _labels(data))


def synthetic(name: str) -> Network:
    """The predefined ``host`` or ``none`` network (drivers ``host``, ``null``)."""
    driver, nid = _SYNTHETIC[name]
    return Network(name, nid, "", "", "", driver=driver)


def is_synthetic(name: str) -> bool:
    return name in _SYNTHETIC


class Endpoint:
    """One container's interface on one network."""

    __slots__ = ("aliases", "container_id", "gateway", "host_veth", "ifname", "ip", "mac",
                 "network", "prefixlen")

    def __init__(self, network: str, container_id: str, host_veth: str, ifname: str, ip: str,
                 prefixlen: int, mac: str, gateway: str = "",
                 aliases: list[str] | None = None) -> None:
        self.network = network  # the network's name
        self.container_id = container_id
        self.host_veth = host_veth  # the host end, enslaved to the bridge
        self.ifname = ifname  # the container end: eth0, eth1, ...
        self.ip = ip
        self.prefixlen = prefixlen
        self.mac = mac
        self.gateway = gateway  # "" when the network is internal
        self.aliases = list(aliases or [])  # extra DNS names on this network (dns.py)

    @property
    def ip_cidr(self) -> str:
        return f"{self.ip}/{self.prefixlen}"

    def to_json(self) -> dict[str, Any]:
        return {"network": self.network, "container_id": self.container_id,
                "host_veth": self.host_veth, "ifname": self.ifname, "ip": self.ip,
                "prefixlen": self.prefixlen, "mac": self.mac, "gateway": self.gateway,
                "aliases": list(self.aliases)}

    @classmethod
    def from_json(cls, data: object, source: str) -> Endpoint:
        """A stored endpoint; StateError naming ``source`` if any field is wrong."""
        try:
            return cls._parse(data)
        except (ValueError, UsageError) as exc:
            raise StateError(f"endpoint file {source} is corrupt ({exc})") from None

    @classmethod
    def _parse(cls, data: object) -> Endpoint:
        if type(data) is not dict:
            raise ValueError("not a JSON object")
        prefixlen = _field(data, "prefixlen", int)
        if not 0 <= prefixlen <= 32:
            raise ValueError("prefixlen out of range")
        addr.parse_ip(_field(data, "ip", str))
        gateway = _field(data, "gateway", str)
        if gateway:
            addr.parse_ip(gateway)
        aliases = _field(data, "aliases", list)
        if not all(type(a) is str for a in aliases):
            raise ValueError("aliases must be strings")
        return cls(check_name(_field(data, "network", str)),
                   check_name(_field(data, "container_id", str), "container"),
                   check_ifname(_field(data, "host_veth", str)),
                   check_ifname(_field(data, "ifname", str)), data["ip"], prefixlen,
                   _check_mac(_field(data, "mac", str)), gateway, aliases)
