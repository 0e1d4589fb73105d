"""IP address management: one lease per container on each network.

``state/networks/<name>/leases.json`` maps container ids to addresses and
remembers the last address given, so allocation goes round the subnet
instead of handing a just-freed address (still in peers' ARP caches) to the
next container. State is volatile, as podman keeps it: after a reboot no
container runs, so no lease is live.

Every change happens under an flock on the network's state directory, so
parallel ``run``s never get the same address; the network file is re-read
under that lock, so an address is never leased on a network that
``network rm`` has just removed (which checks for leases under the same lock).
"""

from __future__ import annotations

import os

from launcher.errors import ConflictError, NotFoundError, StateError, UsageError
from launcher.network import addr, files
from launcher.network.addr import mac_for as mac_for
from launcher.network.model import Network, check_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.paths import Paths


def allocate(paths: Paths, network: Network, cid: str, requested: str | None = None) -> str:
    """Lease an address of ``network`` to container ``cid``: ``requested``
    (``--ip``) if free, otherwise the next free one after the last given."""
    check_name(cid, "container")
    subnet = addr.parse_cidr(network.subnet)
    first, last = addr.host_range(subnet)
    gateway = addr.parse_ip(network.gateway)
    want = _check_requested(network, requested, subnet, gateway) if requested else None
    with files.DirLock(files.state_dir(paths, network.name)):
        _check_still_there(paths, network)
        path = files.leases_file(paths, network.name)
        prev, leases = _read(path)
        if cid in leases:
            raise ConflictError(f"endpoint with name {cid} already exists in network "
                                f"{network.name}")
        used = {addr.parse_ip(ip) for ip in leases.values()}
        used.add(gateway)
        if want is not None and want in used:
            raise ConflictError(f"address {requested} is already in use on network "
                                f"{network.name}")
        chosen = want if want is not None else _next_free(first, last, prev, used)
        if chosen is None:
            raise ConflictError(f"no free address left on network {network.name} "
                                f"({network.subnet})")
        ip = addr.format_ip(chosen)
        leases[cid] = ip
        # --ip does not move the round-robin cursor, as Docker's allocator does not.
        _write(path, prev if want is not None else chosen, leases)
    return ip


def _check_requested(network: Network, requested: str, subnet: tuple[int, int],
                     gateway: int) -> int:
    try:
        want = addr.parse_ip(requested)
    except ValueError:
        raise UsageError(f"invalid IPv4 address {requested!r}") from None
    first, last = addr.host_range(subnet)
    if not first <= want <= last or want == gateway:
        raise UsageError(f"address {requested} is not a free host address of network "
                         f"{network.name} ({network.subnet}, gateway {network.gateway})")
    return want


def _check_still_there(paths: Paths, network: Network) -> None:
    path = files.network_file(paths, network.name)
    try:
        stored = Network.from_json(files.read_json(path, "network file"), path)
    except FileNotFoundError:
        stored = None
    if stored is None or stored.id != network.id:
        try:
            os.rmdir(files.state_dir(paths, network.name))  # made just now by the lock
        except OSError:
            pass  # not empty: a network of that name exists again and has state
        raise NotFoundError(f"network {network.name} not found (it was removed)")


def _next_free(first: int, last: int, prev: int | None, used: set[int]) -> int | None:
    start = prev + 1 if prev is not None and first <= prev < last else first
    for candidate in range(start, last + 1):
        if candidate not in used:
            return candidate
    for candidate in range(first, start):
        if candidate not in used:
            return candidate
    return None


def release(paths: Paths, network_name: str, cid: str) -> str | None:
    """Drop ``cid``'s lease on the network; the address it had (None: it had none)."""
    directory = files.state_dir(paths, check_name(network_name))
    if not os.path.isdir(directory):
        return None  # nothing was ever leased (or the network is gone)
    with files.DirLock(directory):
        path = files.leases_file(paths, network_name)
        prev, leases = _read(path)
        ip = leases.pop(cid, None)
        if ip is not None:
            _write(path, prev, leases)
    return ip


def leases(paths: Paths, network_name: str) -> dict[str, str]:
    """Container id -> address, for every live lease on the network."""
    return _read(files.leases_file(paths, check_name(network_name)))[1]


def prune_stale(paths: Paths, live_ids: set[str] | frozenset[str]) -> dict[str, list[str]]:
    """Drop the leases of containers not in ``live_ids``; network -> ids dropped."""
    root = os.path.join(paths.state, "networks")
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return {}
    dropped: dict[str, list[str]] = {}
    for name in names:
        path = files.leases_file(paths, name)
        if not os.path.exists(path):
            continue
        with files.DirLock(files.state_dir(paths, name)):
            prev, current = _read(path)
            stale = sorted(cid for cid in current if cid not in live_ids)
            if stale:
                for cid in stale:
                    del current[cid]
                _write(path, prev, current)
                dropped[name] = stale
    return dropped


def _read(path: str) -> tuple[int | None, dict[str, str]]:
    try:
        data = files.read_json(path, "lease file")
    except FileNotFoundError:
        return None, {}
    try:
        if type(data) is not dict or type(data.get("leases")) is not dict:
            raise ValueError("no leases object")
        current: dict[str, str] = data["leases"]
        for cid, ip in current.items():
            check_name(cid, "container")
            if type(ip) is not str:
                raise ValueError(f"address of {cid} is not a string")
            addr.parse_ip(ip)
        last = data.get("last")
        return (addr.parse_ip(last) if type(last) is str else None), current
    except (ValueError, UsageError) as exc:
        raise StateError(f"lease file {path} is corrupt ({exc}): delete it (addresses of "
                         "running containers may then be given twice)") from None


def _write(path: str, last: int | None, current: dict[str, str]) -> None:
    doc: dict[str, object] = {"leases": current}
    if last is not None:
        doc["last"] = addr.format_ip(last)
    files.write_json(path, doc)
