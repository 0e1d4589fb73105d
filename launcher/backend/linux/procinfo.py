"""Facts about live processes from /proc (is pid N still the process we
started?), and waiting for our children to end."""

from __future__ import annotations

import os

SIGKILL = 9


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


def reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def kill_and_wait(pid: int, start: int | None, timeout: float = 10.0) -> None:
    """SIGKILL ``pid`` if it is still the process we started; wait until it is gone."""
    import time

    if not is_alive(pid, start):
        try_reap(pid)
        return
    try:
        os.kill(pid, SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while is_alive(pid, start) and time.monotonic() < deadline:
        try_reap(pid)
        time.sleep(0.002)
    try_reap(pid)


def try_reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def wait_exit(pid: int) -> int:
    """Wait for our (reparented) init; Docker's convention: code, or 128+signal."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except InterruptedError:  # pragma: no cover
            continue
        except ChildProcessError:
            return 255
        if os.WIFEXITED(status):
            return os.WEXITSTATUS(status)
        if os.WIFSIGNALED(status):
            return 128 + os.WTERMSIG(status)
