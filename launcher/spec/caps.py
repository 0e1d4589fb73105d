"""Linux capability names and numbers (``linux/capability.h``), podman's default set."""

from __future__ import annotations

from launcher.errors import UsageError

# Index = capability number.
_NAMES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",
    "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE",
    "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
    "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)  # fmt: skip

ALL: tuple[str, ...] = tuple("CAP_" + n for n in _NAMES)
"""Every capability this table knows, ``CAP_CHOWN`` (0) … ``CAP_CHECKPOINT_RESTORE`` (40)."""

NUMBERS: dict[str, int] = {name: i for i, name in enumerate(ALL)}

PODMAN_DEFAULT_CAPS: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
    "CAP_SYS_CHROOT",
)  # fmt: skip

_FALLBACK_LAST_CAP = len(ALL) - 1


def cap_number(name: str) -> int:
    """``CAP_KILL`` → 5. Raises UsageError for an unknown name."""
    return NUMBERS[normalize_cap(name)]


def cap_name(number: int) -> str:
    """5 → ``CAP_KILL``; an unknown number raises ValueError."""
    if 0 <= number < len(ALL):
        return ALL[number]
    raise ValueError(f"unknown capability number {number}")


def normalize_cap(name: str) -> str:
    """``net_admin``, ``NET_ADMIN`` or ``cap_net_admin`` → ``CAP_NET_ADMIN``."""
    upper = name.strip().upper()
    if not upper.startswith("CAP_"):
        upper = "CAP_" + upper
    if upper not in NUMBERS:
        raise UsageError(f"unknown capability {name!r}")
    return upper


def expand_caps(names: list[str] | tuple[str, ...]) -> list[str]:
    """Normalize each name; ``all`` (any case) stands for :data:`ALL`. Keeps order, no dups."""
    out: list[str] = []
    for name in names:
        expanded = ALL if name.strip().upper() in ("ALL", "CAP_ALL") else (normalize_cap(name),)
        out.extend(cap for cap in expanded if cap not in out)
    return out


def last_cap(path: str = "/proc/sys/kernel/cap_last_cap") -> int:
    """The highest capability number the running kernel knows (40 when unreadable)."""
    try:
        with open(path, "rb") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return _FALLBACK_LAST_CAP
