"""A container's ``/etc/hosts``, as Docker writes it, and its in-place rewrite.

launcher runs no DNS daemon: containers on one user-defined network find each
other by name through their hosts files. Each lists its *peers* (the other
members, by name and aliases), so when a container joins or leaves a network,
every member's file is regenerated with :func:`hosts_file` and written with
:func:`rewrite_hosts`, in place, since the file is bind-mounted into running
containers.

The file, in Docker's order (the resolver takes the first match, so a user's
``--add-host`` wins over the container's own names, and those over peers')::

    127.0.0.1	localhost
    ::1	localhost ip6-localhost ip6-loopback      (and the ip6-* lines)
    10.0.0.1	db.example                          --add-host entries
    172.18.0.2	3f4a1c9e2b7d web                    the container itself
    172.18.0.3	cache cache-alias                   peers

``--network host`` gets the host's ``/etc/hosts`` plus the ``--add-host`` lines.
"""

from __future__ import annotations

import errno
import os
import stat

from launcher.errors import RuntimeFailure
from launcher.network.dns import check_dns_name, check_hostname, parse_ip

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

HOST_GATEWAY = "host-gateway"  # --add-host NAME:host-gateway: the host, seen from the network
LOCK_SUFFIX = ".lock"  # rewrite_hosts locks PATH + LOCK_SUFFIX
_IPV6_DEFAULTS = (
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
)
# A hosts-file name: container names ([A-Za-z0-9][A-Za-z0-9_.-]*) and DNS names.
# Nothing that could split a line or start a comment gets in.
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def check_host_entry(name: str, what: str = "host name") -> str:
    """A name for a hosts-file line: letters, digits, ``-_.``, starting with a
    letter or digit, at most 253 characters. ValueError otherwise."""
    if not name or len(name) > 253 or not _NAME_CHARS.issuperset(name) or not name[0].isalnum():
        raise ValueError(
            f"invalid {what} {name!r}: expected letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
    return name


def parse_add_host(text: str) -> tuple[str, str]:
    """``--add-host`` value → ``(name, ip)``, as Docker reads it.

    ``NAME=IP`` or ``NAME:IP`` (split at the first ``:``, so ``NAME:::1`` is
    ``::1``); the address may be bracketed (``NAME:[::1]``) and is kept as
    written; ``host-gateway`` is kept as is for :func:`hosts_file` to resolve."""
    name, sep, value = text.partition("=")
    if not sep:
        name, sep, value = text.partition(":")
    if not sep or not name or ":" in name:
        raise ValueError(f"invalid --add-host {text!r}: expected NAME:IP or NAME=IP")
    check_host_entry(name, "--add-host name")
    if value == HOST_GATEWAY:
        return name, value
    if len(value) > 2 and value[0] == "[" and value[-1] == "]":
        value = value[1:-1]
    try:
        parse_ip(value)
    except ValueError:
        raise ValueError(f"invalid --add-host {text!r}: {value!r} is not an IP address") from None
    return name, value


def hosts_file(
    *,
    hostname: str,
    ip: str | None,
    aliases: Sequence[str] = (),
    extra_hosts: Sequence[tuple[str, str]] = (),
    peers: Sequence[tuple[str, Sequence[str]]] = (),
    network_mode: str = "bridge",
    host_gateway: str | None = None,
    ip6: str | None = None,
    domainname: str = "",
    ipv6: bool = True,
    host_text: str = "",
) -> str:
    """The container's /etc/hosts text.

    ``ip``/``ip6``: the container's addresses on its network (None without one,
    e.g. ``--network none``); ``aliases``: more names for it (its name, network
    aliases); ``extra_hosts``: ``(name, ip)`` pairs from :func:`parse_add_host`,
    ``host-gateway`` replaced by ``host_gateway``; ``peers``: ``(ip, names)`` of
    the other containers on the network (an entry with the container's own
    address is skipped); ``ipv6``: whether to write the IPv6 localhost lines;
    ``host_text``: the host's /etc/hosts, used for ``--network host`` only.
    ValueError on a bad name or address."""
    if network_mode.startswith("container:"):
        raise ValueError("a container sharing another's network uses that one's hosts file")
    extra = [_line(_gateway(addr, host_gateway), [name]) for name, addr in extra_hosts]
    if network_mode == "host":
        head = host_text if not host_text or host_text.endswith("\n") else host_text + "\n"
        return head + "".join(e + "\n" for e in extra)
    lines = ["127.0.0.1\tlocalhost"]
    if ipv6:
        lines += _IPV6_DEFAULTS
    lines += extra
    own_names = [check_hostname(hostname)]
    if domainname:
        own_names.insert(0, hostname + "." + check_dns_name(domainname, "domainname"))
    own_names += aliases
    own = {parse_ip(a)[1] for a in (ip, ip6) if a}
    lines += [_line(a, own_names) for a in (ip, ip6) if a]
    for addr, names in peers:
        if names and parse_ip(addr)[1] not in own:
            lines.append(_line(addr, names))
    return "\n".join(lines) + "\n"


def _gateway(addr: str, host_gateway: str | None) -> str:
    if addr != HOST_GATEWAY:
        return addr
    if not host_gateway:
        raise ValueError("--add-host NAME:host-gateway needs the network's gateway address")
    return host_gateway


def _line(addr: str, names: Sequence[str]) -> str:
    parse_ip(addr)  # ValueError names it
    unique = dict.fromkeys(check_host_entry(n) for n in names)
    return addr + "\t" + " ".join(unique)


def rewrite_hosts(path: str, content: str) -> None:
    """Replace ``path``'s contents in place (created 0644 if missing).

    For any file bind-mounted into running containers (hosts, resolv.conf,
    hostname): a bind mount pins the inode, so a rename would not be seen.
    Writers serialise on an flock of ``path + LOCK_SUFFIX`` so that concurrent
    connects/disconnects do not interleave. A symlink at either path is refused
    (O_NOFOLLOW), as is anything but a regular file. RuntimeFailure on error."""
    data = content.encode()
    lock_fd = _open(path + LOCK_SUFFIX, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl  # here: the CLI imports this module to check --add-host, on any host

            fcntl.flock(lock_fd, fcntl.LOCK_EX)  # released when lock_fd is closed
        except OSError as exc:
            raise RuntimeFailure(f"locking {path}{LOCK_SUFFIX}: {exc.strerror}") from exc
        # O_NONBLOCK: a FIFO planted at the path fails (ENXIO) instead of hanging.
        fd = _open(path, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK, 0o644)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise RuntimeFailure(f"{path}: not a regular file; refusing to write it")
            # Readers in the container do not take our lock. Truncating first
            # (as Docker does) means one may see a prefix of the new text,
            # never new lines followed by a stale tail of the old.
            os.ftruncate(fd, 0)
            while data:
                data = data[os.write(fd, data) :]
            os.fchmod(fd, 0o644)  # the umask may have narrowed it; containers read it as anyone
        except OSError as exc:
            raise RuntimeFailure(f"writing {path}: {exc.strerror}") from exc
        finally:
            os.close(fd)
    finally:
        os.close(lock_fd)


def _open(path: str, flags: int, mode: int) -> int:
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RuntimeFailure(f"{path}: is a symlink; refusing to write through it") from exc
        raise RuntimeFailure(f"opening {path}: {exc.strerror}") from exc
