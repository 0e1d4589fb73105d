"""A container's networking across its life: prepare, setup, teardown.

* ``prepare`` (prepare.py) — before create: the bundle's /etc files and
  ``network.json``, and what the spec needs of them.
* :func:`setup` — after create, while init waits at its start gate: connects
  the container's namespace to each network (endpoint.connect: lease, veth),
  makes sure the firewall table is intact (rebuilt if flushed) with the
  networks' rules, publishes ports, and writes /etc/hosts (its own and its
  peers'). Each step is written ahead into ``network.json``; a failure, or a
  signal, undoes all of it (teardown) before the error goes on.
* :func:`teardown` — when the container ends or is removed: unpublishes,
  disconnects, updates the peers' hosts files. Idempotent; works from what
  network.json and the endpoint records say, after a crash at any step.

Nothing here runs for ``--network none``/``host`` beyond writing files, and
no netlink socket is opened and no nft rule touched until a bridge network
needs it.
"""

from __future__ import annotations

import os

from launcher.errors import RuntimeFailure, StateError
from launcher.faults import point
from launcher.network import bundle as nb
from launcher.network import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from launcher.network.firewall import Firewall
    from launcher.network.link import NetOps
    from launcher.network.model import Network
    from launcher.network.ports import PortMapping
    from launcher.network.runconfig import NetConfig
    from launcher.network.store import NetworkStore
    from launcher.paths import Paths


def _alive(pid: int, start: int | None) -> bool:
    from launcher.backend.linux import procinfo

    return procinfo.is_alive(pid, start)


def _store(paths: Paths, ops: NetOps | None) -> NetworkStore:
    from launcher.network.store import NetworkStore

    if ops is None:
        from launcher.network.link import RealNetOps

        ops = RealNetOps()  # opens no netlink socket until first used
    return NetworkStore(paths, ops)


# -- setup ----------------------------------------------------------------------


def setup(paths: Paths, cid: str, init_pid: int, pid_start: int | None,
          config: NetConfig | None = None, *, ops: NetOps | None = None,
          fw: Firewall | None = None) -> nb.Active | None:
    """Wire up the namespace of init ``init_pid`` (waiting at its start gate) as
    the bundle's network.json says (``config`` replaces the stored one, e.g.
    just written by prepare). What was set up, or None for a mode with nothing
    to do. Any failure undoes everything before it goes on. ``ops``/``fw``:
    the kernel seams (default: netlink and the nft binary)."""
    bundle = nb.bundle_dir(paths, cid)
    st = nb.load_state(bundle)
    if st is None:
        return None
    if config is not None:
        st.config = config
    if st.config.kind == "container":
        if st.target is None or not _alive(*st.target):
            raise RuntimeFailure(f"the container whose network {cid[:12]} joins "
                                 f"({st.config.target[:12]}) is no longer running")
        return None
    if st.config.kind == "slirp4netns":
        return _setup_slirp(paths, cid, bundle, st, init_pid, pid_start)
    if st.config.kind != "bridge":
        return None
    kernel = _Kernel(ops, fw)
    try:
        return _setup(paths, kernel, cid, bundle, st, init_pid, pid_start)
    except BaseException:
        try:
            _teardown(paths, kernel, cid, bundle)
        except Exception:
            pass  # the original error says more; rm -f / system prune retry
        raise
    finally:
        kernel.close()


class _Kernel:
    """The two seams, made on first use unless given (and then closed here)."""

    __slots__ = ("_fw", "_ops", "_owned")

    def __init__(self, ops: NetOps | None, fw: Firewall | None) -> None:
        self._ops, self._fw, self._owned = ops, fw, ops is None

    @property
    def ops(self) -> NetOps:
        if self._ops is None:
            from launcher.network.link import RealNetOps

            self._ops = RealNetOps()
        return self._ops

    @property
    def fw(self) -> Firewall:
        if self._fw is None:
            from launcher.network.firewall import Firewall

            self._fw = Firewall()
        return self._fw

    def close(self) -> None:
        if self._owned and self._ops is not None:
            self._ops.close()


def _setup(paths: Paths, kernel: _Kernel, cid: str, bundle: str, st: nb.NetState,
           pid: int, pid_start: int | None) -> nb.Active:
    from launcher.network import endpoint

    ops = kernel.ops
    store = _store(paths, ops)
    nets = [store.get(n.name) for n in st.config.networks]
    act = st.active = nb.Active(pid, pid_start or 0)
    act.networks = [n.name for n in nets]
    nb.save_state(bundle, st)  # ahead of any change: teardown now knows the networks
    point("net.state")
    if not nets:  # every network disconnected (network disconnect): only lo
        _write_hosts(paths, cid, bundle, st)
        return act
    fd = open_netns(pid, pid_start)
    try:
        for i, (net, req) in enumerate(zip(nets, st.config.networks, strict=True)):
            names = nb.dns_names(st.config, cid, req.aliases)
            act.endpoints.append(endpoint.connect(paths, ops, net, cid, fd, f"eth{i}", req.ip,
                                                  names, default_route=i == 0))
            nb.save_state(bundle, st)
            point("net.connect")
    finally:
        os.close(fd)
    fw = kernel.fw
    ensure_firewall(paths, fw, nets, ops)
    point("net.firewall")
    if any(not n.internal for n in nets):
        ops.enable_forwarding()
    if st.config.ports:
        _publish(paths, fw, cid, bundle, st, nets[0])
        point("net.publish")
    _write_hosts(paths, cid, bundle, st)
    point("net.hosts")
    return act


def _setup_slirp(paths: Paths, cid: str, bundle: str, st: nb.NetState, pid: int,
                 pid_start: int | None) -> nb.Active:
    """Start slirp4netns for init ``pid`` and add the published ports' forwards."""
    from launcher.network import slirp

    act = st.active = nb.Active(pid, pid_start or 0)
    api = os.path.join(paths.state, f"slirp-{cid[:16]}.sock")
    act.helper = slirp.start(pid, api, os.path.join(bundle, "slirp4netns.log"))
    act.ip = slirp.GUEST_IP
    nb.save_state(bundle, st)  # ahead of the forwards: teardown stops it
    try:
        if st.config.ports:  # slirp4netns binds the host ports itself: not kept bound
            _take_ports(paths, cid, bundle, st, lambda chosen: slirp.add_forwards(api, chosen),
                        keep_bound=False)
        _write_hosts(paths, cid, bundle, st)
    except BaseException:
        _teardown_slirp(bundle, st)
        raise
    return act


def _teardown_slirp(bundle: str, st: nb.NetState) -> None:
    from launcher.network import slirp

    act = st.active
    if act is None:
        return
    slirp.stop(*act.helper)
    st.active = None
    nb.save_state(bundle, st)


def open_netns(pid: int, pid_start: int | None) -> int:
    """An fd of init's network namespace, opened *then* checked: a recycled pid
    is never wired up."""
    try:
        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise RuntimeFailure(f"opening the network namespace of pid {pid}: "
                             f"{exc.strerror}") from exc
    if not _alive(pid, pid_start):
        os.close(fd)
        raise RuntimeFailure(f"container init (pid {pid}) exited during network setup")
    return fd


def ensure_firewall(paths: Paths, fw: Firewall, nets: list[Network],
                    ops: NetOps | None = None) -> None:
    """The table intact (rebuilt from launcher's state when flushed or missing)
    and the rules of ``nets`` in it; one ``nft list`` when all is in place."""
    snap = fw.snapshot()
    if snap is None or not snap.intact():
        # Under the ports lock: a container publishing meanwhile records its
        # ports before its rules, so a rebuild either sees them or comes first.
        with files.FileLock(files.ports_lock(paths)):
            snap = fw.snapshot()
            if snap is None or not snap.intact():
                restore_firewall(paths, fw, ops)
                snap = fw.snapshot()
    for net in nets:
        if snap is None or not snap.handles("network=" + net.name):
            fw.add_network(net.name, net.subnet, net.bridge, net.internal)


def restore_firewall(paths: Paths, fw: Firewall, ops: NetOps | None = None,
                     force: bool = True) -> bool:
    """Rebuild the table (``force``, or when it is not intact): every stored
    network's rules and the published ports of every running container. True
    when it was rebuilt. Hold ``files.ports_lock``."""
    nets = [n for n in _store(paths, ops).list() if n.driver == "bridge"]
    pubs = [(cid, act.ip, act.ports) for cid, act in live_states(paths).items()
            if act.ip and act.ports]
    return fw.restore(nets, pubs, force=force)


def live_states(paths: Paths, exclude: str = "") -> dict[str, nb.Active]:
    """Container id -> what is set up, for every container whose init is alive."""
    root = os.path.join(paths.storage, "containers")
    try:
        ids = os.listdir(root)
    except FileNotFoundError:
        return {}
    out: dict[str, nb.Active] = {}
    for cid in sorted(ids):
        if cid == exclude:
            continue
        try:
            st = nb.load_state(os.path.join(root, cid))
        except (StateError, OSError):
            continue
        if st is not None and st.active is not None \
                and _alive(st.active.pid, st.active.pid_start or None):
            out[cid] = st.active
    return out


def _publish(paths: Paths, fw: Firewall, cid: str, bundle: str, st: nb.NetState,
             net: Network) -> None:
    """Take the host ports (checked against every live container's, bound while
    the rules go in) and DNAT them to the first network's address."""
    from launcher.network.firewall import set_route_localnet

    act = st.active
    assert act is not None
    if net.internal:
        import sys

        sys.stderr.write(f"WARNING: ports are not published on internal network {net.name}\n")
        return
    act.ip = act.endpoints[0].ip

    def rules(chosen: list[PortMapping]) -> None:
        # host -> 127.0.0.1:PORT is routed to the bridge (firewall.py's guard
        # keeps other hosts and containers from using that path).
        set_route_localnet(net.bridge)
        fw.publish(cid, act.ip, chosen)

    _take_ports(paths, cid, bundle, st, rules, keep_bound=True)


def _take_ports(paths: Paths, cid: str, bundle: str, st: nb.NetState,
                apply: Callable[[list[PortMapping]], None], keep_bound: bool) -> None:
    """Under the ports lock: check the config's ports against every live
    container's, choose the free ones, record them (teardown then knows), and
    ``apply`` them, with the host ports still bound if ``keep_bound``."""
    from launcher.network import ports

    act = st.active
    assert act is not None
    with files.FileLock(files.ports_lock(paths)):
        taken = [m for other in live_states(paths, exclude=cid).values() for m in other.ports]
        ports.check_conflicts(st.config.ports, taken)
        chosen, reservation = ports.reserve(list(st.config.ports), taken)
        with reservation:
            act.ports = chosen
            nb.save_state(bundle, st)
            if not keep_bound:
                reservation.close()
            apply(chosen)


def _write_hosts(paths: Paths, cid: str, bundle: str, st: nb.NetState) -> None:
    """Our hosts file and, on user-defined networks, every member's."""
    from launcher.network.hostsfile import rewrite_hosts

    nb.save_state(bundle, st)
    act = st.active
    members = nb.network_members(paths, act.networks if act else [])
    with files.FileLock(files.hosts_lock(paths)):
        rewrite_hosts(os.path.join(bundle, nb.HOSTS), nb.hosts_text(paths, cid, st))
        nb.refresh_hosts(paths, [m for m in members if m != cid])


# -- teardown -------------------------------------------------------------------


def teardown(paths: Paths, cid: str, *, ops: NetOps | None = None,
             fw: Firewall | None = None) -> None:
    """Undo what setup did for ``cid`` (any part of it): unpublish, disconnect,
    update the peers' hosts files, clear ``active``. Safe to repeat."""
    from launcher.network import endpoint

    bundle = nb.bundle_dir(paths, cid)
    try:
        st = nb.load_state(bundle)
        corrupt = False
    except StateError:
        st, corrupt = None, True
    act = st.active if st is not None else None
    if st is not None and st.config.kind == "slirp4netns":
        _teardown_slirp(bundle, st)
        return
    if act is None and st is not None and st.config.kind != "bridge":
        return  # none, host, container:X never have endpoints or rules of their own
    # The endpoint records too: a run killed before network.json named them.
    if act is None and not corrupt and not endpoint.container_networks(paths, cid):
        return
    kernel = _Kernel(ops, fw)
    try:
        _teardown(paths, kernel, cid, bundle, unpublish=corrupt or bool(act and act.ports))
    finally:
        kernel.close()


def _teardown(paths: Paths, kernel: _Kernel, cid: str, bundle: str,
              unpublish: bool = True) -> None:
    from launcher.network import endpoint

    try:
        st = nb.load_state(bundle)
    except StateError:
        st = None
    act = st.active if st is not None else None
    if unpublish:
        kernel.fw.unpublish(cid)
        point("net.unpublish")
    names = sorted(set(act.networks if act else []) | set(endpoint.container_networks(paths, cid)))
    for name in names:
        endpoint.disconnect(paths, kernel.ops, name, cid)
    point("net.disconnect")
    if st is not None and act is not None and os.path.isdir(bundle):
        st.active = None
        nb.save_state(bundle, st)
    if any(name != "bridge" for name in names):
        with files.FileLock(files.hosts_lock(paths)):
            nb.refresh_hosts(paths, [m for m in nb.network_members(paths, names) if m != cid])

