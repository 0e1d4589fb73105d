"""Container stats, read straight from cgroupfs and /proc (no daemon).

    prev = read_stats("/launcher/abc", "v2")
    cur = read_stats("/launcher/abc", "v2")          # a moment later
    print(fastjson.dumps(format_row("web", cur, prev, container_id)))
    pids = cgroup_pids("/launcher/abc", "v2")       # for top.top()

Where the numbers come from (``layout`` as ``launcher.host.cgroup_layout()`` says):

    v2       one dir: cpu.stat usage_usec, memory.current/max/stat/events,
             pids.current/max, io.stat
    v1       per hierarchy: cpuacct.usage, memory.usage_in_bytes/limit_in_bytes/
             stat/oom_control, pids.current/max, blkio.throttle.io_service_bytes
    hybrid   stats as v1 (the controllers live there); pids from unified/

A file that is missing (controller not mounted or not enabled) leaves its
field ``None``; only a cgroup that exists nowhere is a NotFoundError.  The
percentages and the JSON row follow Docker's ``docker stats`` formulas.
"""

from __future__ import annotations

import os
import time

from launcher.backend.linux.cgroups.base import CgroupDir, read_int
from launcher.backend.linux.cgroups.fs import CgroupFS
from launcher.backend.linux.cgroups.paths import cgroup_of_self, join, normalise_path, resolve
from launcher.backend.linux.cgroups.v1 import hierarchies
from launcher.backend.linux.cgroups.v2 import relative_base
from launcher.errors import NotFoundError, UnsupportedError

UNIFIED_MOUNT = "unified"
_V1_CONTROLLERS = ("cpuacct", "memory", "pids", "blkio")
# Every Sample field but read_at; all start as None.  One string keeps the
# thirteen names on two lines instead of thirteen.
_FIELDS = (  # noqa: SIM905
    "cpu_usage_ns system_ns online_cpus memory_usage memory_limit memory_cache"
    " memory_inactive_file host_memory pids_current pids_limit oom_kills block_read block_write"
).split()


class Sample:
    """One reading of a container's cgroup; ``None`` = not available here.

    ``memory_limit`` None means unlimited; ``host_memory`` (MemTotal) is what
    Docker shows as the limit then.  ``system_ns`` and ``online_cpus`` come
    from /proc/stat, for :func:`cpu_percent`.  ``read_at`` is ``time.time()``.
    """

    __slots__ = ("read_at", *_FIELDS)
    cpu_usage_ns: int | None
    system_ns: int | None
    online_cpus: int | None
    memory_usage: int | None
    memory_limit: int | None
    memory_cache: int | None
    memory_inactive_file: int | None
    host_memory: int | None
    pids_current: int | None
    pids_limit: int | None
    oom_kills: int | None
    block_read: int | None
    block_write: int | None

    def __init__(self, read_at: float = 0.0) -> None:
        self.read_at = read_at
        for name in _FIELDS:
            setattr(self, name, None)


# -- reading ----------------------------------------------------------------------


def read_stats(
    cgroup_path: str, layout: str, root: str = "/sys/fs/cgroup", proc: str = "/proc"
) -> Sample:
    """A :class:`Sample` of the container cgroup ``cgroup_path`` (its cgroupsPath)."""
    dirs = _dirs(CgroupFS(root), cgroup_path, layout, _V1_CONTROLLERS)
    if not dirs:
        raise UnsupportedError(f"cgroup v1: none of {', '.join(_V1_CONTROLLERS)} under {root}")
    if not any(d.has() for d in dirs.values()):
        raise NotFoundError(f"cgroup {cgroup_path!r} not found under {root}")
    sample = Sample(time.time())
    if layout == "v2":
        _read_v2(dirs["memory"], sample)
    else:
        _read_v1(dirs, sample)
    _read_host(proc, sample)
    return sample


def cgroup_pids(cgroup_path: str, layout: str, root: str = "/sys/fs/cgroup") -> list[int]:
    """Every pid in the container's cgroup and the cgroups below it, sorted.

    v2: its dir; hybrid: its dir in unified/; v1: the pids (or memory) hierarchy.
    """
    ctrls = ("",) if layout == "hybrid" else ("pids", "memory")
    found = _dirs(CgroupFS(root), cgroup_path, layout, ctrls)
    d = next(iter(found.values()), None)  # in the order of ctrls
    if d is None:
        raise UnsupportedError(f"cgroup v1: neither pids nor memory is mounted under {root}")
    if not d.has():
        raise NotFoundError(f"cgroup {d.where()} not found")
    return sorted(d.tree_pids())


def _dirs(
    fs: CgroupFS, cgroup_path: str, layout: str, ctrls: tuple[str, ...]
) -> dict[str, CgroupDir]:
    """{controller: the container's dir in that controller's hierarchy}, for the
    ``ctrls`` mounted here ("" = hybrid's unified/); v2 has one dir for all."""
    path = normalise_path(cgroup_path)
    own = (None if path.startswith("/") else cgroup_of_self()) or {}
    if layout == "v2":
        return dict.fromkeys(ctrls, CgroupDir(fs, resolve(path, relative_base(own.get("")))))
    if layout not in ("v1", "hybrid"):
        raise UnsupportedError(f"no usable cgroup hierarchy under {fs.root} (layout {layout!r})")
    try:
        mounts = hierarchies(fs)
    except OSError as exc:
        raise UnsupportedError(f"cannot list cgroup hierarchies in {fs.root}: {exc}") from exc
    if layout == "hybrid":
        # As HybridManager: no controllers there, so no step up to the parent.
        mounts[""] = UNIFIED_MOUNT
    return {
        c: CgroupDir(fs, join(mounts[c], resolve(path, own.get(c)))) for c in ctrls if c in mounts
    }


def _keyed(text: str | None) -> dict[str, int]:
    """A flat-keyed file (``memory.stat``: ``name value`` lines) → {name: value}."""
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


def _read_v2(d: CgroupDir, s: Sample) -> None:
    usec = read_int(d, "cpu.stat", "usage_usec")
    s.cpu_usage_ns = None if usec is None else usec * 1000
    s.memory_usage = read_int(d, "memory.current")
    s.memory_limit = read_int(d, "memory.max")
    stat = _keyed(d.read("memory.stat"))
    s.memory_cache = stat.get("file")
    s.memory_inactive_file = stat.get("inactive_file")
    s.oom_kills = read_int(d, "memory.events", "oom_kill")
    s.pids_current = read_int(d, "pids.current")
    s.pids_limit = read_int(d, "pids.max")
    io = d.read("io.stat")
    if io is not None:
        s.block_read, s.block_write = _io_bytes(io)


def _read_v1(dirs: dict[str, CgroupDir], s: Sample) -> None:
    if "cpuacct" in dirs:
        s.cpu_usage_ns = read_int(dirs["cpuacct"], "cpuacct.usage")
    if "memory" in dirs:
        mem = dirs["memory"]
        s.memory_usage = read_int(mem, "memory.usage_in_bytes")
        s.memory_limit = read_int(mem, "memory.limit_in_bytes")  # huge "unlimited" → None
        stat = _keyed(mem.read("memory.stat"))
        # total_* include the cgroups below; Docker reads those on v1.
        s.memory_cache = stat.get("total_cache", stat.get("cache"))
        s.memory_inactive_file = stat.get("total_inactive_file", stat.get("inactive_file"))
        s.oom_kills = read_int(mem, "memory.oom_control", "oom_kill")
    if "pids" in dirs:
        s.pids_current = read_int(dirs["pids"], "pids.current")
        s.pids_limit = read_int(dirs["pids"], "pids.max")
    if "blkio" in dirs:
        blkio = dirs["blkio"]
        text = blkio.read("blkio.throttle.io_service_bytes_recursive")
        if not text:
            text = blkio.read("blkio.throttle.io_service_bytes")
        if text is not None:
            s.block_read, s.block_write = _io_bytes(text)


def _io_bytes(text: str) -> tuple[int, int]:
    """(read, written) bytes over all devices, from v2 ``io.stat`` (``8:0 rbytes=1
    wbytes=2 …``) or v1 ``blkio.throttle.io_service_bytes`` (``8:0 Read 4096``)."""
    sums = dict.fromkeys(("rbytes", "wbytes", "Read", "Write"), 0)
    for line in text.splitlines():
        words = line.split()
        pairs = [w.split("=", 1) for w in words[1:] if "=" in w]
        if len(words) == 3:  # v1: "8:0 Read 4096"; the last line is "Total N"
            pairs.append(words[1:])
        for key, value in pairs:
            if key in sums and value.isdigit():
                sums[key] += int(value)
    return sums["rbytes"] + sums["Read"], sums["wbytes"] + sums["Write"]


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _read_host(proc: str, s: Sample) -> None:
    """Host CPU time and CPU count (/proc/stat) and memory size (/proc/meminfo)."""
    stat = read_text(os.path.join(proc, "stat")) or ""
    cpus = 0
    for line in stat.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "cpu" and len(words) >= 8:
            # Docker's system time: user..softirq (the first seven) in ns.
            ticks = sum(int(w) for w in words[1:8] if w.isdigit())
            s.system_ns = ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
        elif words[0].startswith("cpu") and words[0][3:].isdigit():
            cpus += 1
    s.online_cpus = cpus or None
    for line in (read_text(os.path.join(proc, "meminfo")) or "").splitlines():
        words = line.split()  # "MemTotal:  16318832 kB"
        if len(words) >= 2 and words[0] == "MemTotal:" and words[1].isdigit():
            s.host_memory = int(words[1]) * 1024


# -- Docker's arithmetic and formatting -------------------------------------------------


def cpu_percent(prev: Sample, cur: Sample) -> float:
    """Docker's CPU %: delta container / delta host * online CPUs * 100 (0.0 when unknown)."""
    cpu0, cpu1, sys0, sys1 = prev.cpu_usage_ns, cur.cpu_usage_ns, prev.system_ns, cur.system_ns
    if cpu0 is None or cpu1 is None or sys0 is None or sys1 is None:
        return 0.0
    if cpu1 <= cpu0 or sys1 <= sys0:
        return 0.0
    online = cur.online_cpus or prev.online_cpus or 0
    return (cpu1 - cpu0) / (sys1 - sys0) * online * 100.0


def memory_used(s: Sample) -> int | None:
    """Docker's "used" memory: usage less inactive file pages (reclaimable cache)."""
    if s.memory_usage is None:
        return None
    inactive = s.memory_inactive_file
    if inactive is not None and inactive < s.memory_usage:
        return s.memory_usage - inactive
    return s.memory_usage


def memory_limit_shown(s: Sample) -> int | None:
    """The limit Docker shows: the cgroup's, or the host's memory when that is smaller
    or when there is no limit."""
    if s.memory_limit is None:
        return s.host_memory
    if s.host_memory is not None and s.host_memory < s.memory_limit:
        return s.host_memory
    return s.memory_limit


def memory_percent(s: Sample) -> float:
    """Used memory as a percentage of :func:`memory_limit_shown` (0.0 when unknown)."""
    used = memory_used(s)
    limit = memory_limit_shown(s)
    if used is None or not limit:
        return 0.0
    return used / limit * 100.0


def _size(value: float, base: float, units: tuple[str, ...], fmt: str) -> str:
    """Docker's go-units CustomSize: divide by ``base`` while possible, Go's %g format."""
    i = 0
    while value >= base and i < len(units) - 1:
        value /= base
        i += 1
    return fmt % (value, units[i])


def bytes_size(n: float) -> str:
    """Binary units as Docker's memory columns: ``12.5MiB``, ``1GiB``, ``0B``."""
    return _size(n, 1024.0, ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"), "%.4g%s")


def human_size(n: float) -> str:
    """Decimal units, 3 digits, as Docker's I/O columns: ``1.5MB``, ``12.3kB``."""
    return _size(n, 1000.0, ("B", "kB", "MB", "GB", "TB", "PB", "EB"), "%.3g%s")


def format_row(
    name: str,
    sample: Sample,
    prev: Sample | None,
    container_id: str = "",
    container: str | None = None,
) -> dict[str, str]:
    """One line of ``docker stats --format json``; unknown values are ``--``.

    ``prev`` is the sample before (None: CPU shows 0.00%, as Docker's first
    line does).  ``ID`` is cut to 12 characters; ``Container`` is what the
    user named (default: that short ID, or the name).
    """
    short_id = container_id[:12]
    used = memory_used(sample)
    limit = memory_limit_shown(sample)
    if used is None:
        mem_usage = mem_perc = "--"
    else:
        mem_usage = bytes_size(used) + " / " + (bytes_size(limit) if limit else "--")
        mem_perc = f"{memory_percent(sample):.2f}%" if limit else "--"
    if sample.block_read is None or sample.block_write is None:
        block_io = "--"
    else:
        block_io = human_size(sample.block_read) + " / " + human_size(sample.block_write)
    return {
        "BlockIO": block_io,
        "CPUPerc": f"{cpu_percent(prev, sample) if prev is not None else 0.0:.2f}%",
        "Container": container if container is not None else (short_id or name),
        "ID": short_id,
        "MemPerc": mem_perc,
        "MemUsage": mem_usage,
        "Name": name.lstrip("/"),
        "NetIO": "--",
        "PIDs": "--" if sample.pids_current is None else str(sample.pids_current),
    }
