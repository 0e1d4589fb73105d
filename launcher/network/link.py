"""The netlink seam: every change to interfaces, addresses and routes.

``NetOps`` is the small interface the network code calls; ``RealNetOps`` does
it with rtnetlink requests on a raw socket (:mod:`launcher.network.rtnl`,
never by running ``ip``), and the unit tests pass a recorder. Importing this
module opens nothing; the host's socket is opened on the first kernel call.

Configuring the container's end of a veth needs a netlink socket *inside*
the container's network namespace, and so does its IPv6 sysctl:

* a netlink socket belongs to the namespace it was created in, and there is
  no netlink request that adds an address or route in another namespace
  (``IFLA_NET_NS_FD`` only places a link);
* ``/proc/sys/net`` resolves to the namespace of the *opener*, not of any
  ``/proc/<pid>`` path (``/proc/<pid>/net`` is read-only statistics, and
  ``/proc/<pid>/root/proc/sys`` would resolve a path in the container's tree).

So :func:`_open_in_netns` enters the namespace with ``setns`` on this (single)
thread, creates the socket and writes the sysctl, and returns to the original
namespace in a ``finally``; the socket stays in the container's namespace, and
all the container-side requests go over it. Only the network namespace is
entered — never the container's mount, pid or user namespace — so no path is
resolved in the container's tree and no container process can see or trace us.
"""

from __future__ import annotations

import errno
import os

from launcher.errors import RuntimeFailure
from launcher.network import rtnl
from launcher.network.addr import format_cidr, mac_for, parse_cidr
from launcher.network.model import check_ifname

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

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
IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"


class _Netlink:
    """``with _Netlink("what"):`` turns an OSError (a netlink error is one) into
    one RuntimeFailure: ``what: strerror``."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, OSError):
            raise RuntimeFailure(f"{self.what}: {os.strerror(exc.errno or errno.EIO)}") from exc


def _new_socket() -> rtnl.Socket:
    """A netlink socket in this thread's namespace (the unit tests replace it)."""
    return rtnl.Socket()


def _find(nl: rtnl.Socket, name: str) -> rtnl.Link | None:
    """The interface called ``name``, or None if there is none."""
    try:
        answer = nl.call(rtnl.get_link(name))
    except OSError as exc:
        if exc.errno == errno.ENODEV:
            return None
        raise
    if not answer:
        raise OSError(errno.EBADMSG, f"no answer about {name}")
    return rtnl.Link(answer[0])


def _call(nl: rtnl.Socket, request: rtnl.Request, already: int) -> bool:
    """Send ``request``; False where the kernel answers ``already`` (it is so)."""
    try:
        nl.call(request)
    except OSError as exc:
        if exc.errno == already:
            return False
        raise
    return True


class RealNetOps:
    """NetOps on rtnetlink, in the calling process's namespace.

    The host socket is opened on first use; ``close`` (or ``with``) ends it."""

    __slots__ = ("_nl",)

    def __init__(self) -> None:
        self._nl: rtnl.Socket | None = None

    def __enter__(self) -> RealNetOps:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._nl is not None:
            self._nl.close()
            self._nl = None

    def _host(self) -> rtnl.Socket:
        if self._nl is None:
            with _Netlink("open a netlink socket"):
                self._nl = _new_socket()
        return self._nl

    def ensure_bridge(self, name: str, gateway_cidr: str) -> None:
        check_ifname(name)
        ip, _, plen = gateway_cidr.partition("/")
        with _Netlink(f"set up bridge {name} ({gateway_cidr})"):
            nl = self._host()
            found = _find(nl, name)
            if found is None:
                # A fixed MAC: a bridge otherwise takes its lowest port's, and
                # changes it (and breaks peers' ARP entries) as ports come and go.
                # EEXIST: a racing caller made it first.
                _call(nl, rtnl.new_bridge(name, mac_for(ip)), errno.EEXIST)
                found = _find(nl, name)
                if found is None:
                    raise RuntimeFailure(f"bridge {name} vanished while being set up")
            if found.kind != "bridge":
                raise RuntimeFailure(f"interface {name} exists and is not a bridge")
            _call(nl, rtnl.new_addr(found.index, ip, int(plen)), errno.EEXIST)
            if not found.flags & rtnl.IFF_UP:
                nl.call(rtnl.set_up(found.index))

    def delete_bridge(self, name: str) -> None:
        self.delete_link(name)

    def delete_link(self, name: str) -> bool:
        check_ifname(name)
        with _Netlink(f"delete interface {name}"):
            # ENODEV: absent, or deleted meanwhile (its container's netns ended).
            return _call(self._host(), rtnl.del_link(name), errno.ENODEV)

    def link_exists(self, name: str) -> bool:
        check_ifname(name)
        with _Netlink(f"look up interface {name}"):
            return _find(self._host(), name) is not None

    def add_container_veth(self, host_name: str, netns_fd: int, ifname: str, bridge: str,
                           ip_cidr: str, gateway: str | None, mac: str) -> None:
        check_ifname(host_name)
        check_ifname(ifname)
        nl = self._host()
        with _Netlink(f"look up bridge {bridge}"):
            br = _find(nl, check_ifname(bridge))
        if br is None:
            raise RuntimeFailure(f"bridge {bridge} does not exist")
        with _Netlink(f"create veth pair {host_name}/{ifname}"):
            # The peer is born in the container's namespace (moving it there
            # afterwards costs a namespace change per interface); the host end
            # is born on the bridge and up: one request instead of three.
            nl.call(rtnl.new_veth(host_name, br.index, ifname, mac, netns_fd))
        try:
            with _Netlink(f"set hairpin mode on {host_name}"):
                host = _find(nl, host_name)
                if host is None:
                    raise RuntimeFailure(f"veth {host_name} vanished while being set up")
                # The bridge may send a frame back out of the port it came in
                # on, so a container reaches its own published port through
                # the host's address (NAT sends it back to itself).
                nl.call(rtnl.set_hairpin(host.index))
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
            nl = self._host()
            for payload in nl.call(rtnl.dump_routes()):
                dst, plen, table = rtnl.route_dst(payload)
                if table == RT_TABLE_LOCAL or plen == 0 or dst is None:
                    continue
                found.add(format_cidr(*parse_cidr(f"{dst}/{plen}", strict=False)))
            for payload in nl.call(rtnl.dump_addrs()):
                addr = rtnl.addr_cidr(payload)
                if addr is not None:
                    found.add(format_cidr(*parse_cidr(f"{addr[0]}/{addr[1]}", strict=False)))
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
    nl = _open_in_netns(netns_fd, ifname)
    try:
        with _Netlink(f"configure {ifname} ({ip_cidr}) in the container's namespace"):
            _call(nl, rtnl.set_up_by_name("lo"), errno.ENODEV)  # no lo: nothing to do
            found = _find(nl, ifname)
            if found is None:
                raise RuntimeFailure(f"{ifname} is missing in the container's namespace")
            nl.call(rtnl.new_addr(found.index, ip, int(plen)))
            # Up before the route: the kernel refuses a gateway it cannot reach.
            nl.call(rtnl.set_up(found.index))
            if gateway:
                nl.call(rtnl.new_default_route(gateway))
    finally:
        nl.close()


def _open_in_netns(netns_fd: int, ifname: str) -> rtnl.Socket:
    """A netlink socket in ``netns_fd``'s namespace, with IPv6 DAD turned off
    for ``ifname`` there (so its addresses are usable at once).

    setns(CLONE_NEWNET) changes the calling thread only; this refuses to run in
    a process with other threads all the same, so nothing else can ever run
    while this thread is in the container's namespace."""
    if len(os.listdir("/proc/self/task")) != 1:
        raise RuntimeFailure("configuring a container's network needs a single-threaded process")
    import ctypes  # here, not at the top: ~3 ms, and only a container's connect needs it

    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(netns_fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise RuntimeFailure(f"enter the container's network namespace: {os.strerror(err)}")
        try:
            with _Netlink("open a netlink socket in the container's namespace"):
                nl = _new_socket()
            try:
                _write_sysctl(f"/proc/sys/net/ipv6/conf/{ifname}/accept_dad", "0")
            except BaseException:
                nl.close()
                raise
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise RuntimeFailure("could not return to the host network namespace: "
                                     f"{os.strerror(err)}")
    finally:
        os.close(home)
    return nl


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
