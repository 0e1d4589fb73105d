"""launcher's packet rules: one nftables table, ``inet launcher``, and nothing else.

Every rule lives in launcher's own table, so ``nft list ruleset`` shows it
beside iptables-nft's ``ip filter``/``ip nat`` tables and neither touches the
other.  Rules are applied as one ``nft -f -`` transaction per operation (all or
nothing) and read back with ``nft -j list table inet launcher``, both through an
injected runner (:data:`Runner`); the unit tests record scripts with a fake.

Layout (see :func:`base_script`)::

    guard        filter prerouting, priority raw: drop 127.0.0.0/8 / ::1 arriving
                 on anything but lo.  Raw, i.e. *before* DNAT: at filter priority
                 a packet to 127.0.0.1:PORT from another host on the link would
                 already be rewritten to the container's address (CVE-2020-8558
                 class); it also stops containers from reaching host loopback
                 services through a bridge that has route_localnet=1.
    forward      filter forward: accept established/related, then jump isolate.
    isolate      per network, drops only: nothing enters a bridge from elsewhere
                 unless DNATed (a published port) or established; internal
                 networks neither send nor receive beyond their bridge.
                 Only drops, because an accept in our table cannot override a
                 drop in another table and would make rule order matter.
    prerouting   nat, DNAT of published ports for traffic from outside/containers.
    output       nat, DNAT for traffic from the host itself (incl. 127.0.0.1).
    postrouting  nat, per network: masquerade outgoing traffic, hairpin/same-
                 network traffic to a published port, and 127.0.0.0/8 sources
                 (host → 127.0.0.1:PORT; needs :func:`set_route_localnet`).

Each rule carries a comment — ``launcher=base``, ``network=NAME`` or
``container=ID`` — and is removed by handle after looking the comment up.
"""

from __future__ import annotations

import os

from launcher import fastjson
from launcher.errors import RuntimeFailure, UnsupportedError
from launcher.network.nft import NftBinary, NftError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, Protocol

    from launcher.network.ports import PortMapping

    #: ``runner(nft_arguments, stdin_text) -> stdout``; raises :class:`NftError`
    #: (:class:`launcher.network.nft.NftBinary` in production, a recorder in tests).
    Runner = Callable[[list[str], str], str]

    class NetworkLike(Protocol):
        """What the firewall needs to know of a network (restore's input)."""

        @property
        def name(self) -> str: ...
        @property
        def subnet(self) -> str: ...
        @property
        def bridge(self) -> str: ...
        @property
        def internal(self) -> bool: ...

TABLE = "inet launcher"
BASE = "launcher=base"
_HOOKED = (
    ("guard", "type filter hook prerouting priority raw; policy accept;"),
    ("forward", "type filter hook forward priority filter; policy accept;"),
    ("prerouting", "type nat hook prerouting priority dstnat; policy accept;"),
    # nft 1.0.6 knows "dstnat" for prerouting only; -100 is the same priority.
    ("output", "type nat hook output priority -100; policy accept;"),
    ("postrouting", "type nat hook postrouting priority srcnat; policy accept;"),
)
BASE_CHAINS = (*(name for name, _ in _HOOKED), "isolate")
_BASE_RULES = (
    ("guard", 'iifname != "lo" ip daddr 127.0.0.0/8 drop'),
    ("guard", 'iifname != "lo" ip6 daddr ::1 drop'),
    ("forward", "ct state established,related accept"),
    ("forward", "jump isolate"),
)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


# --- checks -------------------------------------------------------------------

def _check_name(kind: str, value: str, limit: int = 128) -> str:
    if (not value or len(value) > limit or value[0] in "_.-" or not _NAME_CHARS.issuperset(value)):
        raise ValueError(f"invalid {kind}: {value!r}")
    return value


def _family(address: str, kind: str = "address") -> str:
    """``ip`` or ``ip6`` for an address or CIDR subnet; ValueError when invalid."""
    import _socket

    addr, slash, length = address.partition("/")
    family, bits = (_socket.AF_INET6, 128) if ":" in addr else (_socket.AF_INET, 32)
    try:
        _socket.inet_pton(family, addr)
    except (OSError, ValueError):
        raise ValueError(f"invalid {kind}: {address!r}") from None
    if slash and not (length.isascii() and length.isdigit() and int(length) <= bits):
        raise ValueError(f"invalid {kind}: {address!r}")
    return "ip6" if family == _socket.AF_INET6 else "ip"


def _is_loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip == "::1"


# --- scripts (pure) -----------------------------------------------------------

def _rule(chain: str, body: str, comment: str) -> str:
    return f'add rule {TABLE} {chain} {body} comment "{comment}"'


def base_script() -> str:
    """Table, chains and base rules; safe to apply again (the two chains holding
    base rules only are flushed and refilled in the same transaction)."""
    lines = [f"add table {TABLE}"]
    lines += [f"add chain {TABLE} {name} {{ {spec} }}" for name, spec in _HOOKED]
    lines += [f"add chain {TABLE} isolate", f"flush chain {TABLE} guard",
              f"flush chain {TABLE} forward"]
    lines += [_rule(chain, body, BASE) for chain, body in _BASE_RULES]
    return "\n".join(lines) + "\n"


def network_script(name: str, subnet: str, bridge: str, internal: bool) -> str:
    """The rules of one network (see the module docstring)."""
    tag = "network=" + _check_name("network name", name, 100)
    br = _check_name("bridge name", bridge, 15)
    fam = _family(subnet, "subnet")
    if internal:
        rules = [("isolate", f'oifname "{br}" iifname != "{br}" drop'),
                 ("isolate", f'iifname "{br}" oifname != "{br}" drop')]
    else:
        rules = [
            # Into the bridge only what is published (DNAT) or answers (established).
            ("isolate", f'oifname "{br}" iifname != "{br}" ct status & dnat == 0 drop'),
            ("postrouting", f'{fam} saddr {subnet} oifname != "{br}" masquerade'),
            # Hairpin and same-network traffic to a published port: without it the
            # container answers straight to the peer, which expects the host address.
            ("postrouting", f"{fam} saddr {subnet} {fam} daddr {subnet} ct status dnat masquerade"),
        ]
        if fam == "ip":
            # Host → 127.0.0.1:PORT → container: the source must become the bridge's.
            rules.append(("postrouting", f'oifname "{br}" ip saddr 127.0.0.0/8 masquerade'))
    return "".join(_rule(chain, body, tag) + "\n" for chain, body in rules)


def _match(mapping: PortMapping, fam: str) -> str:
    """The destination part of a DNAT rule for one mapping ("" follows the
    container's IP version; 0.0.0.0 and :: name one)."""
    ip = mapping.host_ip
    if not ip or ip in ("0.0.0.0", "::"):
        want = {"": fam, "0.0.0.0": "ip", "::": "ip6"}[ip]
        if want != fam:
            raise UnsupportedError(f"cannot publish {mapping}: the container has no IPv6 address"
                                   if want == "ip6" else
                                   f"cannot publish {mapping}: the container has no IPv4 address")
        nfproto = "ipv6" if fam == "ip6" else "ipv4"
        return f"meta nfproto {nfproto} fib daddr type local"
    if _family(ip, "host IP") != fam:
        raise UnsupportedError(
            f"cannot publish {mapping}: host and container addresses differ in IP version")
    return f"{fam} daddr {ip}"


def publish_script(cid: str, container_ip: str, mappings: Iterable[PortMapping]) -> str:
    """DNAT rules for a container's published ports (host ports must be chosen)."""
    tag = "container=" + _check_name("container id", cid, 100)
    fam = _family(container_ip, "container IP")
    target = f"[{container_ip}]" if fam == "ip6" else container_ip
    lines = []
    for m in mappings:
        if m.proto not in ("tcp", "udp", "sctp") or not (
                0 < m.host_port < 65536 and 0 < m.container_port < 65536):
            raise ValueError(f"cannot publish {m.spec()}: no host port chosen or bad port")
        body = (f"{_match(m, fam)} {m.proto} dport {m.host_port} "
                f"dnat {fam} to {target}:{m.container_port}")
        if not _is_loopback(m.host_ip):
            # A loopback-bound port is for the host only: no rule for arriving traffic.
            lines.append(_rule("prerouting", body, tag))
        lines.append(_rule("output", body, tag))
    return "".join(line + "\n" for line in lines)


def delete_script(handles: Iterable[tuple[str, int]]) -> str:
    return "".join(f"delete rule {TABLE} {chain} handle {handle}\n" for chain, handle in handles)


# --- reading the table --------------------------------------------------------

class Snapshot:
    """The table as listed: its chains and ``(chain, handle, comment)`` per rule."""

    __slots__ = ("chains", "rules")

    def __init__(self, chains: set[str], rules: list[tuple[str, int, str]]) -> None:
        self.chains = chains
        self.rules = rules

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        data: Any = fastjson.loads(text)
        chains: set[str] = set()
        rules: list[tuple[str, int, str]] = []
        for item in data.get("nftables", []):
            if "chain" in item and item["chain"].get("table") == "launcher":
                chains.add(item["chain"]["name"])
            elif "rule" in item and item["rule"].get("table") == "launcher":
                rule = item["rule"]
                rules.append((rule["chain"], int(rule["handle"]), rule.get("comment", "")))
        return cls(chains, rules)

    def handles(self, comment: str) -> list[tuple[str, int]]:
        return [(chain, handle) for chain, handle, text in self.rules if text == comment]

    def intact(self) -> bool:
        """All base chains there and the base rules in place."""
        return (self.chains.issuperset(BASE_CHAINS)
                and len(self.handles(BASE)) == len(_BASE_RULES))


# --- the firewall -------------------------------------------------------------

class Firewall:
    """Operations on launcher's table; each is one transaction, all idempotent."""

    __slots__ = ("_run",)

    def __init__(self, runner: Runner | None = None) -> None:
        self._run = runner or NftBinary()

    def _apply(self, script: str, what: str) -> None:
        try:
            self._run(["-f", "-"], script)
        except NftError as exc:
            raise RuntimeFailure(f"{what}: {exc}") from exc

    def snapshot(self) -> Snapshot | None:
        """The table as it is now; None when it does not exist."""
        try:
            text = self._run(["-j", "list", "table", *TABLE.split()], "")
        except NftError as exc:
            if "No such file or directory" in exc.stderr:
                return None
            raise RuntimeFailure(f"reading the launcher firewall table: {exc}") from exc
        return Snapshot.parse(text)

    def is_intact(self) -> bool:
        """Table, chains and base rules present (one ``nft list``, a few ms)."""
        snap = self.snapshot()
        return snap is not None and snap.intact()

    def ensure_base(self) -> None:
        self._apply(base_script(), "creating the launcher firewall table")

    def _replace(self, comment: str, script: str, what: str) -> None:
        """Delete the rules tagged ``comment`` and apply ``script``, atomically;
        the base is (re)built first when missing.  Retried once when a handle
        vanished between the listing and the deletion (a concurrent launcher)."""
        for attempt in (1, 2):
            snap = self.snapshot()
            handles = snap.handles(comment) if snap is not None else []
            if not handles and not script:
                return  # nothing to delete, nothing to add: done (idempotent)
            prefix = "" if snap is not None and snap.intact() else base_script()
            try:
                self._run(["-f", "-"], prefix + delete_script(handles) + script)
                return
            except NftError as exc:
                if attempt == 2 or not handles or "No such file" not in exc.stderr:
                    raise RuntimeFailure(f"{what}: {exc}") from exc

    def add_network(self, name: str, subnet: str, bridge: str, internal: bool = False) -> None:
        """Masquerade, isolation and hairpin rules of a network (replacing old ones)."""
        script = network_script(name, subnet, bridge, internal)
        self._replace("network=" + name, script, f"adding firewall rules of network {name}")

    def remove_network(self, name: str) -> None:
        _check_name("network name", name, 100)
        self._replace("network=" + name, "", f"removing firewall rules of network {name}")

    def publish(self, cid: str, container_ip: str, mappings: Iterable[PortMapping]) -> None:
        """DNAT the container's published ports (replacing any it had)."""
        script = publish_script(cid, container_ip, mappings)
        self._replace("container=" + cid, script, f"publishing ports of {cid}")

    def unpublish(self, cid: str) -> None:
        _check_name("container id", cid, 100)
        self._replace("container=" + cid, "", f"removing published ports of {cid}")

    def restore(self, networks: Iterable[NetworkLike],
                publications: Iterable[tuple[str, str, list[PortMapping]]],
                *, force: bool = False) -> bool:
        """Rebuild the whole table from launcher's state when it is not intact
        (``nft flush ruleset``, a deleted table); True when it was rebuilt.

        ``publications`` holds ``(container id, container IP, mappings)`` of the
        running containers.  The old table, if any, goes in the same transaction.
        """
        if not force and self.is_intact():
            return False
        parts = [f"add table {TABLE}\ndelete table {TABLE}\n", base_script()]
        parts += [network_script(n.name, n.subnet, n.bridge, n.internal) for n in networks]
        parts += [publish_script(cid, ip, maps) for cid, ip, maps in publications]
        self._apply("".join(parts), "restoring the launcher firewall table")
        return True


def set_route_localnet(bridge: str, enabled: bool = True, *, proc_sys: str = "/proc/sys") -> None:
    """Let a bridge carry 127.0.0.0/8 sources/destinations
    (``net.ipv4.conf.BRIDGE.route_localnet``): needed for host → 127.0.0.1:PORT
    publishing.  The guard chain keeps it from exposing host loopback services."""
    _check_name("bridge name", bridge, 15)
    path = f"{proc_sys}/net/ipv4/conf/{bridge}/route_localnet"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, b"1\n" if enabled else b"0\n")
        finally:
            os.close(fd)
    except OSError as exc:
        raise RuntimeFailure(f"{path}: {exc.strerror or exc}") from exc
