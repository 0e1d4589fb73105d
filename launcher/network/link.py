"""The netlink seam: every change to interfaces, addresses and routes.

``NetOps`` is the small interface the network code calls; ``RealNetOps`` does
it with pyroute2's ``IPRoute`` (never by running ``ip``), and the unit tests
pass a recorder. pyroute2 costs ~150 ms to import here, so it is imported on
the first kernel call, never by merely importing this module.

Configuring the container's end of a veth needs a netlink socket *inside*
the container's network namespace, and so does its IPv6 sysctl:

* a netlink socket belongs to the namespace it was created in, and there is
  no netlink request that adds an address or route in another namespace
  (``IFLA_NET_NS_FD`` only places a link);
* ``/proc/sys/net`` resolves to the namespace of the *opener*, not of any
  ``/proc/<pid>`` path (``/proc/<pid>/net`` is read-only statistics, and
  ``/proc/<pid>/root/proc/sys`` would resolve a path in the container's tree);
* pyroute2's own ``NetNS`` forks a helper process per socket (slow).

So :func:`_open_in_netns` enters the namespace with ``setns`` on this (single)
thread, creates the socket and opens the sysctl file, and returns to the
original namespace in a ``finally``. Only the network namespace is entered —
never the container's mount, pid or user namespace — so no path is resolved
in the container's tree and no container process can see or trace us.
"""

from __future__ import annotations

import errno
import os

from launcher.errors import RuntimeFailure
from launcher.network.addr import format_cidr, mac_for, parse_cidr
from launcher.network.model import check_ifname

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    class NetOps(Protocol):
        """The kernel side of networking, in the caller's (host) namespace."""

        def ensure_bridge(self, name: str, gateway_cidr: str) -> None:
            """Create bridge ``name`` if missing, give it the address, bring it up.
            Idempotent, and safe when callers race."""

        def delete_bridge(self, name: str) -> None:
            """Remove the bridge; missing is fine."""

        def add_container_veth(self, host_name: str, netns_fd: int, ifname: str, bridge: str,
                               ip_cidr: str, gateway: str | None, mac: str) -> None:
            """A veth pair: ``host_name`` on ``bridge`` (up, hairpin); ``ifname`` created
            directly in the namespace ``netns_fd`` with ``mac`` and ``ip_cidr``,
            up, ``lo`` up, a default route via ``gateway`` (None: no route), IPv6
            DAD off. On failure, nothing it made remains."""

        def delete_link(self, name: str) -> bool:
            """Remove interface ``name`` (a veth takes its peer along); False if absent."""

        def link_exists(self, name: str) -> bool: ...

        def host_routes(self) -> list[str]:
            """IPv4 subnets in use here: routes (default and local table left out)
            and interface addresses, as canonical CIDRs."""

        def enable_forwarding(self) -> str:
            """Set net.ipv4.ip_forward=1 here; the value it had before."""

        def close(self) -> None: ...

CLONE_NEWNET = 0x40000000
RT_TABLE_LOCAL = 255
AF_INET = 2
IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"


class _Netlink:
    """``with _Netlink("what"):`` turns a netlink or OS error into one RuntimeFailure."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: object, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, RuntimeFailure):
            return
        code = _code(exc)
        if code is not None:
            raise RuntimeFailure(f"{self.what}: {os.strerror(code)}") from exc


def _code(exc: BaseException) -> int | None:
    """The errno of a pyroute2 NetlinkError or an OSError; None for anything else."""
    if isinstance(exc, OSError):
        return exc.errno or errno.EIO
    if type(exc).__module__.startswith("pyroute2"):
        code = getattr(exc, "code", None)
        return code if isinstance(code, int) and code > 0 else errno.EIO
    return None


def _netlink_error() -> type[Exception]:
    from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

    cls: type[Exception] = NetlinkError
    return cls


def _new_iproute() -> Any:
    from pyroute2 import IPRoute  # type: ignore[import-untyped]

    return IPRoute()


def _index(ipr: Any, name: str) -> int | None:
    """The interface's index, or None if there is none of that name."""
    try:
        msgs = ipr.link("get", ifname=name)
    except _netlink_error() as exc:
        if getattr(exc, "code", None) == errno.ENODEV:
            return None
        raise
    return int(msgs[0].get("index"))


def _tolerate(code: int, fn: Any, *args: Any, **kwargs: Any) -> None:
    """``fn(*args, **kwargs)``, where a netlink error ``code`` means "already so"."""
    try:
        fn(*args, **kwargs)
    except _netlink_error() as exc:
        if getattr(exc, "code", None) != code:
            raise


class RealNetOps:
    """NetOps on pyroute2 ``IPRoute``, in the calling process's namespace.

    The host socket is opened on first use; ``close`` (or ``with``) ends it."""

    __slots__ = ("_ipr",)

    def __init__(self) -> None:
        self._ipr: Any = None

    def __enter__(self) -> RealNetOps:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None

    def _host(self) -> Any:
        if self._ipr is None:
            with _Netlink("open a netlink socket"):
                self._ipr = _new_iproute()
        return self._ipr

    def ensure_bridge(self, name: str, gateway_cidr: str) -> None:
        check_ifname(name)
        ip, _, plen = gateway_cidr.partition("/")
        with _Netlink(f"set up bridge {name} ({gateway_cidr})"):
            ipr = self._host()
            idx = _index(ipr, name)
            if idx is None:
                # A fixed MAC: a bridge otherwise takes its lowest port's, and
                # changes it (and breaks peers' ARP entries) as ports come and go.
                _tolerate(errno.EEXIST, ipr.link, "add", ifname=name, kind="bridge",
                          address=mac_for(ip))
                idx = _index(ipr, name)
                if idx is None:
                    raise RuntimeFailure(f"bridge {name} vanished while being set up")
            else:
                kind = ipr.link("get", index=idx)[0].get(("linkinfo", "kind"))
                if kind != "bridge":
                    raise RuntimeFailure(f"interface {name} exists and is not a bridge")
            _tolerate(errno.EEXIST, ipr.addr, "add", index=idx, address=ip,
                      prefixlen=int(plen))
            ipr.link("set", index=idx, state="up")

    def delete_bridge(self, name: str) -> None:
        self.delete_link(name)

    def delete_link(self, name: str) -> bool:
        check_ifname(name)
        with _Netlink(f"delete interface {name}"):
            ipr = self._host()
            idx = _index(ipr, name)
            if idx is None:
                return False
            try:
                ipr.link("del", index=idx)
            except _netlink_error() as exc:
                if getattr(exc, "code", None) == errno.ENODEV:
                    return False  # deleted meanwhile (its container's netns ended)
                raise
            return True

    def link_exists(self, name: str) -> bool:
        check_ifname(name)
        with _Netlink(f"look up interface {name}"):
            return _index(self._host(), name) is not None

    def add_container_veth(self, host_name: str, netns_fd: int, ifname: str, bridge: str,
                           ip_cidr: str, gateway: str | None, mac: str) -> None:
        check_ifname(host_name)
        check_ifname(ifname)
        ipr = self._host()
        with _Netlink(f"look up bridge {bridge}"):
            br = _index(ipr, check_ifname(bridge))
        if br is None:
            raise RuntimeFailure(f"bridge {bridge} does not exist")
        with _Netlink(f"create veth pair {host_name}/{ifname}"):
            # The peer is born in the container's namespace (moving it there
            # afterwards costs a namespace change per interface); the host end
            # is born on the bridge and up: one request instead of three.
            ipr.link("add", ifname=host_name, kind="veth", master=br, state="up",
                     peer={"ifname": ifname, "net_ns_fd": netns_fd, "address": mac})
        try:
            with _Netlink(f"set hairpin mode on {host_name}"):
                host = _index(ipr, host_name)
                if host is None:
                    raise RuntimeFailure(f"veth {host_name} vanished while being set up")
                # The bridge may send a frame back out of the port it came in
                # on, so a container reaches its own published port through
                # the host's address (NAT sends it back to itself).
                ipr.link("set", index=host, kind="bridge_slave", mode=1)
            _configure_inside(netns_fd, ifname, ip_cidr, gateway)
        except BaseException:
            try:
                self.delete_link(host_name)  # takes the container's end along
            except RuntimeFailure:
                pass
            raise

    def host_routes(self) -> list[str]:
        found: set[str] = set()
        with _Netlink("list the host's routes and addresses"):
            ipr = self._host()
            for route in ipr.route("dump", family=AF_INET):
                table = route.get("RTA_TABLE") or route.get("table")
                plen = int(route.get("dst_len") or 0)
                if table == RT_TABLE_LOCAL or plen == 0 or not route.get("dst"):
                    continue
                found.add(format_cidr(*parse_cidr(f"{route.get('dst')}/{plen}", strict=False)))
            for msg in ipr.addr("dump", family=AF_INET):
                cidr = f"{msg.get('address')}/{int(msg.get('prefixlen'))}"
                found.add(format_cidr(*parse_cidr(cidr, strict=False)))
        return sorted(found)

    def enable_forwarding(self) -> str:
        with _Netlink(f"enable forwarding ({IP_FORWARD})"):
            with open(IP_FORWARD, encoding="ascii") as f:
                old = f.read().strip()
            if old != "1":
                with open(IP_FORWARD, "w", encoding="ascii") as f:
                    f.write("1")
        return old


def _configure_inside(netns_fd: int, ifname: str, ip_cidr: str, gateway: str | None) -> None:
    """Address, up, ``lo`` up and the default route, on the container's side."""
    ip, _, plen = ip_cidr.partition("/")
    cipr = _open_in_netns(netns_fd, ifname)
    try:
        with _Netlink(f"configure {ifname} ({ip_cidr}) in the container's namespace"):
            lo = _index(cipr, "lo")
            if lo is not None:
                cipr.link("set", index=lo, state="up")
            idx = _index(cipr, ifname)
            if idx is None:
                raise RuntimeFailure(f"{ifname} is missing in the container's namespace")
            cipr.addr("add", index=idx, address=ip, prefixlen=int(plen))
            cipr.link("set", index=idx, state="up")
            if gateway:
                cipr.route("add", dst="0.0.0.0/0", gateway=gateway)
    finally:
        cipr.close()


def _open_in_netns(netns_fd: int, ifname: str) -> Any:
    """An IPRoute whose socket lives in ``netns_fd``'s namespace, with IPv6 DAD
    turned off for ``ifname`` there (so its addresses are usable at once).

    setns(CLONE_NEWNET) changes the calling thread only; this refuses to run in
    a process with other threads all the same, so nothing else can ever run
    while this thread is in the container's namespace."""
    import ctypes

    if len(os.listdir("/proc/self/task")) != 1:
        raise RuntimeFailure("configuring a container's network needs a single-threaded process")
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(netns_fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise RuntimeFailure(f"enter the container's network namespace: {os.strerror(err)}")
        try:
            with _Netlink("open a netlink socket in the container's namespace"):
                cipr = _new_iproute()
            try:
                _write_sysctl(f"/proc/sys/net/ipv6/conf/{ifname}/accept_dad", "0")
            except BaseException:
                cipr.close()
                raise
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise RuntimeFailure("could not return to the host network namespace: "
                                     f"{os.strerror(err)}")
    finally:
        os.close(home)
    return cipr


def _write_sysctl(path: str, value: str) -> None:
    """Write a sysctl of the current namespace; absent (no IPv6 here) is fine."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise RuntimeFailure(f"{path}: {exc.strerror}") from None
    try:
        os.write(fd, value.encode())
    except OSError as exc:
        raise RuntimeFailure(f"{path}: {exc.strerror}") from None
    finally:
        os.close(fd)
