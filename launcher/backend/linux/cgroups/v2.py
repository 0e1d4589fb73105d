"""cgroup v2 (unified hierarchy) manager.

Files: memory.max/low/swap.max, cpu.weight/max/max.burst/idle,
cpuset.cpus/mems, pids.max, io.weight (io.bfq.weight where BFQ runs)/io.max,
hugetlb.<size>.max, then ``resources.unified`` verbatim; cgroup.freeze and
cgroup.events for the freezer; cgroup.kill to empty a cgroup.

Limitations, on purpose:

* Device rules are **not enforced** on v2.  v2 has no devices.* files; the
  kernel wants an eBPF program attached to the cgroup, which we don't fake.
  Enforcement is left to the container's fresh ``/dev`` (tmpfs with the
  standard nodes only) and the missing CAP_MKNOD.  ``apply`` ignores
  ``resources.devices`` here, silently.
* ``memory.swappiness`` and ``memory.disableOOMKiller`` have no v2 file and
  are ignored (as runc does); ``memory.oom.group`` is written only when
  ``unified`` asks for it, so an OOM kills one task, as with Docker.
* Realtime CPU limits don't exist on v2: asking for them is an
  UnsupportedError.
"""

from __future__ import annotations

import os

from launcher.backend.linux.cgroups import convert
from launcher.backend.linux.cgroups.base import (
    CgroupDir,
    fail,
    kill_all,
    read_int,
    remove_created,
    remove_tree,
    wait_until,
)
from launcher.backend.linux.cgroups.convert import is_set
from launcher.backend.linux.cgroups.paths import join, resolve
from launcher.errors import RuntimeFailure, UnsupportedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from launcher.backend.linux.cgroups.base import BlockIOLike, CPULike, ResourcesLike
    from launcher.backend.linux.cgroups.fs import CgroupFSLike

Writes = list[list[tuple[str, str]]]  # groups of linked writes (see CgroupDir.write_all)

# Written only where the file exists: absent means the feature is off on this
# host (no swap accounting, kernel without reserved hugetlb accounting).
_OPTIONAL_SUFFIXES = ("memory.swap.max", ".rsvd.max")


def _cpu(c: CPULike, current_max: str | None) -> Writes:
    out: Writes = []
    if is_set(c.shares):
        assert c.shares is not None
        out.append([("cpu.weight", str(convert.cpu_weight(c.shares)))])
    linked = []
    cpu_max = convert.cpu_max(c.quota, c.period, current_max)
    if cpu_max is not None:
        linked.append(("cpu.max", cpu_max))
    if c.burst is not None:
        linked.append(("cpu.max.burst", str(c.burst)))
    if linked:
        out.append(linked)
    if c.idle is not None:
        out.append([("cpu.idle", str(c.idle))])
    if is_set(c.realtime_runtime) or is_set(c.realtime_period):
        raise UnsupportedError(
            "cgroup v2 has no realtime CPU limits (cpu.realtimeRuntime / cpu.realtimePeriod)"
        )
    if c.cpus:
        out.append([("cpuset.cpus", c.cpus)])
    if c.mems:
        out.append([("cpuset.mems", c.mems)])
    return out


def _io(b: BlockIOLike, bfq: bool) -> Writes:
    def weight(w: int) -> str:
        return str(w if bfq else convert.io_weight(w))

    name = "io.bfq.weight" if bfq else "io.weight"
    out: Writes = []
    if is_set(b.weight):
        assert b.weight is not None
        out.append([(name, weight(b.weight))])
    for wd in b.weight_device or ():
        if is_set(wd.weight):
            assert wd.weight is not None
            out.append([(name, f"{wd.major}:{wd.minor} {weight(wd.weight)}")])
    throttles = (
        (b.throttle_read_bps_device, "rbps"),
        (b.throttle_write_bps_device, "wbps"),
        (b.throttle_read_iops_device, "riops"),
        (b.throttle_write_iops_device, "wiops"),
    )
    for devices, key in throttles:
        for td in devices or ():
            rate = str(td.rate) if td.rate else "max"  # 0 = no limit, as in runc
            out.append([("io.max", f"{td.major}:{td.minor} {key}={rate}")])
    return out


def plan(res: ResourcesLike, d: CgroupDir) -> Writes:
    """The writes for ``res``, in order; reads ``d`` only for the current
    cpu.max and whether BFQ is active.  Raises ConfigError before any write."""
    out: Writes = []
    m = res.memory
    if m is not None:
        swap = convert.swap_v2(m.swap, m.limit)
        if is_set(m.limit):
            assert m.limit is not None
            out.append([("memory.max", convert.max_or(m.limit))])
        if is_set(m.reservation):
            assert m.reservation is not None
            out.append([("memory.low", convert.max_or(m.reservation))])
        if swap is not None:
            out.append([("memory.swap.max", swap)])
    if res.cpu is not None:
        out += _cpu(res.cpu, d.read("cpu.max"))
    if res.pids is not None and res.pids.limit is not None:
        out.append([("pids.max", convert.pids_max(res.pids.limit))])
    if res.block_io is not None:
        out += _io(res.block_io, d.has("io.bfq.weight"))
    for h in res.hugepage_limits or ():
        size = convert.hugetlb_size(h.page_size)
        if h.limit is not None:
            value = convert.max_or(h.limit)
            out.append([(f"hugetlb.{size}.max", value)])
            out.append([(f"hugetlb.{size}.rsvd.max", value)])
    out += [[item] for item in convert.unified_items(res.unified)]
    return out


def run_plan(d: CgroupDir, writes: Writes) -> None:
    """Check that every file exists, then write: a controller that isn't
    enabled here fails before anything changed."""
    todo: Writes = []
    for group in writes:
        kept = []
        for name, value in group:
            if d.has(name):
                kept.append((name, value))
            elif not name.endswith(_OPTIONAL_SUFFIXES):
                raise UnsupportedError(
                    f"cgroup: {d.where(name)} does not exist "
                    f"(is the {name.split('.')[0]} controller enabled?)"
                )
        if kept:
            todo.append(kept)
    for group in todo:
        d.write_all(group)


def relative_base(own: str | None) -> str | None:
    """Where a relative cgroupsPath goes on a v2 host: below the *parent* of
    our own cgroup, as runc does; our own one holds tasks, so it may not
    enable controllers for children (the no-internal-processes rule)."""
    if not own:
        return None
    return own.rstrip("/").rpartition("/")[0] or "/"


class V2Manager:
    """A cgroup in a cgroup2 hierarchy mounted at ``mount`` below the fs root
    ("" for a pure v2 host, "unified" for the hybrid layout).  A relative
    ``path`` resolves below ``base``."""

    __slots__ = ("_created", "dir", "fs", "mount", "path")

    def __init__(
        self, fs: CgroupFSLike, path: str, mount: str = "", base: str | None = None
    ) -> None:
        self.fs = fs
        self.path = path
        self.mount = mount
        self.dir = CgroupDir(fs, join(mount, resolve(path, base)))
        self._created: list[CgroupDir] = []

    def create(self) -> None:
        """mkdir down to the leaf, enabling every available controller in each
        parent's cgroup.subtree_control on the way."""
        parent = CgroupDir(self.fs, self.mount)
        try:
            for name in self.dir.rel[len(self.mount) :].strip("/").split("/"):
                _enable_controllers(parent)
                child = CgroupDir(self.fs, parent.file(name))
                try:
                    self.fs.mkdir(child.rel)
                    self._created.append(child)
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise fail("create", child.where(), exc) from exc
                parent = child
        except BaseException:
            self.destroy()
            raise

    def apply(self, resources: ResourcesLike) -> None:
        run_plan(self.dir, plan(resources, self.dir))

    def apply_unified(self, unified: Mapping[str, str] | None) -> None:
        run_plan(self.dir, [[item] for item in convert.unified_items(unified)])

    def add(self, pid: int, v2: bool = True) -> None:
        if v2:
            self.dir.write("cgroup.procs", str(pid))

    def add_self(self, v2: bool = True) -> None:
        if v2:
            self.dir.write("cgroup.procs", "0")

    def unified_dir(self) -> str | None:
        return os.path.join(self.fs.root, self.dir.rel)

    def pids(self) -> list[int]:
        return sorted(self.dir.tree_pids())

    def freeze(self) -> None:
        self.dir.write("cgroup.freeze", "1")
        if not wait_until(self.is_frozen):
            self.thaw()
            raise RuntimeFailure(f"cgroup: {self.dir.where()} did not freeze in time")

    def thaw(self) -> None:
        self.dir.write("cgroup.freeze", "0")
        if not wait_until(lambda: not self.is_frozen()):
            raise RuntimeFailure(f"cgroup: {self.dir.where()} did not thaw in time")

    def is_frozen(self) -> bool:
        return read_int(self.dir, "cgroup.events", "frozen") == 1

    def stats(self) -> dict[str, int | None]:
        d = self.dir
        usec = read_int(d, "cpu.stat", "usage_usec")
        return {
            "cpu_usage_ns": None if usec is None else usec * 1000,
            "memory_usage": read_int(d, "memory.current"),
            "memory_limit": read_int(d, "memory.max"),
            "pids_current": read_int(d, "pids.current"),
            "pids_limit": read_int(d, "pids.max"),
            "oom_kills": read_int(d, "memory.events", "oom_kill"),
        }

    def destroy(self) -> None:
        """Kill what is left, rmdir the leaf and the dirs create() made."""
        try:
            remove_tree(self.dir, _kill)
        finally:
            remove_created([d for d in self._created if d.rel != self.dir.rel])
            self._created = []

    def exists(self) -> bool:
        return self.dir.has()


def _kill(d: CgroupDir) -> None:
    # cgroup.kill (Linux 5.14+) also catches tasks forking while we read pids.
    if d.has("cgroup.kill"):
        try:
            d.fs.write(d.file("cgroup.kill"), "1")
        except OSError:
            pass
    kill_all(d)


def _enable_controllers(d: CgroupDir) -> None:
    """Best effort: a controller the parent can't pass down (tasks in a
    non-root parent, a threaded subtree) shows up later as a missing file
    that apply() names."""
    available = (d.read("cgroup.controllers") or "").split()
    enabled = set((d.read("cgroup.subtree_control") or "").split())
    missing = [c for c in available if c not in enabled]
    if not missing:
        return
    try:
        d.fs.write(d.file("cgroup.subtree_control"), " ".join("+" + c for c in missing))
    except OSError:
        for c in missing:
            try:
                d.fs.write(d.file("cgroup.subtree_control"), "+" + c)
            except OSError:
                pass
