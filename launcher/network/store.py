"""The networks of a launcher root: ``storage/networks/<name>.json``.

``create`` picks a free subnet under an flock on that directory (so two
parallel creates never take the same one) and claims the name with an
exclusive link, so of two creates of one name exactly one wins. A subnet
chosen for the user comes from the pool 10.89.0.0/24, 10.89.1.0/24, ... and
overlaps neither another launcher network nor any route or address of the
host (``NetOps.host_routes``); a subnet the user names is refused only if it
overlaps another launcher network (Docker does not check host routes then).

The default network ``bridge`` (interface ``launcher0``, 10.88.0.0/16 unless
that is taken) is made on first use and cannot be removed; ``host`` and
``none`` are synthetic (model.synthetic), listed but never stored.
Removing a network that still has leases is refused (``ipam``).
"""

from __future__ import annotations

import os

from launcher.errors import ConflictError, NotFoundError, UnsupportedError, UsageError
from launcher.network import addr, files, ipam
from launcher.network.model import (
    BRIDGE_PREFIX,
    DEFAULT_BRIDGE,
    DEFAULT_NETWORK,
    PREDEFINED,
    Network,
    check_name,
    is_synthetic,
    synthetic,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import builtins

    from launcher.network.link import NetOps
    from launcher.paths import Paths

DEFAULT_SUBNET = "10.88.0.0/16"
POOL_BASE = "10.89.0.0"  # + i * 256 for i < POOL_SIZE: the /24s of 10.89.0.0/16
POOL_PREFIX = 24
POOL_SIZE = 256


class NetworkStore:
    """Create, find, list and remove the networks of one launcher root.

    ``ops`` is asked for the host's routes only when a subnet is chosen."""

    __slots__ = ("ops", "paths")

    def __init__(self, paths: Paths, ops: NetOps) -> None:
        self.paths = paths
        self.ops = ops

    @property
    def directory(self) -> str:
        return files.networks_dir(self.paths)

    def create(self, name: str, subnet: str | None = None, gateway: str | None = None,
               internal: bool = False, labels: dict[str, str] | None = None) -> Network:
        """A new bridge network (``network create``). ConflictError if the name
        is taken or the subnet overlaps another network's."""
        check_name(name)
        if name in PREDEFINED:
            raise ConflictError(f"network with name {name} already exists (it is predefined)")
        if gateway and not subnet:
            raise UsageError("a gateway needs a subnet (--subnet)")
        wanted = _parse_subnet(subnet) if subnet else None
        with files.DirLock(self.directory):
            if os.path.exists(files.network_file(self.paths, name)):
                raise ConflictError(f"network with name {name} already exists")
            stored = self._stored()
            if wanted is not None:
                for other in stored:
                    if addr.overlaps(wanted, addr.parse_cidr(other.subnet)):
                        raise ConflictError(f"subnet {subnet} overlaps with network "
                                            f"{other.name} ({other.subnet})")
            else:
                wanted = self._free_subnet(stored)
            nid = _new_id({n.bridge for n in stored})
            net = Network(name, nid, addr.format_cidr(*wanted), _gateway(wanted, gateway),
                          BRIDGE_PREFIX + nid[:8], internal, _now(), labels)
            self._claim(net)
        return net

    def ensure_default(self) -> Network:
        """The default network ``bridge``, made now if this root has none yet."""
        try:
            return self._load(DEFAULT_NETWORK)
        except FileNotFoundError:
            pass
        with files.DirLock(self.directory):
            try:
                return self._load(DEFAULT_NETWORK)  # a racer made it meanwhile
            except FileNotFoundError:
                pass
            stored = self._stored()
            subnet = addr.parse_cidr(DEFAULT_SUBNET)
            busy = [addr.parse_cidr(n.subnet) for n in stored] + self._host_subnets()
            if any(addr.overlaps(subnet, other) for other in busy):
                subnet = self._free_subnet(stored)
            net = Network(DEFAULT_NETWORK, _new_id(set()), addr.format_cidr(*subnet),
                          _gateway(subnet, None), DEFAULT_BRIDGE, False, _now(), {})
            self._claim(net)
        return net

    def get(self, name_or_id: str) -> Network:
        """By full id, name or unique id prefix (Docker's order). A name costs
        one file read: ``run --network NAME`` does not load every network."""
        if is_synthetic(name_or_id):
            return synthetic(name_or_id)
        if name_or_id == DEFAULT_NETWORK:
            return self.ensure_default()
        is_hex = bool(name_or_id) and all(c in "0123456789abcdef" for c in name_or_id)
        if not (is_hex and len(name_or_id) == 64):
            try:
                return self._load(check_name(name_or_id))
            except (FileNotFoundError, UsageError):
                pass
        if is_hex:
            everything = self._stored() + [synthetic(n) for n in PREDEFINED if is_synthetic(n)]
            matches = [n for n in everything if n.id.startswith(name_or_id)]
            exact = [n for n in matches if n.id == name_or_id]
            if exact or len(matches) == 1:
                return (exact or matches)[0]
            if len(name_or_id) == 64:  # a 64-hex name, looked up after the ids
                try:
                    return self._load(name_or_id)
                except FileNotFoundError:
                    pass
            if matches:
                raise ConflictError(f"network {name_or_id} is ambiguous ({len(matches)} "
                                    "matches found based on ID prefix)")
        raise NotFoundError(f"network {name_or_id} not found")

    def list(self) -> builtins.list[Network]:
        """Every network by name: the stored ones (the default made if missing)
        and the synthetic ``host`` and ``none``."""
        self.ensure_default()
        nets = self._stored() + [synthetic(n) for n in PREDEFINED if is_synthetic(n)]
        return sorted(nets, key=lambda n: n.name)

    def remove(self, name_or_id: str) -> Network:
        """Delete a network's file and state; the network, so that the caller
        removes its bridge and firewall rules. ConflictError for the predefined
        networks and for a network that still has endpoints."""
        net = self.get(name_or_id)
        if net.name in PREDEFINED:
            raise ConflictError(f"{net.name} is a pre-defined network and cannot be removed")
        with files.DirLock(files.state_dir(self.paths, net.name)):
            # Under the lease lock: no connect can lease an address meanwhile,
            # and one that waits re-reads the network file and finds it gone.
            if ipam.leases(self.paths, net.name) or _listdir(
                    files.endpoints_dir(self.paths, net.name)):
                raise ConflictError(f"error while removing network: network {net.name} id "
                                    f"{net.id} has active endpoints")
            files.remove_file(files.network_file(self.paths, net.name))
            from launcher.fsutil import remove_tree

            remove_tree(files.state_dir(self.paths, net.name))
        return net

    def _load(self, name: str) -> Network:
        path = files.network_file(self.paths, name)
        net = Network.from_json(files.read_json(path, "network file"), path)
        if net.name != name:
            from launcher.errors import StateError

            raise StateError(f"network file {path} is corrupt (it names network {net.name})")
        return net

    def _stored(self) -> builtins.list[Network]:
        try:
            entries = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return []
        nets = []
        for entry in entries:
            if entry.endswith(".json") and not entry.startswith("."):
                try:
                    nets.append(self._load(entry[:-5]))
                except FileNotFoundError:
                    continue  # removed meanwhile
        return nets

    def _host_subnets(self) -> builtins.list[tuple[int, int]]:
        return [addr.parse_cidr(c, strict=False) for c in self.ops.host_routes()]

    def _free_subnet(self, stored: builtins.list[Network]) -> tuple[int, int]:
        busy = [addr.parse_cidr(n.subnet) for n in stored] + self._host_subnets()
        base = addr.parse_ip(POOL_BASE)
        for i in range(POOL_SIZE):
            candidate = (base + (i << (32 - POOL_PREFIX)), POOL_PREFIX)
            if not any(addr.overlaps(candidate, other) for other in busy):
                return candidate
        raise ConflictError("could not find an available, non-overlapping IPv4 address pool "
                            f"among the defaults ({POOL_BASE}/16 in /{POOL_PREFIX}s) to assign "
                            "to the network")

    def _claim(self, net: Network) -> None:
        try:
            files.write_json(files.network_file(self.paths, net.name), net.to_json(),
                             exclusive=True)
        except FileExistsError:
            raise ConflictError(f"network with name {net.name} already exists") from None


def _parse_subnet(text: str) -> tuple[int, int]:
    """A user's ``--subnet``: CIDR, IPv4, host bits clear, room for a gateway."""
    import ipaddress

    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise UsageError(f"invalid subnet {text!r}: {exc}") from None
    if net.version != 4:
        raise UnsupportedError(f"IPv6 subnets are not supported yet ({text})")
    if "/" not in text:
        raise UsageError(f"invalid subnet {text!r}: give it in CIDR form (a.b.c.d/n)")
    if net.prefixlen > 30:
        raise UsageError(f"subnet {text} is too small: at most /30")
    return int(net.network_address), net.prefixlen


def _gateway(subnet: tuple[int, int], gateway: str | None) -> str:
    """The gateway: the one given (a host address of the subnet) or the first host."""
    first, last = addr.host_range(subnet)
    if gateway is None:
        return addr.format_ip(first)
    import ipaddress

    try:
        value = int(ipaddress.IPv4Address(gateway))
    except ValueError as exc:
        raise UsageError(f"invalid gateway {gateway!r}: {exc}") from None
    if not first <= value <= last:
        raise UsageError(f"gateway {gateway} is not a host address of subnet "
                         f"{addr.format_cidr(*subnet)}")
    return addr.format_ip(value)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def _new_id(bridges_taken: set[str]) -> str:
    """A random 64-hex id whose bridge name (its first 8 digits) is free."""
    while True:
        nid = os.urandom(32).hex()
        if BRIDGE_PREFIX + nid[:8] not in bridges_taken:
            return nid


def _now() -> str:
    from launcher import rfc3339

    return rfc3339.now()
