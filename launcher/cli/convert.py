"""Value converters for the option table: ``str`` in, checked value out.

Each raises ``ValueError(reason)``; ``optspec.convert_values`` turns that into
Docker's ``invalid argument "x" for "-m, --memory" flag: reason``. Hand-written
checks instead of ``re``: this runs on every ``launcher run``.
"""

from __future__ import annotations

_MAX_ID = 2**32 - 2  # (uid_t)-1 means "unchanged" to setresuid: never a real id
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


def memory_size(text: str) -> int:
    """``64m``, ``1g``, ``1.5GiB``, ``512k``, ``1048576`` → bytes (binary units, as Docker)."""
    s = text.strip().lower().removesuffix("b").removesuffix("i")
    unit = s[-1:] if s[-1:] in ("k", "m", "g", "t", "p") else ""
    number = s[: len(s) - len(unit)].rstrip(" ")
    if not _is_decimal(number):
        raise ValueError("expected a size like 64m or 1g")
    size = int(float(number) * _SIZE_UNITS[unit])
    if not 0 < size < 2**63:
        raise ValueError("must be greater than 0" if size <= 0 else "too large")
    return size


def _is_decimal(text: str) -> bool:
    whole, _, frac = text.partition(".")
    return (
        whole.isdigit() and whole.isascii() and (frac == "" or (frac.isdigit() and frac.isascii()))
    )


def cpus(text: str) -> float:
    """Fractional CPUs, like ``0.5`` or ``2``; finite and > 0."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError("expected a number like 0.5 or 2") from None
    if not 0 < value < float("inf"):
        raise ValueError("must be greater than 0")
    return value


def pids_limit(text: str) -> int:
    """A positive number of processes, or -1 for no limit."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError("expected an integer") from None
    if value == 0 or value < -1:
        raise ValueError("must be a positive integer, or -1 for unlimited")
    return value


def env_entry(text: str) -> str:
    """``KEY=VALUE``, or ``KEY`` alone (the value comes from the caller's environment)."""
    key = text.partition("=")[0]
    if not key:
        raise ValueError("variable name is empty")
    return text


def env_file(text: str) -> list[str]:
    """``--env-file FILE``: its entries, read now (errors name the file and line)."""
    from launcher.runopts import env_file as read

    return read(text)


def label(text: str) -> tuple[str, str]:
    from launcher.runopts import label as parse

    return parse(text)


def log_driver(text: str) -> str:
    from launcher.logopts import log_driver as parse

    return parse(text)


def log_opt(text: str) -> tuple[str, str]:
    from launcher.logopts import log_opt as parse

    return parse(text)


def signal_spec(text: str) -> int:
    from launcher.runopts import stop_signal

    return stop_signal(text)


def stop_timeout(text: str) -> int:
    from launcher.runopts import stop_timeout as parse

    return parse(text)


def volume(text: str) -> object:
    """``-v [SRC:]DST[:OPTS]`` as a ``runopts.VolumeSpec``."""
    from launcher.runopts import volume_spec

    return volume_spec(text)


def security_opt(text: str) -> str:
    """``seccomp=unconfined|PATH``, ``no-new-privileges[=true|false]`` (Docker's ``:``
    spellings too), normalized to ``key=value``."""
    key, sep, value = text.replace(":", "=", 1).partition("=") if "=" not in text \
        else text.partition("=")
    if key == "no-new-privileges":
        if not sep:
            return "no-new-privileges=true"
        if value not in ("true", "false"):
            raise ValueError("no-new-privileges takes true or false")
        return f"{key}={value}"
    if key == "seccomp" and value:
        return f"seccomp={value}"
    if key in ("apparmor", "label") and value in ("unconfined", "disable"):
        return f"{key}={value}"  # nothing to turn off: this host runs neither
    raise ValueError("expected seccomp=unconfined|PROFILE.json or no-new-privileges[=true|false]"
                     " (AppArmor and SELinux labels are not supported)")


def userns(text: str) -> str:
    """``--userns``: ``host`` or ``keep-id`` (podman's name; ``keep-id:`` options are not taken)."""
    if text in ("", "host", "keep-id"):
        return text
    raise ValueError("expected host or keep-id")


def capability(text: str) -> str:
    """``NET_ADMIN``, ``cap_net_admin`` → ``CAP_NET_ADMIN``; ``ALL`` stays ``ALL``."""
    from launcher.errors import UsageError
    from launcher.spec.caps import normalize_cap

    if text.strip().upper() in ("ALL", "CAP_ALL"):
        return "ALL"
    try:
        return normalize_cap(text)
    except UsageError:
        raise ValueError("unknown capability") from None


def restart(text: str) -> str:
    """``--restart`` checked now, kept as its canonical text (``on-failure:3``)."""
    from launcher.runopts import restart_policy

    return str(restart_policy(text))


def abs_path(text: str) -> str:
    if not text.startswith("/"):
        raise ValueError("must be an absolute path")
    return text


def user_spec(text: str) -> str:
    """``UID[:GID]`` or ``NAME[:GROUP]``; numeric ids must be unsigned 32-bit."""
    parts = text.split(":")
    if len(parts) > 2 or not all(parts):
        raise ValueError("expected UID[:GID] or NAME[:GROUP]")
    for part in parts:
        if part.isdigit() and int(part) > _MAX_ID:
            raise ValueError(f"id {part} is out of range (0-{_MAX_ID})")
    return text


def hostname(text: str) -> str:
    if not 0 < len(text) <= 64 or not _HOST_CHARS.issuperset(text) or text[0] in ".-":
        raise ValueError("expected at most 64 letters, digits, '-' and '.'")
    return text


PULL_POLICIES = ("always", "missing", "never")


def pull_policy(text: str) -> str:
    if text not in PULL_POLICIES:
        raise ValueError("must be one of: " + ", ".join(PULL_POLICIES))
    return text


def platform(text: str) -> str:
    from launcher.errors import UsageError
    from launcher.image.platform import parse

    try:
        return str(parse(text))
    except UsageError as exc:
        raise ValueError(str(exc)) from None


def network(text: str) -> str:
    """``bridge``, ``none``, ``host``, ``container:NAME|ID`` or a network's name."""
    from launcher.network.runconfig import check_mode

    return check_mode(text)


def publish(text: str) -> list[object]:
    """``-p [IP:][HOST:]CONTAINER[/PROTO]``: one ``ports.PortMapping`` per port of a range."""
    from launcher.network.ports import parse_publish

    return list(parse_publish(text))


def ip_address(text: str) -> str:
    """``--ip``: an IPv4 address (canonical dotted quad)."""
    from launcher.network.addr import parse_ip

    try:
        parse_ip(text)
    except ValueError:
        raise ValueError("not an IPv4 address") from None
    return text


def nameserver(text: str) -> str:
    """``--dns``: an IPv4 or IPv6 address, canonical."""
    from launcher.network.dns import parse_ip

    try:
        return parse_ip(text.strip())[1]
    except ValueError:
        raise ValueError("not an IP address") from None


def dns_search(text: str) -> str:
    from launcher.network.dns import check_search_domain

    try:
        return check_search_domain(text)
    except ValueError:
        raise ValueError("not a domain name (or . for none)") from None


def dns_option(text: str) -> str:
    from launcher.network.dns import check_dns_option

    try:
        return check_dns_option(text)
    except ValueError:
        raise ValueError("expected a resolver option such as ndots:2 or edns0") from None


def add_host(text: str) -> tuple[str, str]:
    """``--add-host NAME:IP`` (or ``NAME=IP``, ``NAME:host-gateway``) as (name, ip)."""
    from launcher.network.hostsfile import parse_add_host

    try:
        return parse_add_host(text)
    except ValueError:
        raise ValueError("expected NAME:IP, NAME=IP or NAME:host-gateway") from None


def network_alias(text: str) -> str:
    from launcher.network.hostsfile import check_host_entry

    try:
        return check_host_entry(text, "alias")
    except ValueError:
        raise ValueError("expected letters, digits, '-', '_' or '.', starting with a letter "
                         "or digit") from None


def container_name(text: str) -> str:
    """``[A-Za-z0-9][A-Za-z0-9_.-]*``: safe as one path component."""
    if not text or not text[0].isalnum() or not _NAME_CHARS.issuperset(text) or ".." in text:
        raise ValueError("must match [A-Za-z0-9][A-Za-z0-9_.-]* without '..'")
    if len(text) > 128:
        raise ValueError("longer than 128 characters")
    return text
