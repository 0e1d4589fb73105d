"""The core behind ``launcher network …``: networks, and containers joining and
leaving them while they run.

``connect``/``disconnect`` change a container's network config (kept for its
next start, as Docker keeps it) and, when it runs, its namespace now: a veth
``eth1``, ``eth2``, … through endpoint.connect, the network's firewall rules,
and the hosts files of everyone on that network. A per-container lock
(``network.lock`` in the bundle) keeps two of them from interleaving.
"""

from __future__ import annotations

import os

from launcher.errors import ConflictError, LauncherError, UsageError
from launcher.network import bundle as nb
from launcher.network import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from launcher.backend.linux.containers import Container
    from launcher.network.model import Network
    from launcher.network.store import NetworkStore
    from launcher.paths import Paths

LOCK_FILE = "network.lock"


def store(paths: Paths) -> NetworkStore:
    from launcher.network.link import RealNetOps
    from launcher.network.store import NetworkStore

    return NetworkStore(paths, RealNetOps())


def remove(paths: Paths, name_or_id: str) -> Network:
    """``network rm``: the record (refused while containers are attached), then
    the bridge and the network's firewall rules."""
    from launcher.network.firewall import Firewall
    from launcher.network.link import RealNetOps

    with RealNetOps() as ops:
        from launcher.network.store import NetworkStore

        net = NetworkStore(paths, ops).remove(name_or_id)
        ops.delete_bridge(net.bridge)
    _quietly(lambda: Firewall().remove_network(net.name))
    return net


def _quietly(act: Any) -> None:
    """A firewall step where there may be no nft at all (nothing to remove then)."""
    from launcher.errors import UnsupportedError

    try:
        act()
    except UnsupportedError:
        pass


def prune(paths: Paths) -> list[str]:
    """``network prune``: every user-defined network no container is attached to."""
    removed = []
    for net in store(paths).list():
        if net.driver != "bridge" or net.name == "bridge":
            continue
        try:
            remove(paths, net.name)
        except ConflictError:
            continue  # in use
        removed.append(net.name)
    return removed


def prune_stale(paths: Paths, live: set[str]) -> None:
    """``system prune``: disconnect endpoints and drop leases and rules of
    containers not in ``live`` (their bundles are gone), update the hosts files
    of their peers, and rebuild the firewall table if it was flushed."""
    from launcher.errors import UnsupportedError
    from launcher.network import endpoint
    from launcher.network.firewall import Firewall
    from launcher.network.link import RealNetOps

    if not (os.path.isdir(os.path.join(paths.state, "networks"))
            or os.path.isdir(files.networks_dir(paths))):
        return  # networking never used under this root
    with RealNetOps() as ops:
        pruned = endpoint.prune_stale(paths, ops, live)
    if any(name != "bridge" for name in pruned):
        with files.FileLock(files.hosts_lock(paths)):
            nb.refresh_hosts(paths, nb.network_members(paths, sorted(pruned)))
    fw = Firewall()
    try:
        snap = fw.snapshot()
    except UnsupportedError:
        return  # no nft here: no rules either
    from launcher.network.container import restore_firewall

    with files.FileLock(files.ports_lock(paths)):
        if snap is None or not snap.intact():
            restore_firewall(paths, fw)
            return
        tagged = {comment.partition("=")[2] for _c, _h, comment in snap.rules
                  if comment.startswith("container=")}
        for cid in sorted(tagged - live):
            fw.unpublish(cid)


def inspect(paths: Paths, name_or_id: str) -> dict[str, Any]:
    """Docker's ``network inspect`` object."""
    from launcher.network import endpoint

    net = store(paths).get(name_or_id)
    members: dict[str, Any] = {}
    if net.driver == "bridge":
        for ep in endpoint.endpoints(paths, net.name):
            members[ep.container_id] = {
                "Name": _container_name(paths, ep.container_id), "EndpointID": _eid(net, ep),
                "MacAddress": ep.mac, "IPv4Address": ep.ip_cidr, "IPv6Address": ""}
    ipam = [{"Subnet": net.subnet, "Gateway": net.gateway}] if net.subnet else []
    return {"Name": net.name, "Id": net.id, "Created": net.created or "0001-01-01T00:00:00Z",
            "Scope": "local", "Driver": net.driver, "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": {}, "Config": ipam},
            "Internal": net.internal, "Attachable": False, "Ingress": False,
            "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": members,
            "Options": {"com.docker.network.bridge.name": net.bridge} if net.bridge else {},
            "Labels": dict(net.labels)}


def _eid(net: Network, ep: Any) -> str:
    import hashlib

    return hashlib.sha256(f"{net.id}:{ep.container_id}".encode()).hexdigest()


def _container_name(paths: Paths, cid: str) -> str:
    from launcher.backend.linux.record import ContainerRecord

    try:
        return ContainerRecord.load(nb.bundle_dir(paths, cid)).name or cid[:12]
    except (OSError, LauncherError):
        return cid[:12]


# -- containers joining and leaving ----------------------------------------------


def _find(paths: Paths, ref: str) -> Container:
    from launcher.backend.linux import containers
    from launcher.backend.select import require_native

    require_native()
    return containers.find(paths, ref)


def _load(c: Container) -> nb.NetState:
    st = nb.load_state(c.record.bundle)
    if st is None:
        raise ConflictError(f"container {c.record.name or c.id[:12]} has no network settings "
                            "(it was created before launcher had networking)")
    return st


def connect(paths: Paths, network: str, ref: str, ip: str | None = None,
            aliases: list[str] | None = None) -> None:
    """``network connect``: join ``network`` now (when running) and at every start."""
    from launcher.network.runconfig import NetRequest

    c = _find(paths, ref)
    net = store(paths).get(network)
    who = c.record.name or c.id[:12]
    if net.driver != "bridge":
        raise ConflictError(f"container {who} cannot be connected to the {net.name} network")
    if (ip or aliases) and net.name == "bridge":
        raise UsageError("--ip and --alias are supported on user defined networks only")
    with files.FileLock(os.path.join(c.record.bundle, LOCK_FILE)):
        st = _load(c)
        cfg = st.config
        if cfg.kind != "bridge":
            raise ConflictError(f"container {who} uses network mode {cfg.mode}: it cannot be "
                                "connected to another network")
        if any(n.name == net.name for n in cfg.networks):
            raise ConflictError(f"endpoint with name {who} already exists in network "
                                f"{net.name}")
        req = NetRequest(net.name, list(aliases or []), ip)
        if c.status == "running":
            _connect_now(paths, c, st, net, req)
        cfg.networks.append(req)
        nb.save_state(c.record.bundle, st)
        _refresh(paths, c.id, st, [net.name])


def _connect_now(paths: Paths, c: Container, st: nb.NetState, net: Network, req: Any) -> None:
    from launcher.network import container as lifecycle
    from launcher.network import endpoint
    from launcher.network.firewall import Firewall
    from launcher.network.link import RealNetOps

    act = st.active or _active_from_runtime(paths, c)
    st.active = act
    used = {e.ifname for e in act.endpoints}
    ifname = next(f"eth{i}" for i in range(len(used) + 1) if f"eth{i}" not in used)
    act.networks.append(net.name)
    nb.save_state(c.record.bundle, st)  # ahead: a crash leaves what teardown undoes
    fd = lifecycle.open_netns(act.pid, act.pid_start or None)
    try:
        with RealNetOps() as ops:
            ep = endpoint.connect(paths, ops, net, c.id, fd, ifname, req.ip,
                                  nb.dns_names(st.config, c.id, req.aliases),
                                  default_route=not any(e.gateway for e in act.endpoints))
            act.endpoints.append(ep)
            nb.save_state(c.record.bundle, st)
            lifecycle.ensure_firewall(paths, Firewall(), [net])
            if not net.internal:
                ops.enable_forwarding()
    except BaseException:
        act.networks.remove(net.name)
        nb.save_state(c.record.bundle, st)
        raise
    finally:
        os.close(fd)


def _active_from_runtime(paths: Paths, c: Container) -> nb.Active:
    """What is set up, for a running container whose start recorded nothing."""
    from launcher.backend.linux.containers import runtime_root
    from launcher.backend.linux.state import ContainerState

    rt = ContainerState.load(runtime_root(paths), c.id)
    return nb.Active(rt.pid, rt.pid_start or 0)


def disconnect(paths: Paths, network: str, ref: str, force: bool = False) -> None:
    """``network disconnect``: leave ``network`` now and at later starts.
    ``force``: no error when not connected, or when the network is gone."""
    from launcher.errors import NotFoundError

    c = _find(paths, ref)
    try:
        name = store(paths).get(network).name
    except NotFoundError:
        if not force:
            raise
        name = network
    with files.FileLock(os.path.join(c.record.bundle, LOCK_FILE)):
        st = _load(c)
        act = st.active
        listed = any(n.name == name for n in st.config.networks)
        live = act is not None and name in act.networks
        if not (listed or live):
            if force:
                return
            raise ConflictError(f"container {c.record.name or c.id[:12]} is not connected to "
                                f"network {name}")
        if act is not None and live:
            _disconnect_now(paths, c.id, st, act, name)
        st.config.networks = [n for n in st.config.networks if n.name != name]
        nb.save_state(c.record.bundle, st)
        _refresh(paths, c.id, st, [name])


def _disconnect_now(paths: Paths, cid: str, st: nb.NetState, act: nb.Active,
                    name: str) -> None:
    from launcher.network import endpoint
    from launcher.network.firewall import Firewall
    from launcher.network.link import RealNetOps

    if act.ports and act.endpoints and act.endpoints[0].network == name:
        # The published ports point at this network's address: they go with it.
        Firewall().unpublish(cid)
        act.ports, act.ip = [], ""
    with RealNetOps() as ops:
        endpoint.disconnect(paths, ops, name, cid)
    act.networks.remove(name)
    act.endpoints = [e for e in act.endpoints if e.network != name]
    nb.save_state(nb.bundle_dir(paths, cid), st)


def _refresh(paths: Paths, cid: str, st: nb.NetState, networks: list[str]) -> None:
    """The container's own hosts file and those of the members of ``networks``."""
    from launcher.network.hostsfile import rewrite_hosts

    with files.FileLock(files.hosts_lock(paths)):
        rewrite_hosts(os.path.join(nb.bundle_dir(paths, cid), nb.HOSTS),
                      nb.hosts_text(paths, cid, st))
        nb.refresh_hosts(paths, [m for m in nb.network_members(paths, networks) if m != cid])


def port(paths: Paths, ref: str, private: str | None) -> list[str]:
    """``launcher port``: Docker's lines for a container's published ports."""
    from launcher.network.report import port_lines

    c = _find(paths, ref)
    return port_lines(c.record.bundle, c.running, private)
