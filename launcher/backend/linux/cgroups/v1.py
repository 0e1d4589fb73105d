"""cgroup v1 manager: one directory per mounted hierarchy.

Hierarchies are the real directories under the root (``cpu``, ``memory``,
co-mounts such as ``cpu,cpuacct``; symlinks to them are skipped, the named
``systemd`` one included), each getting the container's dir and its pid.

Files: memory.limit_in_bytes / memory.memsw.limit_in_bytes (ordered so memsw
>= limit holds after every write; memsw only where swap accounting exists),
memory.soft_limit_in_bytes, memory.swappiness, memory.oom_control;
cpu.shares (read back: the kernel clamps), cpu.cfs_period_us before
cpu.cfs_quota_us then cpu.cfs_burst_us, cpu.rt_period_us/rt_runtime_us,
cpu.idle; cpuset.cpus/mems (copied from the parent into every new dir, or
tasks can't join); pids.max; blkio.(bfq.)weight(_device), blkio.leaf_weight,
blkio.throttle.*; hugetlb.<size>.limit_in_bytes; devices.deny ``a`` then each
rule in order; freezer.state.

Updating device rules of a running container briefly denies every device
(the reset to deny-all comes first); the fresh ``/dev`` is unaffected.
"""

from __future__ import annotations

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
from launcher.errors import LauncherError, RuntimeFailure, UnsupportedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.backend.linux.cgroups.base import BlockIOLike, CPULike, ResourcesLike
    from launcher.backend.linux.cgroups.fs import CgroupFSLike

Writes = list[list[tuple[str, str]]]  # groups of linked writes (see CgroupDir.write_all)

_OPTIONAL_SUFFIXES = (".rsvd.limit_in_bytes",)  # absent on kernels before 5.7


def hierarchies(fs: CgroupFSLike) -> dict[str, str]:
    """{controller: mount dir} for every v1 hierarchy under the fs root.

    The named systemd hierarchy is ``name=systemd``.  ``unified`` (the
    hybrid layout's cgroup2) is not a v1 hierarchy.
    """
    out: dict[str, str] = {}
    for mount in fs.subdirs(""):
        if mount == "unified" or not fs.exists(mount + "/cgroup.procs"):
            continue
        if mount == "systemd":
            out["name=systemd"] = mount
            continue
        for ctrl in mount.split(","):
            out[ctrl] = mount
    return out


def _cpu(c: CPULike) -> Writes:
    out: Writes = []
    if is_set(c.shares):
        out.append([("cpu.shares", str(c.shares))])
    cfs = []
    if is_set(c.period):
        cfs.append(("cpu.cfs_period_us", str(c.period)))
    if is_set(c.quota):
        cfs.append(("cpu.cfs_quota_us", str(c.quota)))
    if c.burst is not None:
        cfs.append(("cpu.cfs_burst_us", str(c.burst)))
    rt = []
    if is_set(c.realtime_period):
        rt.append(("cpu.rt_period_us", str(c.realtime_period)))
    if is_set(c.realtime_runtime):
        rt.append(("cpu.rt_runtime_us", str(c.realtime_runtime)))
    out += [group for group in (cfs, rt) if group]
    if c.idle is not None:
        out.append([("cpu.idle", str(c.idle))])
    if c.cpus:
        out.append([("cpuset.cpus", c.cpus)])
    if c.mems:
        out.append([("cpuset.mems", c.mems)])
    return out


def _blkio(b: BlockIOLike, bfq: bool) -> Writes:
    # Since Linux 5.0 (CFQ gone) the proportional weight lives in BFQ's files.
    weight = "blkio.bfq.weight" if bfq else "blkio.weight"
    out: Writes = []
    if is_set(b.weight):
        out.append([(weight, str(b.weight))])
    if is_set(b.leaf_weight):
        out.append([("blkio.leaf_weight", str(b.leaf_weight))])
    for wd in b.weight_device or ():
        if is_set(wd.weight):
            out.append([(weight + "_device", f"{wd.major}:{wd.minor} {wd.weight}")])
        if is_set(wd.leaf_weight):
            out.append([("blkio.leaf_weight_device", f"{wd.major}:{wd.minor} {wd.leaf_weight}")])
    throttles = ((b.throttle_read_bps_device, "read_bps_device"),
                 (b.throttle_write_bps_device, "write_bps_device"),
                 (b.throttle_read_iops_device, "read_iops_device"),
                 (b.throttle_write_iops_device, "write_iops_device"))  # fmt: skip
    for devices, name in throttles:
        for td in devices or ():
            out.append([("blkio.throttle." + name, f"{td.major}:{td.minor} {td.rate or 0}")])
    return out


class V1Manager:
    """A container cgroup across every mounted v1 hierarchy."""

    __slots__ = ("_created", "dirs", "fs", "mounts", "path")

    def __init__(self, fs: CgroupFSLike, path: str, own: dict[str, str] | None = None) -> None:
        self.fs = fs
        self.path = path
        self.mounts = hierarchies(fs)
        # Relative paths resolve below our own cgroup in *each* hierarchy, as
        # runc does: the process may sit in different places in each.
        self.dirs: dict[str, CgroupDir] = {}
        for ctrl, mount in self.mounts.items():
            if mount not in self.dirs:
                inner = resolve(path, (own or {}).get(ctrl))
                self.dirs[mount] = CgroupDir(fs, join(mount, inner))
        self._created: list[CgroupDir] = []

    def _dir(self, ctrl: str, what: str) -> CgroupDir:
        mount = self.mounts.get(ctrl)
        if mount is None:
            raise UnsupportedError(
                f"cgroup v1 controller {ctrl!r} is not mounted under "
                f"{self.fs.root} (needed for {what})"
            )
        return self.dirs[mount]

    def create(self) -> None:
        """mkdir the path in every hierarchy; in cpuset, fill empty cpus/mems
        from the parent on the way down (a task can't join an empty cpuset)."""
        try:
            for mount, leaf in self.dirs.items():
                parent = CgroupDir(self.fs, mount)
                cpuset = "cpuset" in mount.split(",")
                for name in leaf.rel[len(mount) :].strip("/").split("/"):
                    child = CgroupDir(self.fs, parent.file(name))
                    try:
                        self.fs.mkdir(child.rel)
                        self._created.append(child)
                    except FileExistsError:
                        pass
                    except OSError as exc:
                        raise fail("create", child.where(), exc) from exc
                    if cpuset:
                        _copy_cpuset(parent, child)
                    parent = child
        except BaseException:
            self.destroy()
            raise

    def apply(self, resources: ResourcesLike) -> None:
        if resources.unified:
            raise UnsupportedError("resources.unified needs cgroup v2; this host has v1 only")
        self.apply_limits(resources)

    def apply_limits(self, res: ResourcesLike) -> None:
        """Everything but ``unified``: validated in full before the first write."""
        targets = [(self._dir(g[0][0].split(".")[0], g[0][0]), g) for g in self.plan(res)]
        for d, group in targets:
            group = [(n, v) for n, v in group if not n.endswith(_OPTIONAL_SUFFIXES) or d.has(n)]
            if group:
                d.write_all(group)
        if res.cpu is not None and is_set(res.cpu.shares):
            got = read_int(self._dir("cpu", "cpu.shares"), "cpu.shares")
            if got != res.cpu.shares:
                raise RuntimeFailure(
                    f"cgroup: cpu.shares {res.cpu.shares} is out of range (the kernel set {got})"
                )

    def plan(self, res: ResourcesLike) -> Writes:
        """The writes for ``res`` in order; reads only the current memory limit,
        whether memsw exists and whether BFQ weights are in use."""
        out: Writes = []
        m = res.memory
        if m is not None:
            if is_set(m.limit) or is_set(m.swap):
                mem = self._dir("memory", "memory.limit_in_bytes")
                current = read_int(mem, "memory.limit_in_bytes")
                have_memsw = mem.has("memory.memsw.limit_in_bytes")
                out += [[w] for w in convert.memory_v1(
                    m.limit, m.swap, convert.UNLIMITED if current is None else current,
                    have_memsw)]  # fmt: skip
            if is_set(m.reservation):
                out.append([("memory.soft_limit_in_bytes", str(m.reservation))])
            if m.swappiness is not None:
                out.append([("memory.swappiness", str(m.swappiness))])
            if m.disable_oom_killer:
                out.append([("memory.oom_control", "1")])
        if res.cpu is not None:
            out += _cpu(res.cpu)
        if res.pids is not None and res.pids.limit is not None:
            out.append([("pids.max", convert.pids_max(res.pids.limit))])
        if res.block_io is not None:
            mount = self.mounts.get("blkio")
            bfq = mount is not None and self.dirs[mount].has("blkio.bfq.weight")
            out += _blkio(res.block_io, bfq)
        for h in res.hugepage_limits or ():
            size = convert.hugetlb_size(h.page_size)
            if h.limit is not None:
                out.append([(f"hugetlb.{size}.limit_in_bytes", str(h.limit))])
                out.append([(f"hugetlb.{size}.rsvd.limit_in_bytes", str(h.limit))])
        if res.devices is not None:
            out += [[w] for w in convert.device_rules_v1(res.devices)]
        return out

    def add(self, pid: int, v2: bool = True) -> None:
        for d in self.dirs.values():
            d.write("cgroup.procs", str(pid))

    def add_self(self, v2: bool = True) -> None:
        for d in self.dirs.values():
            d.write("tasks", "0")

    def unified_dir(self) -> str | None:
        return None

    def pids(self) -> list[int]:
        found: set[int] = set()
        for d in self.dirs.values():
            found |= d.tree_pids()
        return sorted(found)

    def freeze(self) -> None:
        d = self._dir("freezer", "freeze")
        d.write("freezer.state", "FROZEN")

        def frozen() -> bool:
            if d.read("freezer.state") == "FROZEN":
                return True
            d.write("freezer.state", "FROZEN")  # nudge tasks stuck in FREEZING
            return False

        if not wait_until(frozen):
            self.thaw()
            raise RuntimeFailure(f"cgroup: {d.where()} did not freeze in time")

    def thaw(self) -> None:
        d = self._dir("freezer", "thaw")
        d.write("freezer.state", "THAWED")
        if not wait_until(lambda: d.read("freezer.state") == "THAWED"):
            raise RuntimeFailure(f"cgroup: {d.where()} did not thaw in time")

    def is_frozen(self) -> bool:
        return self._dir("freezer", "is_frozen").read("freezer.state") == "FROZEN"

    def stats(self) -> dict[str, int | None]:
        def get(ctrl: str, name: str, key: str | None = None) -> int | None:
            mount = self.mounts.get(ctrl)
            return None if mount is None else read_int(self.dirs[mount], name, key)

        return {
            "cpu_usage_ns": get("cpuacct", "cpuacct.usage"),
            "memory_usage": get("memory", "memory.usage_in_bytes"),
            "memory_limit": get("memory", "memory.limit_in_bytes"),
            "pids_current": get("pids", "pids.current"),
            "pids_limit": get("pids", "pids.max"),
            "oom_kills": get("memory", "memory.oom_control", "oom_kill"),
        }

    def destroy(self) -> None:
        """rmdir the leaf (after its sub-cgroups) in every hierarchy, killing
        what is left, then the dirs create() made; the first error is raised
        after every hierarchy was tried."""
        error: LauncherError | None = None
        for d in self.dirs.values():
            try:
                remove_tree(d, self._kill)
            except LauncherError as exc:
                error = error or exc
        leaves = {d.rel for d in self.dirs.values()}
        remove_created([d for d in self._created if d.rel not in leaves])
        self._created = []
        if error is not None:
            raise error

    def _kill(self, d: CgroupDir) -> None:
        kill_all(d)
        # A frozen task never acts on SIGKILL: thaw it (best effort).
        mount = self.mounts.get("freezer")
        if mount is not None:
            freezer = self.dirs[mount]
            if freezer.read("freezer.state") not in (None, "THAWED"):
                try:
                    freezer.fs.write(freezer.file("freezer.state"), "THAWED")
                except OSError:
                    pass

    def exists(self) -> bool:
        return any(d.has() for d in self.dirs.values())


def _copy_cpuset(parent: CgroupDir, child: CgroupDir) -> None:
    for name in ("cpuset.cpus", "cpuset.mems"):
        if not child.read(name):
            child.write(name, parent.read(name) or "")
