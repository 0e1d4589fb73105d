"""The hybrid layout: v1 limits plus a process-tracking dir in unified/."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from launcher.backend.linux.cgroups import open_manager
from launcher.backend.linux.cgroups.hybrid import HybridManager
from launcher.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from conftest import FakeCgroupFS

Res = Callable[..., Any]
PID = 5_000_001  # above the kernel's PID_MAX_LIMIT: never a real process (see conftest)


def created(fs: FakeCgroupFS) -> HybridManager:
    m = open_manager("/launcher/abc", layout="hybrid", root=fs.root, fs=fs)
    assert isinstance(m, HybridManager)
    m.create()
    return m


def test_create_add_destroy_covers_unified(hybridfs: FakeCgroupFS) -> None:
    m = created(hybridfs)
    assert {"unified/launcher", "unified/launcher/abc", "memory/launcher/abc"} <= hybridfs.cgroups()
    m.add(PID)
    assert hybridfs.files["unified/launcher/abc/cgroup.procs"] == str(PID)
    assert hybridfs.files["memory/launcher/abc/cgroup.procs"] == str(PID)
    assert m.pids() == [PID]
    m.destroy()
    assert hybridfs.killed == [PID]
    assert hybridfs.cgroups() == set()
    assert not m.exists()
    m.destroy()


def test_limits_go_to_v1_unified_to_cgroup2(hybridfs: FakeCgroupFS, res: Res) -> None:
    m = created(hybridfs)
    hybridfs.files["unified/launcher/abc/cgroup.max.depth"] = "max"
    hybridfs.writes.clear()
    m.apply(res(pids={"limit": 7}, unified={"cgroup.max.depth": "2"}))
    assert hybridfs.writes == [
        ("pids/launcher/abc/pids.max", "7"),
        ("unified/launcher/abc/cgroup.max.depth", "2"),
    ]
    with pytest.raises(ConfigError):
        m.apply(res(unified={"../cgroup.procs": "1"}))


def test_freeze_and_stats_are_v1(hybridfs: FakeCgroupFS) -> None:
    m = created(hybridfs)
    m.freeze()
    assert m.is_frozen()
    assert hybridfs.files["unified/launcher/abc/cgroup.freeze"] == "0"
    m.thaw()
    assert not m.is_frozen()
    assert m.stats()["cpu_usage_ns"] == 12345


def test_failed_unified_create_rolls_back_v1(hybridfs: FakeCgroupFS) -> None:
    hybridfs.dirs.discard("unified")
    m = open_manager("/launcher/abc", layout="hybrid", root=hybridfs.root, fs=hybridfs)
    with pytest.raises(Exception, match="unified"):
        m.create()
    assert hybridfs.cgroups() == set()


def test_relative_path_below_own_unified_cgroup(hybridfs: FakeCgroupFS) -> None:
    hybridfs.mkdir("unified/me")
    m = HybridManager(hybridfs, "launcher/abc", own={"": "/me"})
    m.create()
    assert "unified/me/launcher/abc" in hybridfs.cgroups()
    m.destroy()
    assert hybridfs.cgroups() == {"unified/me"}


def test_add_self_can_skip_unified(hybridfs: FakeCgroupFS) -> None:
    from launcher.backend.linux.cgroups import open_manager

    m = open_manager("/launcher/abc", "hybrid", fs=hybridfs)
    m.create()
    m.add_self(v2=False)
    assert not any(rel.startswith("unified/") and rel.endswith("cgroup.procs")
                   for rel, _ in hybridfs.writes)
    m.add_self()
    assert ("unified/launcher/abc/cgroup.procs", "0") in hybridfs.writes
    assert m.unified_dir() == hybridfs.root + "/unified/launcher/abc"
