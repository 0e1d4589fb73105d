"""Before create: a container's /etc files, ``network.json``, and what its spec needs.

:func:`prepare` checks the networks exist, writes the bundle's /etc files and
``network.json`` (bundle.py), and says what the spec needs: the bind mounts,
the namespace to join (``container:X``), the host name. setup and teardown
come later (container.py).
"""

from __future__ import annotations

import os

from launcher.errors import ConflictError
from launcher.network import bundle as nb
from launcher.network.container import _alive, _store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.network.link import NetOps
    from launcher.network.runconfig import NetConfig
    from launcher.paths import Paths
    from launcher.spec.model import Mount


class Prepared:
    """What the spec needs from the network (``prepare``)."""

    __slots__ = ("hostname", "mounts", "netns_path")

    def __init__(self, hostname: str | None, netns_path: str | None,
                 mounts: list[Mount]) -> None:
        self.hostname = hostname  # imposed by the mode (host, container:X); None: -h/default
        self.netns_path = netns_path  # container:X: its /proc/PID/ns/net
        self.mounts = mounts


def prepare(paths: Paths, cfg: NetConfig, cid: str, bundle: str,
            user_destinations: set[str], *, ops: NetOps | None = None) -> Prepared:
    """Before create: /etc files and network.json in ``bundle``; the mounts of
    those files (none where the user mounts something with -v). ``ops`` is
    asked for the host's routes when the default network is made now."""
    from launcher.spec.model import Mount

    if cfg.kind == "container":
        return _prepare_joined(paths, cfg, bundle, user_destinations)
    hostname = cfg.hostname or (os.uname().nodename if cfg.kind == "host" else cid[:12])
    st = nb.NetState(cfg, hostname, _host_gateway(paths, cfg, ops))
    nb.save_state(bundle, st)
    nb.write_file(bundle, nb.RESOLV_CONF, _resolv_conf(cfg))
    nb.write_file(bundle, nb.HOSTS, nb.hosts_text(paths, cid, st))
    wanted = [(name, dest) for name, dest in nb.ETC_FILES if dest not in user_destinations
              and not (name == nb.HOSTNAME and cfg.kind == "host")]
    if any(name == nb.HOSTNAME for name, _ in wanted):
        nb.write_file(bundle, nb.HOSTNAME, hostname + "\n")
    mounts = [Mount(destination=dest, type="bind", source=os.path.join(bundle, name),
                    options=["rbind", "rprivate"]) for name, dest in wanted]
    return Prepared(hostname if cfg.kind == "host" else None, None, mounts)


def _resolv_conf(cfg: NetConfig) -> str:
    from launcher.errors import UsageError
    from launcher.network import dns

    mode = "host" if cfg.kind == "host" else "bridge"
    source, text = dns.host_resolv_conf(network_mode=mode)
    servers = cfg.dns
    if cfg.kind == "slirp4netns" and not servers:
        from launcher.network.slirp import DNS_IP

        servers = [DNS_IP]  # slirp4netns forwards to the host's resolvers
    try:
        return dns.resolv_conf(text, dns=servers, search=cfg.dns_search,
                               options=cfg.dns_options, network_mode=mode, source=source)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _host_gateway(paths: Paths, cfg: NetConfig, ops: NetOps | None) -> str:
    """The gateway of the container's first network: what --add-host's
    ``host-gateway`` names, and a check that the networks exist (NotFoundError)."""
    from launcher.network.hostsfile import HOST_GATEWAY

    wants_gateway = any(ip == HOST_GATEWAY for _, ip in cfg.extra_hosts)
    if cfg.kind == "slirp4netns":
        from launcher.network.slirp import GATEWAY_IP

        return GATEWAY_IP if wants_gateway else ""
    if not cfg.networks and not wants_gateway:
        return ""  # none, host: no network to look up (nor netlink code to load)
    store = _store(paths, ops)
    nets = [store.get(n.name) for n in cfg.networks]
    for net in nets:
        if net.driver != "bridge":
            from launcher.errors import UsageError

            raise UsageError(f"network {net.name} cannot be joined by name: use --network "
                             f"{net.name} on its own")
    if nets:
        return nets[0].gateway
    return store.ensure_default().gateway  # none/host: the default bridge's, as Docker


def _prepare_joined(paths: Paths, cfg: NetConfig, bundle: str,
                    user_destinations: set[str]) -> Prepared:
    """``container:X``: X must be running; its namespace and its files are shared."""
    from launcher.backend.linux import containers
    from launcher.backend.linux.state import ContainerState
    from launcher.spec.model import Mount

    other = containers.find(paths, cfg.target)
    if other.status != "running":
        raise ConflictError(f"cannot join network namespace of container {cfg.target}: "
                            "it is not running")
    st = ContainerState.load(containers.runtime_root(paths), other.id)
    if st.pid_start is None or not _alive(st.pid, st.pid_start):
        raise ConflictError(f"cannot join network namespace of container {cfg.target}: "
                            "it is not running")
    cfg.mode = "container:" + other.id  # the name may be given to another one later
    theirs = nb.load_state(other.record.bundle)
    hostname = theirs.hostname if theirs is not None else str(st.spec.get("hostname") or "")
    state = nb.NetState(cfg, hostname)
    state.target = (st.pid, st.pid_start)
    nb.save_state(bundle, state)
    mounts = [Mount(destination=dest, type="bind", source=os.path.join(other.record.bundle, name),
                    options=["rbind", "rprivate"]) for name, dest in nb.ETC_FILES
              if dest not in user_destinations
              and os.path.exists(os.path.join(other.record.bundle, name))]
    return Prepared(hostname or None, f"/proc/{st.pid}/ns/net", mounts)
