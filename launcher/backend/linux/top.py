"""``launcher top``: ``ps -ef`` rows for a container's processes, read from /proc.

The processes are its cgroup's (``stats.cgroup_pids``), or, for a container
without a cgroup (rootless, nothing delegated), those of its pid namespace
(:func:`namespace_pids`).
"""

from __future__ import annotations

import os
import time

from launcher.backend.linux.stats import read_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

TOP_TITLES = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]


def namespace_pids(init_pid: int, proc: str = "/proc") -> list[int]:
    """Pids (host view) of the processes in ``init_pid``'s pid namespace: what a
    container without a cgroup (rootless, nothing delegated) is made of."""
    def ns(pid: str) -> tuple[int, int] | None:
        try:
            st = os.stat(f"{proc}/{pid}/ns/pid")
        except OSError:
            return None
        return st.st_dev, st.st_ino

    want = ns(str(init_pid))
    if want is None:
        return []
    return sorted(int(p) for p in os.listdir(proc) if p.isdigit() and ns(p) == want)


def top(
    pids: list[int],
    proc: str = "/proc",
    now: float | None = None,
    user_name: Callable[[int], str] | None = None,
) -> list[list[str]]:
    """``ps -ef`` rows (columns :data:`TOP_TITLES`) for ``pids``, from /proc.

    Pids that are gone by the time they are read are left out.  ``now``
    (default: the clock) decides STIME's form; ``user_name`` maps the
    effective uid to a name (default: the host's passwd database).
    """
    now = time.time() if now is None else now
    names = user_name or _host_user_name
    boot = _boot_time(proc)
    hz = os.sysconf("SC_CLK_TCK")
    rows = []
    for pid in pids:
        row = _ps_row(pid, proc, boot, now, hz, names)
        if row is not None:
            rows.append(row)
    return rows


def _host_user_name(uid: int) -> str:
    import pwd  # rare path: only `top` needs user names

    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        return str(uid)


def _boot_time(proc: str) -> float:
    for line in (read_text(os.path.join(proc, "stat")) or "").splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


def _printable(text: str) -> str:
    """Control characters (C0, DEL, C1) → ``?``, as ps does: a container must not
    drive the terminal of whoever runs ``top``."""
    return "".join("?" if ord(c) < 32 or 127 <= ord(c) < 160 else c for c in text)


def _ps_row(
    pid: int, proc: str, boot: float, now: float, hz: int, names: Callable[[int], str]
) -> list[str] | None:
    base = os.path.join(proc, str(pid))
    try:
        with open(os.path.join(base, "stat"), "rb") as f:
            raw = f.read()
        with open(os.path.join(base, "cmdline"), "rb") as f:
            cmdline = f.read()
        status = read_text(os.path.join(base, "status"))
    except OSError:
        return None  # exited meanwhile
    # The command name may contain spaces and ')': split after the last ')'.
    comm = raw[raw.find(b"(") + 1 : raw.rfind(b")")].decode(errors="replace")
    fields = raw[raw.rfind(b")") + 2 :].decode().split()
    if len(fields) < 20 or status is None:
        return None
    cpu_ticks = int(fields[11]) + int(fields[12])  # utime + stime
    started = boot + int(fields[19]) / hz
    elapsed = int(now - started)
    percent = min(99, cpu_ticks * 100 // hz // elapsed) if elapsed > 0 else 0
    args = [a.decode(errors="replace") for a in cmdline.rstrip(b"\0").split(b"\0") if a]
    cmd = " ".join(args) if args else f"[{comm}]"
    if fields[0] == "Z":
        cmd = f"[{comm}] <defunct>"
    return [
        names(_effective_uid(status)),
        str(pid),
        fields[1],
        str(percent),
        _stime(started, now),
        _tty_name(int(fields[4])),
        _cpu_time(cpu_ticks // hz),
        _printable(cmd),
    ]


def _effective_uid(status: str) -> int:
    for line in status.splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[2])  # real, *effective*, saved, fs
    return -1


def _stime(started: float, now: float) -> str:
    """ps's STIME: ``HH:MM`` today, ``MonDD`` this year, else the year."""
    then, today = time.localtime(started), time.localtime(now)
    if then.tm_year != today.tm_year:
        return time.strftime("%Y", then)
    if then.tm_yday != today.tm_yday:
        return time.strftime("%b%d", then)
    return time.strftime("%H:%M", then)


def _tty_name(tty_nr: int) -> str:
    """/proc/PID/stat's tty_nr → ``pts/N``, ``ttyN``, ``ttySN``; ``?`` for none or other."""
    major = (tty_nr >> 8) & 0xFFF
    minor = (tty_nr & 0xFF) | ((tty_nr >> 12) & 0xFFF00)
    if 136 <= major <= 143:  # Unix98 ptys span 8 majors of 256 minors each
        return f"pts/{(major - 136) * 256 + minor}"
    if major == 4:
        return f"tty{minor}" if minor < 64 else f"ttyS{minor - 64}"
    return "?"


def _cpu_time(seconds: int) -> str:
    """ps's TIME: ``[DD-]HH:MM:SS``."""
    days, rest = divmod(seconds, 86400)
    clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{clock}" if days else clock
