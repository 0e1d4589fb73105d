"""Facts about live processes from /proc: is pid N still the process we started?"""

from __future__ import annotations


def stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (index 0 = state)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # The command name may contain spaces and ')': split after the last ')'.
    return raw[raw.rfind(b")") + 2 :].decode().split()


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat: clock ticks after boot; None if gone."""
    f = stat_fields(pid)
    return int(f[19]) if f else None


def is_alive(pid: int, start: int | None) -> bool:
    """True if ``pid`` exists, is not a zombie, and (when known) started at ``start``."""
    if pid <= 0:
        return False
    f = stat_fields(pid)
    if f is None or f[0] in ("Z", "X"):
        return False
    return start is None or int(f[19]) == start
