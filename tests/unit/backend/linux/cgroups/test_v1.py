"""The v1 manager against a fake tree of v1 hierarchies."""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

import pytest

from launcher.backend.linux.cgroups import open_manager
from launcher.backend.linux.cgroups.v1 import V1Manager, hierarchies
from launcher.errors import ConfigError, RuntimeFailure, UnsupportedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from conftest import FakeCgroupFS

Res = Callable[..., Any]
PID = 5_000_001  # above the kernel's PID_MAX_LIMIT: never a real process (see conftest)
MOUNTS = [
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "pids",
    "systemd",
]  # the fake's hierarchies
UNLIMITED = "9223372036854771712"


def created(fs: FakeCgroupFS, path: str = "/launcher/abc") -> V1Manager:
    m = open_manager(path, layout="v1", root=fs.root, fs=fs)
    assert isinstance(m, V1Manager)
    m.create()
    fs.writes.clear()  # tests look at what apply() writes
    return m


def test_hierarchies_split_comounts_and_name_systemd(v1fs: FakeCgroupFS) -> None:
    fs = v1fs
    fs.dirs.add("net_cls,net_prio")
    fs.files["net_cls,net_prio/cgroup.procs"] = ""
    fs.dirs.add("not-a-cgroup")
    got = hierarchies(fs)
    assert got["net_cls"] == got["net_prio"] == "net_cls,net_prio"
    assert got["name=systemd"] == "systemd"
    assert "not-a-cgroup" not in got.values()
    assert "unified" not in got.values()


def test_create_in_every_hierarchy(v1fs: FakeCgroupFS) -> None:
    created(v1fs)
    assert v1fs.cgroups() == {f"{m}/{p}" for m in MOUNTS for p in ("launcher", "launcher/abc")}


def test_create_copies_cpuset_into_new_dirs(v1fs: FakeCgroupFS) -> None:
    m = created(v1fs)
    for d in ("cpuset/launcher", "cpuset/launcher/abc"):
        assert v1fs.files[d + "/cpuset.cpus"] == "0-3"
        assert v1fs.files[d + "/cpuset.mems"] == "0"
    m.add(PID)  # an empty cpuset would refuse the task (ENOSPC)


def test_create_fixes_an_empty_existing_parent_cpuset(v1fs: FakeCgroupFS) -> None:
    v1fs.mkdir("cpuset/launcher")  # someone made it without cpus/mems
    created(v1fs)
    assert v1fs.files["cpuset/launcher/cpuset.cpus"] == "0-3"
    assert v1fs.files["cpuset/launcher/abc/cpuset.mems"] == "0"


def test_apply_writes_every_file(v1fs: FakeCgroupFS, res: Res) -> None:
    m = created(v1fs)
    m.apply(res(
        memory={"limit": 1 << 30, "reservation": 1 << 29, "swap": 1 << 31, "swappiness": 0,
                "disableOOMKiller": True},
        cpu={"shares": 512, "quota": 50000, "period": 100000, "burst": 1000, "idle": 1,
             "realtimeRuntime": 950, "realtimePeriod": 1000, "cpus": "1", "mems": "0"},
        pids={"limit": 0},
        block_io={"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 10}],
                  "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 4096}]},
        hugepage_limits=[{"pageSize": "2MB", "limit": 4 << 20}],
        devices=[{"allow": False, "access": "rwm"},
                 {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
    ))  # fmt: skip
    assert v1fs.written() == [
        ("memory.limit_in_bytes", str(1 << 30)),
        ("memory.memsw.limit_in_bytes", str(1 << 31)),
        ("memory.soft_limit_in_bytes", str(1 << 29)),
        ("memory.swappiness", "0"),
        ("memory.oom_control", "1"),
        ("cpu.shares", "512"),
        ("cpu.cfs_period_us", "100000"),
        ("cpu.cfs_quota_us", "50000"),
        ("cpu.cfs_burst_us", "1000"),
        ("cpu.rt_period_us", "1000"),
        ("cpu.rt_runtime_us", "950"),
        ("cpu.idle", "1"),
        ("cpuset.cpus", "1"),
        ("cpuset.mems", "0"),
        ("pids.max", "max"),
        ("blkio.bfq.weight", "500"),
        ("blkio.bfq.weight_device", "8:0 10"),
        ("blkio.throttle.write_bps_device", "8:0 4096"),
        ("hugetlb.2MB.limit_in_bytes", str(4 << 20)),
        ("devices.deny", "a"),
        ("devices.deny", "a"),
        ("devices.allow", "c 1:3 rwm"),
    ]
    for rel, _ in v1fs.writes:  # each file in its own hierarchy's leaf
        mount, _, rest = rel.partition("/")
        assert rest.startswith("launcher/abc/")
        assert rest.rpartition("/")[2].split(".")[0] in mount.split(",")


def test_memsw_ordering_keeps_memsw_above_limit(v1fs: FakeCgroupFS, res: Res) -> None:
    m = created(v1fs)
    m.apply(res(memory={"limit": 100 << 20, "swap": 200 << 20}))  # fresh: limit first
    m.apply(res(memory={"limit": 300 << 20, "swap": 600 << 20}))  # growing: memsw first
    m.apply(res(memory={"limit": 50 << 20, "swap": 80 << 20}))  # shrinking: limit first
    m.apply(res(memory={"limit": -1}))  # unlimited: memsw lifted first
    assert v1fs.written("_in_bytes") == [
        ("memory.limit_in_bytes", str(100 << 20)),
        ("memory.memsw.limit_in_bytes", str(200 << 20)),
        ("memory.memsw.limit_in_bytes", str(600 << 20)),
        ("memory.limit_in_bytes", str(300 << 20)),
        ("memory.limit_in_bytes", str(50 << 20)),
        ("memory.memsw.limit_in_bytes", str(80 << 20)),
        ("memory.memsw.limit_in_bytes", "-1"),
        ("memory.limit_in_bytes", "-1"),
    ]
    assert v1fs.files["memory/launcher/abc/memory.limit_in_bytes"] == UNLIMITED


def test_memsw_skipped_without_swap_accounting(v1fs: FakeCgroupFS, res: Res) -> None:
    m = created(v1fs)
    del v1fs.files["memory/launcher/abc/memory.memsw.limit_in_bytes"]
    m.apply(res(memory={"limit": 100, "swap": 200}))
    assert v1fs.written() == [("memory.limit_in_bytes", "100")]


def test_period_retried_after_quota_on_einval(v1fs: FakeCgroupFS, res: Res) -> None:
    m = created(v1fs)
    calls = []
    original = v1fs.write

    def picky(rel: str, data: str) -> None:
        name = rel.rpartition("/")[2]
        calls.append(name)
        if name == "cpu.cfs_period_us" and "cpu.cfs_quota_us" not in calls:
            raise OSError(errno.EINVAL, "Invalid argument")
        original(rel, data)

    v1fs.write = picky  # type: ignore[method-assign]
    m.apply(res(cpu={"quota": 1000, "period": 10000}))
    assert calls == ["cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.cfs_period_us"]


def test_shares_out_of_range_is_reported(v1fs: FakeCgroupFS, res: Res) -> None:
    m = created(v1fs)
    with pytest.raises(RuntimeFailure, match=r"cpu\.shares 1 is out of range"):
        m.apply(res(cpu={"shares": 1}))


def test_missing_hierarchy_is_unsupported(v1fs: FakeCgroupFS, res: Res) -> None:
    v1fs.dirs.discard("hugetlb")
    del v1fs.files["hugetlb/cgroup.procs"]
    m = created(v1fs)
    with pytest.raises(UnsupportedError, match="hugetlb"):
        m.apply(res(pids={"limit": 5}, hugepage_limits=[{"pageSize": "2MB", "limit": 1}]))
    assert v1fs.writes == []  # found out before the first write


def test_unified_is_unsupported_on_v1(v1fs: FakeCgroupFS, res: Res) -> None:
    m = created(v1fs)
    with pytest.raises(UnsupportedError, match="unified"):
        m.apply(res(unified={"memory.high": "1"}))


def test_invalid_resources_write_nothing(v1fs: FakeCgroupFS, res: Res) -> None:
    m = created(v1fs)
    with pytest.raises(ConfigError):
        m.apply(res(pids={"limit": 5}, devices=[{"allow": True, "type": "z"}]))
    assert v1fs.writes == []


def test_add_pids_in_every_hierarchy(v1fs: FakeCgroupFS) -> None:
    m = created(v1fs)
    m.add(PID)
    for mount in MOUNTS:
        assert v1fs.files[f"{mount}/launcher/abc/cgroup.procs"] == str(PID)
    assert m.pids() == [PID]


def test_freeze_thaw_and_stats(v1fs: FakeCgroupFS) -> None:
    m = created(v1fs)
    m.freeze()
    assert m.is_frozen()
    assert v1fs.files["freezer/launcher/abc/freezer.state"] == "FROZEN"
    m.thaw()
    assert not m.is_frozen()
    assert m.stats() == {
        "cpu_usage_ns": 12345,
        "memory_usage": 4096,
        "memory_limit": None,
        "pids_current": 0,
        "pids_limit": None,
        "oom_kills": 2,
    }


def test_freeze_waits_through_freezing(v1fs: FakeCgroupFS) -> None:
    m = created(v1fs)
    states = iter(["FREEZING", "FREEZING", "FROZEN"])
    v1fs._w_freezer_state = lambda d, data: next(states)  # type: ignore[attr-defined]
    m.freeze()
    assert v1fs.written("freezer.state") == [("freezer.state", "FROZEN")] * 3


def test_destroy_thaws_kills_and_removes_everything(v1fs: FakeCgroupFS) -> None:
    m = created(v1fs)
    m.add(PID)
    m.freeze()
    m.destroy()
    assert v1fs.killed == [PID]
    assert ("freezer.state", "THAWED") in v1fs.written()
    assert v1fs.cgroups() == set()
    assert not m.exists()
    m.destroy()  # idempotent


def test_destroy_tries_every_hierarchy_then_raises(v1fs: FakeCgroupFS) -> None:
    m = created(v1fs)
    original = v1fs.rmdir

    def stuck(rel: str) -> None:
        if rel == "blkio/launcher/abc":
            raise OSError(errno.EPERM, "Operation not permitted")
        original(rel)

    v1fs.rmdir = stuck  # type: ignore[method-assign]
    with pytest.raises(RuntimeFailure, match="blkio/launcher/abc"):
        m.destroy()
    assert v1fs.cgroups() == {"blkio/launcher", "blkio/launcher/abc"}


def test_relative_path_per_hierarchy(v1fs: FakeCgroupFS) -> None:
    v1fs.mkdir("memory/box")
    m = V1Manager(v1fs, "launcher/abc", own={"memory": "/box", "cpu": "/"})
    m.create()
    assert "memory/box/launcher/abc" in v1fs.cgroups()
    assert "cpu/launcher/abc" in v1fs.cgroups()
    m.destroy()
    assert v1fs.cgroups() == {"memory/box"}


def test_empty_sections_need_no_controller(v1fs: FakeCgroupFS, res: Res) -> None:
    for mount in ("memory", "blkio"):
        v1fs.dirs.discard(mount)
        del v1fs.files[mount + "/cgroup.procs"]
    m = created(v1fs)
    m.apply(res(memory={}, block_io={}))
    assert v1fs.writes == []


def test_add_self_uses_tasks_in_every_hierarchy(v1fs: FakeCgroupFS) -> None:
    from .conftest import SELF_PID

    m = created(v1fs)
    m.add_self()
    assert all(rel.endswith("/tasks") and data == "0" for rel, data in v1fs.writes[-len(MOUNTS):])
    for mount in MOUNTS:
        assert v1fs.files[f"{mount}/launcher/abc/cgroup.procs"] == str(SELF_PID)
