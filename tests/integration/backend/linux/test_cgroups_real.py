"""The cgroup managers against the real kernel (root; v1 or hybrid hosts).

Each test works below a unique ``/launcher-test-<pid>-<hex>`` cgroup, runs a
real ``sleep`` inside it, and checks that destroy() leaves nothing behind in
any hierarchy (plus the shared ``no_leaks`` check).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from launcher import host
from launcher.backend.linux.cgroups import cgroup_of_self, open_manager
from launcher.backend.linux.cgroups.hybrid import HybridManager
from launcher.backend.linux.cgroups.v1 import V1Manager
from launcher.errors import RuntimeFailure
from launcher.spec.model import Resources

ROOT = "/sys/fs/cgroup"
LAYOUT = host.cgroup_layout(ROOT)

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(LAYOUT not in ("v1", "hybrid"), reason=f"cgroup layout is {LAYOUT}"),
    pytest.mark.usefixtures("no_leaks"),
]


def read(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read().strip()


def hierarchy_dirs() -> list[str]:
    return [
        os.path.join(ROOT, n)
        for n in sorted(os.listdir(ROOT))
        if not os.path.islink(os.path.join(ROOT, n))
    ]


@pytest.fixture
def top() -> Iterator[str]:
    """A unique top-level cgroup name; asserts none is left in any hierarchy."""
    name = f"/launcher-test-{os.getpid()}-{secrets.token_hex(4)}"
    yield name
    left = [d + name for d in hierarchy_dirs() if os.path.exists(d + name)]
    for d in sorted(left, key=len, reverse=True):  # clean up for the next test, then fail
        for sub, _dirs, _files in sorted(os.walk(d), key=lambda w: -len(w[0])):
            os.rmdir(sub)
    assert not left, f"cgroup dirs left behind: {left}"


@pytest.fixture
def sleeper() -> Iterator[Callable[[], int]]:
    """Spawns ``sleep 30`` children; kills and reaps whatever is left at the end."""
    pids: list[int] = []

    def spawn() -> int:
        pid = os.posix_spawn("/bin/sleep", ["sleep", "30"], {})
        pids.append(pid)
        return pid

    yield spawn
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def resources(**kw: Any) -> Resources:
    return Resources.from_json(kw)


def proc_cgroups(pid: int) -> dict[str, str]:
    from launcher.backend.linux.cgroups.paths import parse_proc_cgroup

    return parse_proc_cgroup(read(f"/proc/{pid}/cgroup"))


def test_detected_layout_is_hybrid_or_v1(top: str) -> None:
    m = open_manager(top + "/c")
    assert isinstance(m, HybridManager if LAYOUT == "hybrid" else V1Manager)


def test_full_lifecycle(top: str, sleeper: Callable[[], int]) -> None:
    m = open_manager(top + "/c")
    m.create()
    assert m.exists()
    m.apply(resources(
        memory={"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20},
        cpu={"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        pids={"limit": 32},
        devices=[{"allow": False, "access": "rwm"},
                 {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                 {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rw"}],
    ))  # fmt: skip
    leaf = top + "/c"
    assert read(f"{ROOT}/memory{leaf}/memory.limit_in_bytes") == str(64 << 20)
    assert read(f"{ROOT}/memory{leaf}/memory.soft_limit_in_bytes") == str(32 << 20)
    if os.path.exists(f"{ROOT}/memory{leaf}/memory.memsw.limit_in_bytes"):
        assert read(f"{ROOT}/memory{leaf}/memory.memsw.limit_in_bytes") == str(128 << 20)
    assert read(f"{ROOT}/cpu{leaf}/cpu.shares") == "512"
    assert read(f"{ROOT}/cpu{leaf}/cpu.cfs_quota_us") == "50000"
    assert read(f"{ROOT}/cpuset{leaf}/cpuset.cpus") == "0"
    assert read(f"{ROOT}/cpuset{top}/cpuset.cpus") == read(f"{ROOT}/cpuset/cpuset.cpus")
    assert read(f"{ROOT}/pids{leaf}/pids.max") == "32"
    assert read(f"{ROOT}/devices{leaf}/devices.list").splitlines() == ["c 1:3 rwm", "c 1:5 rw"]

    pid = sleeper()
    m.add(pid)
    where = proc_cgroups(pid)
    assert where["memory"] == where["pids"] == where["name=systemd"] == leaf
    if LAYOUT == "hybrid":
        assert where[""] == leaf
    assert m.pids() == [pid]
    stats = m.stats()
    assert stats["pids_current"] == 1
    assert stats["pids_limit"] == 32
    assert stats["memory_limit"] == 64 << 20
    assert isinstance(stats["cpu_usage_ns"], int)
    assert isinstance(stats["memory_usage"], int)
    assert stats["oom_kills"] == 0

    m.freeze()
    assert m.is_frozen()
    m.thaw()
    assert not m.is_frozen()

    m.destroy()  # the sleep is still running: destroy kills it
    assert os.waitpid(pid, 0)[1] & 0x7F == 9
    assert not m.exists()
    m.destroy()  # idempotent


def test_destroy_kills_a_frozen_cgroup(top: str, sleeper: Callable[[], int]) -> None:
    m = open_manager(top + "/c")
    m.create()
    pid = sleeper()
    m.add(pid)
    m.freeze()
    m.destroy()
    assert os.waitpid(pid, 0)[1] & 0x7F == 9
    assert not m.exists()


def test_memory_updates_keep_memsw_above_limit(top: str) -> None:
    m = open_manager(top + "/c")
    m.create()
    try:
        path = f"{ROOT}/memory{top}/c"
        has_memsw = os.path.exists(path + "/memory.memsw.limit_in_bytes")
        for limit, swap in ((64 << 20, 128 << 20), (256 << 20, 512 << 20),
                            (32 << 20, 48 << 20), (-1, None)):  # fmt: skip
            m.apply(resources(memory={"limit": limit} | ({"swap": swap} if swap else {})))
            got = int(read(path + "/memory.limit_in_bytes"))
            assert got == limit or (limit == -1 and got > 1 << 62)
            if has_memsw and swap:
                assert int(read(path + "/memory.memsw.limit_in_bytes")) == swap
    finally:
        m.destroy()


def test_kernel_refusal_names_the_file(top: str) -> None:
    m = open_manager(top + "/c")
    m.create()
    try:
        with pytest.raises(RuntimeFailure, match=r"cpu\.cfs_quota_us.*Invalid argument"):
            m.apply(resources(cpu={"quota": 10}))  # below the kernel's 1 ms minimum
    finally:
        m.destroy()


def test_v1_manager_alone_leaves_unified_untouched(top: str, sleeper: Callable[[], int]) -> None:
    m = open_manager(top + "/c", layout="v1")
    m.create()
    pid = sleeper()
    m.add(pid)
    assert not os.path.exists(f"{ROOT}/unified{top}")
    assert proc_cgroups(pid)["memory"] == top + "/c"
    m.destroy()
    assert os.waitpid(pid, 0)[1] & 0x7F == 9


def test_relative_path_below_own_cgroups(sleeper: Callable[[], int]) -> None:
    name = f"launcher-test-{os.getpid()}-{secrets.token_hex(4)}"
    own = cgroup_of_self()
    m = open_manager(name)
    m.create()
    try:
        pid = sleeper()
        m.add(pid)
        where = proc_cgroups(pid)
        for ctrl in ("memory", "pids", "cpu"):
            assert where[ctrl] == own[ctrl].rstrip("/") + "/" + name
    finally:
        m.destroy()
    for ctrl in ("memory", "pids", "cpu"):
        assert not os.path.exists(f"{ROOT}/{ctrl}{own[ctrl].rstrip('/')}/{name}")


def test_open_does_not_create(top: str) -> None:
    m = open_manager(top + "/c")
    assert not m.exists()
    m.destroy()
    with pytest.raises(OSError) as info:
        os.stat(f"{ROOT}/memory{top}")
    assert info.value.errno == errno.ENOENT


@pytest.mark.skipif(LAYOUT != "hybrid", reason="needs the hybrid layout's cgroup2 mount")
def test_v2_manager_on_the_real_cgroup2_mount(top: str, sleeper: Callable[[], int]) -> None:
    """The hybrid host's unified/ is a real cgroup2 without controllers: enough
    to run the v2 manager's create, add, freeze, unified writes and kill."""
    m = open_manager(top + "/c", layout="v2", root=ROOT + "/unified")
    m.create()
    m.apply(resources(unified={"cgroup.max.depth": "1"}))
    assert read(f"{ROOT}/unified{top}/c/cgroup.max.depth") == "1"
    pid = sleeper()
    m.add(pid)
    assert proc_cgroups(pid)[""] == top + "/c"
    assert m.pids() == [pid]
    m.freeze()
    assert m.is_frozen()
    assert "frozen 1" in read(f"{ROOT}/unified{top}/c/cgroup.events")
    m.thaw()
    assert not m.is_frozen()
    m.freeze()  # destroy must kill a frozen cgroup too
    m.destroy()
    assert os.waitpid(pid, 0)[1] & 0x7F == 9
    assert not m.exists()
