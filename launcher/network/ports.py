"""Published ports: Docker's ``-p``/``--publish`` and ``-P`` grammar, host port reservation.

Grammar (one ``-p`` value)::

    [IP:][HOST_PORT[-END]:]CONTAINER_PORT[-END][/tcp|/udp|/sctp]

``IP`` may be IPv6 in brackets (``[::1]:8080:80``).  Ranges expand to one
:class:`PortMapping` per port and must have equal lengths.  An empty (or 0)
``HOST_PORT`` asks launcher to choose a free host port: see :func:`reserve`.

Ephemeral ports, and why the reservation is a bound socket: launcher publishes
with DNAT rules, which never bind a socket, so nothing stops the kernel from
handing the same port to another process or to the next ``run -p 80``.  So
:func:`reserve` binds a socket (no SO_REUSEADDR, never listening) on the
mapping's address and protocol — port 0 lets the kernel pick a free one from
``ip_local_port_range`` — and keeps it open until the firewall rule exists;
fixed ports are bound too, so publishing over a host service fails loudly
instead of silently stealing its traffic.  A port the kernel offers that a live
container already publishes (a DNAT rule holds no socket) is kept bound and
skipped.  Close the reservation once ``Firewall.publish`` returned, or hand its
``fds()`` to the container's monitor to hold the ports for the container's life.

Parse errors are ``ValueError`` with Docker's wording (the CLI adds
``invalid argument "…" for "-p, --publish" flag: ``).
"""

from __future__ import annotations

# _socket, not socket: socket.py pulls in enum (~9 ms on the start path).
import _socket
import errno
import os

from launcher.errors import ConflictError, RuntimeFailure, UnsupportedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

PROTOCOLS = ("tcp", "udp", "sctp")
# How many kernel-chosen ports may collide with DNAT-only ports before giving up.
_MAX_EPHEMERAL_TRIES = 64


class PortMapping:
    """One published port.  ``host_ip`` "" means all addresses (Docker's default);
    ``host_port`` 0 means "not chosen yet" (see :func:`reserve`)."""

    __slots__ = ("container_port", "host_ip", "host_port", "proto")

    def __init__(self, host_ip: str, host_port: int, container_port: int, proto: str = "tcp"):
        self.host_ip = host_ip
        self.host_port = host_port
        self.container_port = container_port
        self.proto = proto

    def _key(self) -> tuple[str, int, int, str]:
        return (self.host_ip, self.host_port, self.container_port, self.proto)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PortMapping) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"PortMapping({self.spec()!r})"

    def host_address(self) -> str:
        """``0.0.0.0:8080`` / ``[::1]:8080``: what ``launcher port CID 80`` prints."""
        ip = self.host_ip or "0.0.0.0"
        return f"[{ip}]:{self.host_port}" if ":" in ip else f"{ip}:{self.host_port}"

    def __str__(self) -> str:
        """Docker's ``docker port`` line: ``80/tcp -> 0.0.0.0:8080``."""
        return f"{self.container_port}/{self.proto} -> {self.host_address()}"

    def spec(self) -> str:
        """The ``-p`` text that parses back to this mapping (for state files)."""
        host = str(self.host_port) if self.host_port else ""
        ip = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        prefix = f"{ip}:{host}:" if ip else (f"{host}:" if host else "")
        return f"{prefix}{self.container_port}/{self.proto}"

    def with_host_port(self, port: int) -> PortMapping:
        return PortMapping(self.host_ip, port, self.container_port, self.proto)


def _port_range(text: str, lowest: int) -> tuple[int, int] | None:
    """``"80"`` or ``"80-90"`` → (start, end); None when malformed or out of range."""
    start_text, dash, end_text = text.partition("-")
    if not dash:
        end_text = start_text
    if not (start_text.isascii() and start_text.isdigit() and end_text.isascii()
            and end_text.isdigit()):
        return None
    start, end = int(start_text), int(end_text)
    if not lowest <= start <= end <= 65535:
        return None
    return start, end


def _split_proto(text: str) -> tuple[str, str]:
    port, _, proto = text.partition("/")
    return port, (proto or "tcp").lower()


def _parse_ip(text: str) -> str:
    """The canonical form of a host IP ("" stays ""), or ValueError."""
    if not text:
        return ""
    raw = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    family = _socket.AF_INET6 if ":" in raw else _socket.AF_INET
    try:
        return _socket.inet_ntop(family, _socket.inet_pton(family, raw))
    except (OSError, ValueError):
        raise ValueError(f"invalid IP address: {text}") from None


def parse_publish(text: str) -> list[PortMapping]:
    """Parse one ``-p`` value into mappings, one per port of a range."""
    parts = text.split(":")
    container_part = parts[-1]
    host_part = parts[-2] if len(parts) >= 2 else ""
    ip_part = ":".join(parts[:-2])  # an unbracketed IPv6 address keeps its colons
    container_text, proto = _split_proto(container_part)
    host_ip = _parse_ip(ip_part)
    if not container_text:
        raise ValueError(f"no port specified: {text}<empty>")
    container = _port_range(container_text, 1)
    if container is None:
        raise ValueError(f"invalid containerPort: {container_text}")
    host = (0, 0)
    if host_part:
        found = _port_range(host_part, 0)
        if found is None or (found[0] == 0 and found[1] != 0):
            raise ValueError(f"invalid hostPort: {host_part}")
        host = found
    count = container[1] - container[0]
    if host != (0, 0) and host[1] - host[0] != count:
        # Docker would pick one free port of a host range for a single container
        # port; launcher asks for equal lengths (or an empty host port) instead.
        raise ValueError(
            f"invalid ranges specified for container and host Ports: {container_text} and "
            f"{host_part}")
    if proto not in PROTOCOLS:
        raise ValueError(f"invalid proto: {proto}")
    return [PortMapping(host_ip, host[0] + i if host[0] else 0, container[0] + i, proto)
            for i in range(count + 1)]


def publish_all(exposed: Iterable[str], skip: Iterable[PortMapping] = ()) -> list[PortMapping]:
    """``-P``: every exposed port (image ``ExposedPorts`` keys like ``"80/tcp"``) on an
    ephemeral host port of all addresses, except container ports ``skip`` (the
    explicit ``-p`` mappings) already publish."""
    taken = {(m.container_port, m.proto) for m in skip}
    out: list[PortMapping] = []
    for key in exposed:
        port_text, proto = _split_proto(key)
        found = _port_range(port_text, 1)
        if found is None:
            raise ValueError(f"invalid exposed port: {key}")
        if proto not in PROTOCOLS:
            raise ValueError(f"invalid proto: {proto}")
        for port in range(found[0], found[1] + 1):
            if (port, proto) not in taken:
                taken.add((port, proto))
                out.append(PortMapping("", 0, port, proto))
    return out


def _overlap(a: str, b: str) -> bool:
    """Whether two host IPs can receive the same packet ("" is every address)."""
    if a == b or not a or not b:
        return True
    if (":" in a) != (":" in b):
        return False
    return a in ("0.0.0.0", "::") or b in ("0.0.0.0", "::")


def check_conflicts(new: Iterable[PortMapping], existing: Iterable[PortMapping]) -> None:
    """ConflictError when a host ip/port/proto of ``new`` is already published by
    ``existing`` (the mappings of live containers) or twice within ``new``.
    Mappings whose host port is not chosen yet (0) are skipped."""
    seen = [m for m in existing if m.host_port]
    for mapping in new:
        if not mapping.host_port:
            continue
        for other in seen:
            if (other.host_port == mapping.host_port and other.proto == mapping.proto
                    and _overlap(other.host_ip, mapping.host_ip)):
                raise ConflictError(
                    f"Bind for {mapping.host_address()} failed: port is already allocated")
        seen.append(mapping)


class PortReservation:
    """Bound sockets holding host ports until the firewall rules exist."""

    __slots__ = ("_socks",)

    def __init__(self) -> None:
        self._socks: list[_socket.socket] = []

    def add(self, sock: _socket.socket) -> None:
        self._socks.append(sock)

    def fds(self) -> list[int]:
        """The descriptors, to hand to a process that keeps the ports for longer."""
        return [s.fileno() for s in self._socks]

    def close(self) -> None:
        for sock in self._socks:
            sock.close()
        self._socks.clear()

    def __enter__(self) -> PortReservation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bind(mapping: PortMapping, port: int) -> _socket.socket | None:
    """A socket bound to the mapping's address/proto and ``port``; None when the
    host lacks the protocol and ``port`` is fixed (nothing to check against)."""
    ip = mapping.host_ip or "0.0.0.0"
    family = _socket.AF_INET6 if ":" in ip else _socket.AF_INET
    kind = _socket.SOCK_DGRAM if mapping.proto == "udp" else _socket.SOCK_STREAM
    proto = _socket.IPPROTO_SCTP if mapping.proto == "sctp" else 0
    where = f"{mapping.host_address() if port else ip}/{mapping.proto}"
    try:
        sock = _socket.socket(family, kind, proto)
    except OSError as exc:
        if port and exc.errno in (errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT):
            return None
        if exc.errno in (errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT):
            raise UnsupportedError(
                f"cannot choose a free {mapping.proto} port: the host has no "
                f"{mapping.proto.upper()} support; give a host port") from exc
        raise RuntimeFailure(f"cannot reserve {where}: {os.strerror(exc.errno or 0)}") from exc
    try:
        if family == _socket.AF_INET6:
            sock.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 1)
        sock.bind((ip, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConflictError(f"cannot publish {where}: address already in use") from exc
        if exc.errno == errno.EADDRNOTAVAIL:
            raise ConflictError(
                f"cannot publish {where}: {ip} is not an address of this host") from exc
        raise RuntimeFailure(f"cannot reserve {where}: {os.strerror(exc.errno or 0)}") from exc
    return sock


def _choose(mapping: PortMapping, taken: set[tuple[int, str]],
            reservation: PortReservation, rejected: PortReservation) -> int:
    """Bind port 0 until the kernel offers a port no DNAT rule uses; keep it bound."""
    for _ in range(_MAX_EPHEMERAL_TRIES):
        sock = _bind(mapping, 0)
        assert sock is not None  # port 0 never returns None
        port = int(sock.getsockname()[1])
        if (port, mapping.proto) not in taken:
            taken.add((port, mapping.proto))
            reservation.add(sock)
            return port
        rejected.add(sock)  # stays bound until the end, so the kernel moves on
    raise ConflictError(f"no free host port for {mapping.container_port}/{mapping.proto}")


def reserve(mappings: list[PortMapping], existing: Iterable[PortMapping] = ()
            ) -> tuple[list[PortMapping], PortReservation]:
    """Bind every mapping's host port (choosing the empty ones), in input order.

    Returns the mappings with their host ports filled in and the reservation to
    close after the rules exist.  Call :func:`check_conflicts` first for fixed
    ports; ``existing`` is the same list (live containers' mappings).
    """
    taken = {(m.host_port, m.proto) for m in existing if m.host_port}
    taken.update((m.host_port, m.proto) for m in mappings if m.host_port)
    reservation, rejected = PortReservation(), PortReservation()
    chosen: dict[int, int] = {}
    try:
        # Fixed ports first, so the kernel can't offer one of them as ephemeral.
        for mapping in mappings:
            if mapping.host_port:
                sock = _bind(mapping, mapping.host_port)
                if sock is not None:
                    reservation.add(sock)
        for i, mapping in enumerate(mappings):
            if not mapping.host_port:
                chosen[i] = _choose(mapping, taken, reservation, rejected)
    except BaseException:
        reservation.close()
        raise
    finally:
        rejected.close()
    out = [m.with_host_port(chosen[i]) if i in chosen else m for i, m in enumerate(mappings)]
    return out, reservation
