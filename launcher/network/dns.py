"""A container's ``/etc/resolv.conf`` and hostname, as Docker makes them.

launcher runs no DNS daemon, so every network gets Docker's rules for networks
without its embedded resolver (``TransformForLegacyNw`` in moby):

* start from the host's file; :func:`host_resolv_conf` picks it: ``/etc/resolv.conf``,
  or, when that names only loopback resolvers (systemd-resolved's stub 127.0.0.53,
  a dnsmasq on 127.0.0.1), the file listing the real upstream servers;
* ``--network host``: the host's nameservers as they are (loopback works there);
* any other network: loopback nameservers are dropped (they answer only in the
  host's network namespace), IPv6 ones unless the network has IPv6, and zoned
  link-local ones (``fe80::1%eth0`` names a host interface);
* ``--dns`` replaces the nameservers (taken as given), ``--dns-search`` the search
  list (``.`` entries are dropped, so ``--dns-search .`` clears it),
  ``--dns-option`` the options.

Unlike Docker, no public resolver (8.8.8.8) is ever invented: when no nameserver
is left the file has none, and a comment says why and how to set one.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

ETC_RESOLV_CONF = "/etc/resolv.conf"
# Where the real upstream servers are listed when /etc/resolv.conf names only a
# local stub: systemd-resolved's own list, then NetworkManager's (dnsmasq mode).
UPSTREAM_RESOLV_CONFS = (
    "/run/systemd/resolve/resolv.conf",
    "/run/NetworkManager/no-stub-resolv.conf",
)
HOST_NAME_MAX = 64  # the kernel's limit on a UTS hostname, in bytes
_HOST_FILE_CAP = 1 << 20
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_OPTION_CHARS = _LABEL_CHARS | frozenset(":._")


# -- addresses -----------------------------------------------------------------


def parse_ip(text: str) -> tuple[int, str]:
    """``(4 or 6, canonical text)`` of an IP address, else ValueError.

    No zone, prefix length or leading zeros, as Go's ``net.ParseIP`` (which
    Docker's flag checks use)."""
    # _socket: ~1 ms to import; ipaddress costs ~5 ms, socket ~9 ms.
    import _socket

    if text and text.isascii() and "\0" not in text:
        for family, version in ((_socket.AF_INET, 4), (_socket.AF_INET6, 6)):
            try:
                packed = _socket.inet_pton(family, text)
            except OSError:
                continue
            return version, _socket.inet_ntop(family, packed)
    raise ValueError(f"{text!r} is not an IP address")


def is_loopback(canonical: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped 127.x (canonical text)."""
    return canonical.startswith(("127.", "::ffff:127.")) or canonical == "::1"


def check_nameserver(text: str) -> str:
    """A ``--dns`` value, canonical; ValueError naming it otherwise."""
    try:
        return parse_ip(text.strip())[1]
    except ValueError:
        raise ValueError(f"invalid --dns {text!r}: not an IPv4 or IPv6 address") from None


# -- names ---------------------------------------------------------------------


def check_dns_name(name: str, what: str = "domain name") -> str:
    """RFC 1123 name: dot-separated labels of letters, digits and inner hyphens,
    1-63 characters each, 253 in all. Returns ``name``; ValueError otherwise."""
    if not name or len(name) > 253:
        raise ValueError(f"invalid {what} {name!r}: must be 1 to 253 characters")
    for label in name.split("."):
        if not label or len(label) > 63:
            raise ValueError(f"invalid {what} {name!r}: each label must be 1 to 63 characters")
        if not _LABEL_CHARS.issuperset(label) or label[0] == "-" or label[-1] == "-":
            raise ValueError(
                f"invalid {what} {name!r}: labels are letters, digits and inner hyphens"
            )
    return name


def check_hostname(name: str) -> str:
    """A ``--hostname``: an RFC 1123 name that also fits the kernel's 64 bytes."""
    check_dns_name(name, "hostname")
    if len(name) > HOST_NAME_MAX:
        raise ValueError(f"invalid hostname {name!r}: longer than {HOST_NAME_MAX} characters")
    return name


def default_hostname(container_id: str) -> str:
    """Docker's default: the first 12 characters of the container id."""
    if not container_id:
        raise ValueError("a container id is needed for the default hostname")
    return check_hostname(container_id[:12])


def check_search_domain(text: str) -> str:
    """A ``--dns-search`` value without its trailing dot; ``.`` stays ``.``
    (it means "no search list"). ValueError otherwise."""
    value = text.strip(" ")
    if value == ".":
        return value
    domain = value[:-1] if value.endswith(".") else value
    # Docker wants a letter somewhere: an all-digit "domain" is an address.
    if not any(c.isalpha() for c in domain):
        raise ValueError(f"invalid --dns-search {text!r}: not a domain name")
    return check_dns_name(domain, "--dns-search domain")


def check_dns_option(text: str) -> str:
    """A ``--dns-option`` such as ``ndots:2`` or ``edns0``; one resolv.conf word."""
    if not text or len(text) > 255 or not _OPTION_CHARS.issuperset(text):
        raise ValueError(f"invalid --dns-option {text!r}: expected a word such as ndots:2 or edns0")
    return text


# -- the host's file -----------------------------------------------------------


def read_host_file(path: str) -> str | None:
    """A host configuration file's text (symlinks followed: /etc/resolv.conf
    usually is one), or None when it does not exist. Regular files only, read up
    to 1 MiB."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        from launcher.errors import RuntimeFailure

        raise RuntimeFailure(f"reading {path}: {exc.strerror}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            from launcher.errors import RuntimeFailure

            raise RuntimeFailure(f"reading {path}: not a regular file")
        return os.read(fd, _HOST_FILE_CAP).decode("utf-8", "replace")
    finally:
        os.close(fd)


class _Nameserver:
    __slots__ = ("loopback", "text", "version", "zoned")

    def __init__(self, text: str, version: int, loopback: bool, zoned: bool) -> None:
        self.text = text
        self.version = version
        self.loopback = loopback
        self.zoned = zoned


class _Conf:
    """A parsed resolv.conf: what Docker keeps of it."""

    __slots__ = ("invalid", "nameservers", "options", "other", "search")

    def __init__(self) -> None:
        self.nameservers: list[_Nameserver] = []
        self.invalid: list[str] = []
        self.search: list[str] = []
        self.options: list[str] = []
        self.other: list[str] = []


def _parse(text: str) -> _Conf:
    conf = _Conf()
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0][0] in "#;":
            continue
        key, args = fields[0], fields[1:]
        if key == "nameserver":
            if args:
                _add_nameserver(conf, args[0])
        elif key in ("search", "domain"):  # "domain" is the obsolete "search"
            if args:
                conf.search = args  # the last one wins, as in the resolver
        elif key == "options":
            conf.options += args
        else:
            conf.other.append(line.rstrip())
    return conf


def _add_nameserver(conf: _Conf, text: str) -> None:
    addr, _, zone = text.partition("%")
    try:
        version, canonical = parse_ip(addr)
    except ValueError:
        conf.invalid.append(text)
        return
    shown = f"{canonical}%{zone}" if zone else canonical
    conf.nameservers.append(_Nameserver(shown, version, is_loopback(canonical), bool(zone)))


def _nameservers(text: str) -> list[_Nameserver]:
    return _parse(text).nameservers


def host_resolv_conf(
    *, network_mode: str = "bridge", read: Callable[[str], str | None] = read_host_file
) -> tuple[str, str]:
    """``(path, text)`` of the host file a container's resolv.conf starts from.

    ``/etc/resolv.conf``, unless it names only loopback resolvers and the
    container has its own network namespace: then the first of
    :data:`UPSTREAM_RESOLV_CONFS` that exists and names a non-loopback server.
    ``read`` returns a file's text or None when it is missing."""
    text = read(ETC_RESOLV_CONF) or ""
    if network_mode == "host":
        return ETC_RESOLV_CONF, text
    servers = _nameservers(text)
    if servers and all(ns.loopback for ns in servers):
        for path in UPSTREAM_RESOLV_CONFS:
            alt = read(path)
            if alt is not None and any(not ns.loopback for ns in _nameservers(alt)):
                return path, alt
    return ETC_RESOLV_CONF, text


# -- the container's file ------------------------------------------------------


def resolv_conf(
    host_text: str,
    *,
    dns: Sequence[str] = (),
    search: Sequence[str] = (),
    options: Sequence[str] = (),
    network_mode: str = "bridge",
    ipv6: bool = False,
    source: str = ETC_RESOLV_CONF,
) -> str:
    """The container's resolv.conf text (see the module docstring for the rules).

    ``dns``/``search``/``options`` are the flag values, empty when not given;
    ``ipv6`` says whether the container's network has IPv6; ``source`` is the
    host file's path, named in a trailing comment. ValueError on a bad flag."""
    if network_mode.startswith("container:"):
        raise ValueError("a container sharing another's network uses that one's resolv.conf")
    conf = _parse(host_text)
    notes: list[str] = []
    overrides: list[str] = []
    if dns:
        servers = [check_nameserver(s) for s in dns]
        overrides.append("nameservers")
    elif network_mode == "host":
        servers = [ns.text for ns in conf.nameservers]
    else:
        servers = _reachable(conf.nameservers, ipv6, notes)
    if search:
        conf.search = [d for d in map(check_search_domain, search) if d != "."]
        overrides.append("search")
    if options:
        conf.options = [check_dns_option(o) for o in options]
        overrides.append("options")

    out = [f"nameserver {s}" for s in servers]
    if conf.search:
        out.append("search " + " ".join(conf.search))
    if conf.options:
        out.append("options " + " ".join(conf.options))
    out += conf.other
    out.append("")
    how = "host network" if network_mode == "host" else "legacy"
    out.append(f"# Based on host file: '{source}' ({how})")
    out += notes
    if conf.invalid:
        out.append("# Invalid nameservers: " + " ".join(conf.invalid))
    out.append("# Overrides: [" + " ".join(overrides) + "]")
    return "\n".join(out) + "\n"


def _reachable(found: list[_Nameserver], ipv6: bool, notes: list[str]) -> list[str]:
    """The host's nameservers a container in its own network namespace can use;
    a comment in ``notes`` for each kind dropped."""
    kept: list[str] = []
    loopback: list[str] = []
    v6: list[str] = []
    zoned: list[str] = []
    for ns in found:
        if ns.loopback:
            loopback.append(ns.text)
        elif ns.zoned:
            zoned.append(ns.text)
        elif ns.version == 6 and not ipv6:
            v6.append(ns.text)
        else:
            kept.append(ns.text)
    if loopback:
        notes.append("# Removed loopback nameservers (host namespace only): " + " ".join(loopback))
    if zoned:
        notes.append("# Removed link-local nameservers (host interfaces): " + " ".join(zoned))
    if v6:
        notes.append("# Removed IPv6 nameservers (no IPv6 on this network): " + " ".join(v6))
    if not kept:
        notes.append("# No nameserver is left, and launcher uses no public resolver in its")
        notes.append("# place (Docker would put 8.8.8.8 here). Set one with --dns ADDRESS.")
    return kept
