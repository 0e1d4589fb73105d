"""The v2 manager against a fake unified cgroupfs."""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

import pytest

from launcher.backend.linux.cgroups import open_manager
from launcher.backend.linux.cgroups.v2 import V2Manager, relative_base
from launcher.errors import ConfigError, RuntimeFailure, UnsupportedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from conftest import FakeCgroupFS

Res = Callable[..., Any]
PID = 5_000_001  # above the kernel's PID_MAX_LIMIT: never a real process (see conftest)


def created(fs: FakeCgroupFS, path: str = "/launcher/abc") -> V2Manager:
    m = open_manager(path, layout="v2", root=fs.root, fs=fs)
    assert isinstance(m, V2Manager)
    m.create()
    fs.writes.clear()  # tests look at what apply() writes
    return m


def test_create_enables_controllers_in_every_parent(v2fs: FakeCgroupFS) -> None:
    m = created(v2fs)
    assert m.path == "/launcher/abc"
    assert v2fs.cgroups() == {"launcher", "launcher/abc"}
    everything = "cpuset cpu io memory hugetlb pids"
    assert v2fs.files["cgroup.subtree_control"] == everything
    assert v2fs.files["launcher/cgroup.subtree_control"] == everything
    assert v2fs.files["launcher/abc/cgroup.subtree_control"] == ""  # not the leaf
    assert v2fs.exists("launcher/abc/memory.max")


def test_create_falls_back_to_one_controller_at_a_time(v2fs: FakeCgroupFS) -> None:
    v2fs.files["cgroup.controllers"] += " rdma"  # listed, but the parent can't delegate it
    original = v2fs._w_cgroup_subtree_control

    def refuse_rdma(d: str, data: str) -> str:
        if "rdma" in data:
            raise OSError(errno.EINVAL, "Invalid argument")
        return original(d, data)

    v2fs._w_cgroup_subtree_control = refuse_rdma  # type: ignore[method-assign]
    created(v2fs)
    assert v2fs.files["cgroup.subtree_control"] == "cpuset cpu io memory hugetlb pids"


def test_create_keeps_existing_parents_on_destroy(v2fs: FakeCgroupFS) -> None:
    v2fs.mkdir("launcher")
    m = created(v2fs)
    m.destroy()
    assert v2fs.cgroups() == {"launcher"}


def test_apply_writes_every_file(v2fs: FakeCgroupFS, res: Res) -> None:
    m = created(v2fs)
    m.apply(res(
        memory={"limit": 1 << 30, "reservation": 1 << 29, "swap": 3 << 29},
        cpu={"shares": 1024, "quota": 50000, "period": 100000, "burst": 1000, "idle": 0,
             "cpus": "0-1", "mems": "0"},
        pids={"limit": 100},
        block_io={"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 10}],
                  "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}],
                  "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 0}]},
        hugepage_limits=[{"pageSize": "2MB", "limit": 4 << 20}],
        unified={"memory.high": "900M"},
    ))  # fmt: skip
    assert v2fs.written() == [
        ("memory.max", str(1 << 30)),
        ("memory.low", str(1 << 29)),
        ("memory.swap.max", str(1 << 29)),
        ("cpu.weight", "39"),
        ("cpu.max", "50000 100000"),
        ("cpu.max.burst", "1000"),
        ("cpu.idle", "0"),
        ("cpuset.cpus", "0-1"),
        ("cpuset.mems", "0"),
        ("pids.max", "100"),
        ("io.weight", "4950"),
        ("io.weight", "8:0 1"),
        ("io.max", "8:0 rbps=1000"),
        ("io.max", "8:0 wiops=max"),
        ("hugetlb.2MB.max", str(4 << 20)),
        ("hugetlb.2MB.rsvd.max", str(4 << 20)),
        ("memory.high", "900M"),
    ]
    assert all(
        rel.startswith("launcher/abc/")
        for rel, _ in v2fs.writes
        if not rel.endswith("subtree_control")
    )


def test_apply_uses_bfq_weight_when_present(v2fs: FakeCgroupFS, res: Res) -> None:
    m = created(v2fs)
    v2fs.files["launcher/abc/io.bfq.weight"] = "default 100"
    m.apply(res(block_io={"weight": 500}))
    assert v2fs.written("weight") == [("io.bfq.weight", "500")]


def test_apply_unlimited_values(v2fs: FakeCgroupFS, res: Res) -> None:
    m = created(v2fs)
    m.apply(res(memory={"limit": -1}, cpu={"quota": -1}, pids={"limit": -1}))
    assert v2fs.written() == [
        ("memory.max", "max"),
        ("memory.swap.max", "max"),
        ("cpu.max", "max 100000"),
        ("pids.max", "max"),
    ]


def test_apply_period_only_keeps_quota(v2fs: FakeCgroupFS, res: Res) -> None:
    m = created(v2fs)
    m.apply(res(cpu={"quota": 20000}))
    m.apply(res(cpu={"period": 50000}))
    assert v2fs.files["launcher/abc/cpu.max"] == "20000 50000"


def test_apply_skips_swap_without_swap_accounting(v2fs: FakeCgroupFS, res: Res) -> None:
    m = created(v2fs)
    del v2fs.files["launcher/abc/memory.swap.max"]
    m.apply(res(memory={"limit": 100, "swap": 200}))
    assert v2fs.written() == [("memory.max", "100")]


def test_apply_ignores_device_rules_swappiness_and_oom_killer(v2fs: FakeCgroupFS, res: Res) -> None:
    m = created(v2fs)
    before = len(v2fs.writes)
    m.apply(
        res(
            devices=[{"allow": False, "access": "rwm"}],
            memory={"swappiness": 10, "disableOOMKiller": True},
        )
    )
    assert len(v2fs.writes) == before


def test_apply_realtime_is_unsupported(v2fs: FakeCgroupFS, res: Res) -> None:
    m = created(v2fs)
    with pytest.raises(UnsupportedError, match="realtime"):
        m.apply(res(cpu={"realtimeRuntime": 1000}))


def test_apply_validates_everything_before_writing(v2fs: FakeCgroupFS, res: Res) -> None:
    m = created(v2fs)
    before = len(v2fs.writes)
    with pytest.raises(ConfigError, match="unified"):
        m.apply(res(memory={"limit": 100}, unified={"../../memory.max": "1"}))
    with pytest.raises(ConfigError, match=r"memory\.swap"):
        m.apply(res(memory={"limit": 100, "swap": 50}))
    assert len(v2fs.writes) == before


def test_apply_einval_names_the_file(v2fs: FakeCgroupFS, res: Res) -> None:
    m = created(v2fs)
    v2fs.fail["pids.max"] = errno.EINVAL
    with pytest.raises(RuntimeFailure, match=r"/fake/cgroup/launcher/abc/pids.max.*Invalid"):
        m.apply(res(pids={"limit": 5}))


def test_apply_missing_controller_is_unsupported(v2fs: FakeCgroupFS, res: Res) -> None:
    v2fs.files["cgroup.controllers"] = "memory"  # no pids here
    m = created(v2fs)
    with pytest.raises(UnsupportedError, match=r"pids\.max does not exist.*pids controller"):
        m.apply(res(memory={"limit": 5}, pids={"limit": 5}))
    assert v2fs.writes == []  # found out before the first write


def test_cpu_max_and_burst_reversed_on_einval(v2fs: FakeCgroupFS, res: Res) -> None:
    m = created(v2fs)
    calls = []
    original = v2fs.write

    def picky(rel: str, data: str) -> None:
        calls.append(rel.rpartition("/")[2])
        if rel.endswith("cpu.max") and "cpu.max.burst" not in calls:
            raise OSError(errno.EINVAL, "Invalid argument")  # burst must shrink first
        original(rel, data)

    v2fs.write = picky  # type: ignore[method-assign]
    m.apply(res(cpu={"quota": 1000, "burst": 500}))
    assert calls == ["cpu.max", "cpu.max.burst", "cpu.max"]


def test_add_pids_freeze_thaw_stats(v2fs: FakeCgroupFS) -> None:
    m = created(v2fs)
    m.add(PID)
    m.add(PID + 1)
    assert m.pids() == [PID, PID + 1]
    assert not m.is_frozen()
    m.freeze()
    assert m.is_frozen()
    m.thaw()
    assert not m.is_frozen()
    assert m.stats() == {
        "cpu_usage_ns": 7000,
        "memory_usage": 8192,
        "memory_limit": None,
        "pids_current": 0,
        "pids_limit": None,
        "oom_kills": 1,
    }


def test_pids_include_sub_cgroups(v2fs: FakeCgroupFS) -> None:
    m = created(v2fs)
    v2fs.mkdir("launcher/abc/sub")
    v2fs.write("launcher/abc/sub/cgroup.procs", str(PID))
    assert m.pids() == [PID]


def test_destroy_kills_removes_and_is_idempotent(v2fs: FakeCgroupFS) -> None:
    m = created(v2fs)
    m.add(PID)
    v2fs.mkdir("launcher/abc/sub")  # made by the container itself
    m.destroy()
    assert v2fs.killed == [PID]
    assert v2fs.cgroups() == set()
    assert not m.exists()
    m.destroy()
    open_manager("/launcher/abc", layout="v2", root=v2fs.root, fs=v2fs).destroy()


def test_destroy_without_cgroup_kill_uses_signals(v2fs: FakeCgroupFS) -> None:
    m = created(v2fs)
    m.add(PID)
    del v2fs.files["launcher/abc/cgroup.kill"]
    m.destroy()
    assert v2fs.killed == [PID]
    assert v2fs.cgroups() == set()


def test_destroy_by_a_fresh_manager_keeps_shared_parent(v2fs: FakeCgroupFS) -> None:
    created(v2fs)
    open_manager("/launcher/abc", layout="v2", root=v2fs.root, fs=v2fs).destroy()
    assert v2fs.cgroups() == {"launcher"}


def test_destroy_leaves_parent_another_container_uses(v2fs: FakeCgroupFS) -> None:
    m = created(v2fs)
    created(v2fs, "/launcher/other")
    m.destroy()
    assert v2fs.cgroups() == {"launcher", "launcher/other"}


def test_create_failure_rolls_back(v2fs: FakeCgroupFS) -> None:
    original = v2fs.mkdir

    def fail_leaf(rel: str) -> None:
        if rel.endswith("abc"):
            raise OSError(errno.ENOSPC, "No space left on device")
        original(rel)

    v2fs.mkdir = fail_leaf  # type: ignore[method-assign]
    m = open_manager("/launcher/abc", layout="v2", root=v2fs.root, fs=v2fs)
    with pytest.raises(RuntimeFailure, match=r"launcher/abc.*No space"):
        m.create()
    assert v2fs.cgroups() == set()


def test_relative_path_goes_below_parent_of_own_cgroup(v2fs: FakeCgroupFS) -> None:
    assert relative_base("/user.slice/session-1.scope") == "/user.slice"
    assert relative_base("/init.scope") == "/"
    assert relative_base("/") == "/"
    v2fs.mkdir("user.slice")
    m = V2Manager(v2fs, "launcher/abc", base=relative_base("/user.slice/session-1.scope"))
    m.create()
    assert v2fs.cgroups() == {"user.slice", "user.slice/launcher", "user.slice/launcher/abc"}
    m.destroy()
    assert v2fs.cgroups() == {"user.slice"}
