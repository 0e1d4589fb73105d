"""A fake cgroupfs in memory that behaves like the kernel where the managers care.

Each top-level dir is a hierarchy: v1 controllers (``cpu``, ``memory``, …, the
named ``systemd``), or cgroup2 (the root itself for v2, ``unified`` for
hybrid).  mkdir populates control files like the kernel does; rmdir of a
cgroup with tasks or children is EBUSY; writes follow the kernel's rules that
the managers depend on (memsw >= limit, an empty cpuset refuses tasks,
controllers must be enabled in the parent, shares are clamped, …).

Pids used here are above the kernel's PID_MAX_LIMIT (4194304), and ``os.kill``
is replaced for every test in this folder, so nothing real is ever signalled.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from launcher.spec.model import Resources

PID = 5_000_001  # > PID_MAX_LIMIT: no real process can have it
UNLIMITED = "9223372036854771712"

V1_FILES: dict[str, dict[str, str]] = {
    "memory": {
        "memory.limit_in_bytes": UNLIMITED,
        "memory.memsw.limit_in_bytes": UNLIMITED,
        "memory.soft_limit_in_bytes": UNLIMITED,
        "memory.swappiness": "60",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        "memory.usage_in_bytes": "4096",
    },
    "cpu": {
        "cpu.shares": "1024",
        "cpu.cfs_period_us": "100000",
        "cpu.cfs_quota_us": "-1",
        "cpu.cfs_burst_us": "0",
        "cpu.rt_period_us": "1000000",
        "cpu.rt_runtime_us": "0",
        "cpu.idle": "0",
    },
    "cpuacct": {"cpuacct.usage": "12345"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm"},
    "freezer": {"freezer.state": "THAWED"},
    "blkio": {
        "blkio.bfq.weight": "100",
        "blkio.bfq.weight_device": "",
        "blkio.throttle.read_bps_device": "",
        "blkio.throttle.write_bps_device": "",
        "blkio.throttle.read_iops_device": "",
        "blkio.throttle.write_iops_device": "",
    },
    "hugetlb": {"hugetlb.2MB.limit_in_bytes": UNLIMITED},
    "systemd": {},
}
V1_ROOT: dict[str, dict[str, str]] = {"cpuset": {"cpuset.cpus": "0-3", "cpuset.mems": "0"}}

V2_FILES: dict[str, dict[str, str]] = {
    "cpu": {
        "cpu.weight": "100",
        "cpu.max": "max 100000",
        "cpu.max.burst": "0",
        "cpu.idle": "0",
        "cpu.stat": "usage_usec 7\nuser_usec 5\nsystem_usec 2\n",
    },
    "memory": {
        "memory.max": "max",
        "memory.low": "0",
        "memory.high": "max",
        "memory.swap.max": "max",
        "memory.current": "8192",
        "memory.oom.group": "0",
        "memory.events": "low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n",
    },
    "pids": {"pids.max": "max", "pids.current": "0"},
    "io": {"io.weight": "default 100", "io.max": ""},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "hugetlb": {"hugetlb.2MB.max": "max", "hugetlb.2MB.rsvd.max": "max"},
}
V2_CORE = {
    "cgroup.procs": "",
    "cgroup.subtree_control": "",
    "cgroup.freeze": "0",
    "cgroup.events": "populated 0\nfrozen 0\n",
    "cgroup.kill": "",
}
V2_CONTROLLERS = "cpuset cpu io memory hugetlb pids"


SELF_PID = 4321  # the pid a write of "0" stands for (the writing process)

def _err(code: int, path: str) -> OSError:
    return OSError(code, os.strerror(code), path)


class FakeCgroupFS:
    """In-memory cgroupfs: ``files`` rel → text, ``dirs`` the cgroup dirs."""

    def __init__(self, layout: str, root: str = "/fake/cgroup") -> None:
        self.root = root
        self.layout = layout
        self.files: dict[str, str] = {}
        self.dirs: set[str] = {""}
        self.writes: list[tuple[str, str]] = []
        self.fail: dict[str, int] = {}  # file basename → errno for its next writes
        self.killed: list[int] = []
        if layout in ("v1", "hybrid"):
            for mount in V1_FILES:
                self.dirs.add(mount)
                self.files[mount + "/cgroup.procs"] = ""
                for name, value in V1_ROOT.get(mount, {}).items():
                    self.files[f"{mount}/{name}"] = value
        if layout == "hybrid":
            self._v2_root("unified", "")
        if layout == "v2":
            self._v2_root("", V2_CONTROLLERS)

    def _v2_root(self, mount: str, controllers: str) -> None:
        self.dirs.add(mount)
        pre = mount + "/" if mount else ""
        self.files.update(
            {
                pre + "cgroup.procs": "",
                pre + "cgroup.controllers": controllers,
                pre + "cgroup.subtree_control": "",
            }
        )

    # -- the CgroupFSLike methods ---------------------------------------------

    def read(self, rel: str) -> str:
        if rel not in self.files:
            raise _err(errno.EISDIR if rel in self.dirs else errno.ENOENT, rel)
        return self.files[rel] + ("\n" if self.files[rel] else "")

    def exists(self, rel: str) -> bool:
        return rel in self.files or rel in self.dirs

    def subdirs(self, rel: str) -> list[str]:
        if rel not in self.dirs:
            raise _err(errno.ENOENT, rel)
        pre = rel + "/" if rel else ""
        return sorted(
            d[len(pre) :]
            for d in self.dirs
            if d.startswith(pre) and d != rel and "/" not in d[len(pre) :]
        )

    def mkdir(self, rel: str) -> None:
        parent, _, _ = rel.rpartition("/")
        if parent not in self.dirs:
            raise _err(errno.ENOENT, rel)
        if self.exists(rel):
            raise FileExistsError(errno.EEXIST, "File exists", rel)
        self.dirs.add(rel)
        mount = rel.split("/")[0]
        if self._is_v2(mount):
            enabled = self.files[self._f(parent, "cgroup.subtree_control")]
            self.files.update({f"{rel}/{k}": v for k, v in V2_CORE.items()})
            self.files[f"{rel}/cgroup.controllers"] = enabled
            for ctrl in enabled.split():
                self.files.update({f"{rel}/{k}": v for k, v in V2_FILES[ctrl].items()})
        else:
            self.files[f"{rel}/cgroup.procs"] = ""
            self.files[f"{rel}/tasks"] = ""
            for ctrl in mount.split(","):
                self.files.update({f"{rel}/{k}": v for k, v in V1_FILES[ctrl].items()})

    def rmdir(self, rel: str) -> None:
        if rel not in self.dirs:
            raise _err(errno.ENOENT, rel)
        if self.subdirs(rel) or self.files.get(rel + "/cgroup.procs"):
            raise _err(errno.EBUSY, rel)
        self.dirs.discard(rel)
        for name in [f for f in self.files if f.startswith(rel + "/")]:
            del self.files[name]

    def write(self, rel: str, data: str) -> None:
        if rel not in self.files:
            raise _err(errno.ENOENT, rel)
        d, _, name = rel.rpartition("/")
        if name in self.fail:
            raise _err(self.fail[name], rel)
        self.writes.append((rel, data))
        self._kernel_rules(d, name, data)

    # -- helpers ----------------------------------------------------------------

    def _is_v2(self, mount: str) -> bool:
        return self.layout == "v2" or mount == "unified"

    def _f(self, d: str, name: str) -> str:
        return f"{d}/{name}" if d else name

    def _kernel_rules(self, d: str, name: str, data: str) -> None:
        rule: Callable[[str, str], str | None] | None = getattr(
            self, "_w_" + name.replace(".", "_"), None
        )
        value = rule(d, data) if rule else data
        if value is not None:
            self.files[self._f(d, name)] = value

    def _hierarchy(self, rel: str) -> str:
        return "" if self.layout == "v2" else rel.split("/")[0]

    def _w_cgroup_procs(self, d: str, data: str) -> None:
        if d.startswith("cpuset/") and not self.files.get(d + "/cpuset.cpus"):
            raise _err(errno.ENOSPC, d + "/cgroup.procs")
        pid = data.strip()
        if pid == "0":  # "the writer itself", as the kernel reads it
            pid = str(SELF_PID)
        for f in self.files:  # a task lives in one cgroup per hierarchy
            if f.endswith("cgroup.procs") and self._hierarchy(f) == self._hierarchy(d):
                self.files[f] = " ".join(p for p in self.files[f].split() if p != pid)
        target = self._f(d, "cgroup.procs")
        self.files[target] = (self.files[target] + " " + pid).strip()

    def _w_tasks(self, d: str, data: str) -> None:
        # Single-threaded tasks only here: moving the thread moves the process.
        self._w_cgroup_procs(d, data)

    def _w_cgroup_subtree_control(self, d: str, data: str) -> str:
        available = self.files[self._f(d, "cgroup.controllers")].split()
        enabled = self.files[self._f(d, "cgroup.subtree_control")].split()
        for word in data.split():
            if word[1:] not in available:
                raise _err(errno.ENOENT, d)
            if word[0] == "+" and word[1:] not in enabled:
                enabled.append(word[1:])
        return " ".join(enabled)

    def _w_cgroup_freeze(self, d: str, data: str) -> str:
        self.files[d + "/cgroup.events"] = f"populated 0\nfrozen {data.strip()}\n"
        return data

    def _w_cgroup_kill(self, d: str, data: str) -> str:
        self.killed += [int(p) for p in self.files[d + "/cgroup.procs"].split()]
        self.files[d + "/cgroup.procs"] = ""
        return ""

    def _w_memory_limit_in_bytes(self, d: str, data: str) -> str:
        value = UNLIMITED if data == "-1" else data
        if int(value) > int(self.files.get(d + "/memory.memsw.limit_in_bytes", UNLIMITED)):
            raise _err(errno.EINVAL, d + "/memory.limit_in_bytes")
        return value

    def _w_memory_memsw_limit_in_bytes(self, d: str, data: str) -> str:
        value = UNLIMITED if data == "-1" else data
        if int(value) < int(self.files[d + "/memory.limit_in_bytes"]):
            raise _err(errno.EINVAL, d + "/memory.memsw.limit_in_bytes")
        return value

    def _w_cpu_shares(self, d: str, data: str) -> str:
        return str(min(max(int(data), 2), 262144))

    # -- for tests --------------------------------------------------------------

    def written(self, suffix: str = "") -> list[tuple[str, str]]:
        """(file name, value) of every write to a file ending in ``suffix``."""
        return [(rel.rpartition("/")[2], v) for rel, v in self.writes if rel.endswith(suffix)]

    def cgroups(self) -> set[str]:
        """Every cgroup below a hierarchy root."""
        return {d for d in self.dirs if d and (self.layout == "v2" or "/" in d)}

    def kill(self, pid: int, sig: int) -> None:
        """Stands in for os.kill: the task leaves every cgroup at once."""
        assert pid > 4194304, "a unit test tried to signal a real pid"
        found = False
        for f, text in self.files.items():
            if f.endswith("cgroup.procs") and str(pid) in text.split():
                self.files[f] = " ".join(p for p in text.split() if p != str(pid))
                found = True
        if not found:
            raise ProcessLookupError(pid)
        self.killed.append(pid)


_current: list[FakeCgroupFS] = []


@pytest.fixture(autouse=True)
def _no_real_kill(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def fake_kill(pid: int, sig: int) -> None:
        if not _current:
            raise AssertionError(f"os.kill({pid}, {sig}) outside a fake cgroupfs")
        _current[-1].kill(pid, sig)

    monkeypatch.setattr(os, "kill", fake_kill)
    yield
    _current.clear()


def _make(layout: str) -> FakeCgroupFS:
    fs = FakeCgroupFS(layout)
    _current.append(fs)
    return fs


@pytest.fixture
def v1fs() -> FakeCgroupFS:
    return _make("v1")


@pytest.fixture
def v2fs() -> FakeCgroupFS:
    return _make("v2")


@pytest.fixture
def hybridfs() -> FakeCgroupFS:
    return _make("hybrid")


@pytest.fixture
def res() -> Callable[..., Resources]:
    """``res(memory={"limit": 1})`` → a Resources model object."""

    def build(**kw: Any) -> Resources:
        mapping = {"block_io": "blockIO", "hugepage_limits": "hugepageLimits"}
        return Resources.from_json({mapping.get(k, k): v for k, v in kw.items()})

    return build
