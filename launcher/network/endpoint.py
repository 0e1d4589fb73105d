"""Attach a container to a network and detach it: lease, record, bridge, veth.

``connect`` runs between container create and start, while the container's
init waits at its start gate; ``netns_fd`` is its ``/proc/<pid>/ns/net``.
Each host change registers its undo as it happens and a failure undoes them
in reverse (the house pattern of ``backend/linux/lifecycle.py``), so a
failed connect leaves no lease, record or interface.

The endpoint record is written *before* the veth exists, naming it: a CLI
killed at any later point leaves a record from which ``disconnect`` (run by
``rm -f`` and ``system prune``) finds what to delete. ``disconnect`` is
idempotent and tolerates every step being already undone.

The bridge belongs to the network, not to an endpoint: ``connect`` makes sure
it exists (racing connects are fine) but never removes it — another
container may have started using it meanwhile. ``network rm`` removes it.
"""

from __future__ import annotations

import os

from launcher.errors import ConflictError, StateError, UsageError
from launcher.faults import point
from launcher.network import files, ipam
from launcher.network.addr import mac_for
from launcher.network.model import Endpoint, check_ifname, check_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from launcher.network.link import NetOps
    from launcher.network.model import Network
    from launcher.paths import Paths

VETH_PREFIX = "veth"  # + 8 random hex digits: 12 bytes, under the kernel's 15


def connect(paths: Paths, ops: NetOps, network: Network, cid: str, netns_fd: int,
            ifname: str = "eth0", requested_ip: str | None = None,
            aliases: Iterable[str] = (), default_route: bool = True) -> Endpoint:
    """Give container ``cid`` (namespace ``netns_fd``) an interface ``ifname``
    on ``network``. ``default_route``: route outbound traffic through this
    network's gateway (the first network of a container; never on an internal
    network, which has no way out)."""
    check_name(cid, "container")
    check_ifname(ifname)
    if network.driver != "bridge":
        raise UsageError(f"network {network.name} ({network.driver}) takes no endpoints")
    undo: list[Callable[[], object]] = []
    try:
        ip = ipam.allocate(paths, network, cid, requested_ip)
        undo.append(lambda: ipam.release(paths, network.name, cid))
        point("connect.lease")
        gateway = "" if network.internal else network.gateway
        ep = Endpoint(network.name, cid, VETH_PREFIX + os.urandom(4).hex(), ifname, ip,
                      network.prefixlen, mac_for(ip), gateway, list(aliases))
        path = files.endpoint_file(paths, network.name, cid)
        files.make_private_dirs(os.path.dirname(path))
        try:
            files.write_json(path, ep.to_json(), exclusive=True)
        except FileExistsError:
            raise ConflictError(f"container {cid} already has an endpoint on network "
                                f"{network.name} ({path})") from None
        undo.append(lambda: files.remove_file(path))
        point("connect.record")
        ops.ensure_bridge(network.bridge, network.gateway_cidr)
        # add_container_veth removes its own half-made pair when it fails.
        ops.add_container_veth(ep.host_veth, netns_fd, ifname, network.bridge, ep.ip_cidr,
                               gateway if default_route and gateway else None, ep.mac)
        point("connect.veth")
    except BaseException:
        _rollback(undo)
        raise
    return ep


def _rollback(undo: list[Callable[[], object]]) -> None:
    while undo:
        try:
            undo.pop()()
        except Exception:  # keep undoing: one failure must not strand the rest
            pass


def disconnect(paths: Paths, ops: NetOps, network_name: str, cid: str) -> Endpoint | None:
    """Detach ``cid`` from the network: delete the host veth if it is still
    there, release the lease, drop the record. The endpoint that was, or None
    if there was none. Safe to repeat, and after a crash at any step.

    A corrupt record is removed with the lease, then reported (StateError);
    the veth it named, if any, goes when the container's namespace ends."""
    check_name(network_name)
    check_name(cid, "container")
    path = files.endpoint_file(paths, network_name, cid)
    try:
        ep: Endpoint | None = Endpoint.from_json(files.read_json(path, "endpoint file"), path)
    except FileNotFoundError:
        ep = None
    except StateError:
        ipam.release(paths, network_name, cid)
        files.remove_file(path)
        raise
    if ep is not None:
        ops.delete_link(ep.host_veth)
        point("disconnect.veth")
    ipam.release(paths, network_name, cid)
    files.remove_file(path)  # last: until here, a retry still finds the veth's name
    return ep


def endpoints(paths: Paths, network_name: str) -> list[Endpoint]:
    """The endpoints recorded on a network (for inspect and DNS), by container id."""
    directory = files.endpoints_dir(paths, check_name(network_name))
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    found = []
    for entry in names:
        if entry.endswith(".json") and not entry.startswith("."):
            path = os.path.join(directory, entry)
            try:
                found.append(Endpoint.from_json(files.read_json(path, "endpoint file"), path))
            except FileNotFoundError:
                continue  # disconnected meanwhile
    return found


def container_networks(paths: Paths, cid: str) -> list[str]:
    """Names of the networks that hold a record or a lease for ``cid`` (what
    ``rm -f`` must disconnect)."""
    check_name(cid, "container")
    root = os.path.join(paths.state, "networks")
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    return [name for name in names
            if os.path.exists(files.endpoint_file(paths, name, cid))
            or cid in _leases_or_empty(paths, name)]


def _leases_or_empty(paths: Paths, name: str) -> dict[str, str]:
    try:
        return ipam.leases(paths, name)
    except (StateError, UsageError):
        return {}


def prune_stale(paths: Paths, ops: NetOps, live_ids: set[str] | frozenset[str]
                ) -> dict[str, list[str]]:
    """Disconnect every recorded endpoint whose container is not in ``live_ids``,
    then drop leases left without a record; network -> container ids pruned."""
    pruned: dict[str, list[str]] = {}
    root = os.path.join(paths.state, "networks")
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        names = []
    for name in names:
        try:
            entries = os.listdir(files.endpoints_dir(paths, name))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in sorted(entries):
            cid = entry[:-5]
            if entry.endswith(".json") and cid not in live_ids:
                try:
                    disconnect(paths, ops, name, cid)
                except (StateError, UsageError):
                    pass  # removed all the same (or not ours to touch)
                pruned.setdefault(name, []).append(cid)
    for name, cids in ipam.prune_stale(paths, live_ids).items():
        pruned[name] = sorted(set(pruned.get(name, [])) | set(cids))
    return pruned
