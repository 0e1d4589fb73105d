"""Stats and top against fake cgroupfs and /proc trees in tmp_path."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from launcher import host
from launcher.backend.linux import stats
from launcher.backend.linux.cgroups.paths import cgroup_of_self
from launcher.backend.linux.stats import Sample
from launcher.errors import ConfigError, NotFoundError, UnsupportedError

HZ = os.sysconf("SC_CLK_TCK")
MiB = 1 << 20
UNLIMITED_V1 = "9223372036854771712"
BTIME = 1_700_000_000  # 2023-11-14 22:13:20 UTC
PROC_STAT = (
    "cpu  100 2 50 800 10 5 5 7 0 0\n"
    "cpu0 50 1 25 400 5 2 3 3 0 0\n"
    "cpu1 50 1 25 400 5 3 2 4 0 0\n"
    "intr 12 0\nctxt 99\n"
    f"btime {BTIME}\n"
)
MEMINFO = "MemTotal:        2097152 kB\nMemFree:          1000 kB\n"  # 2 GiB
HOST_NS = (100 + 2 + 50 + 800 + 10 + 5 + 5) * 1_000_000_000 // HZ  # steal left out


def write_tree(base: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "proc", {"stat": PROC_STAT, "meminfo": MEMINFO})


V2_FILES = {
    "cgroup.procs": "",
    "launcher/abc/cgroup.procs": "10\n11\n",
    "launcher/abc/sub/cgroup.procs": "12\n",
    "launcher/abc/cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
    "launcher/abc/memory.current": "10485760\n",
    "launcher/abc/memory.max": "max\n",
    "launcher/abc/memory.stat": "anon 4096\nfile 4194304\ninactive_file 1048576\n",
    "launcher/abc/memory.events": "low 0\nhigh 0\nmax 4\noom 3\noom_kill 3\n",
    "launcher/abc/pids.current": "3\n",
    "launcher/abc/pids.max": "max\n",
    "launcher/abc/io.stat": (
        "8:0 rbytes=1000 wbytes=2000 rios=1 wios=2 dbytes=0 dios=0\n"
        "8:16 rbytes=500 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n"
    ),
}

V1_FILES = {
    "cpu,cpuacct/cgroup.procs": "",
    "cpu,cpuacct/launcher/abc/cpuacct.usage": "123456789\n",
    "memory/cgroup.procs": "",
    "memory/launcher/abc/cgroup.procs": "20\n",
    "memory/launcher/abc/memory.usage_in_bytes": "8388608\n",
    "memory/launcher/abc/memory.limit_in_bytes": UNLIMITED_V1 + "\n",
    "memory/launcher/abc/memory.stat": (
        "cache 100\ninactive_file 200\ntotal_cache 2097152\ntotal_inactive_file 1048576\n"
    ),
    "memory/launcher/abc/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    "pids/cgroup.procs": "",
    "pids/launcher/abc/cgroup.procs": "20\n21\n",
    "pids/launcher/abc/inner/cgroup.procs": "22\n",
    "pids/launcher/abc/pids.current": "3\n",
    "pids/launcher/abc/pids.max": "100\n",
    "blkio/cgroup.procs": "",
    "blkio/launcher/abc/blkio.throttle.io_service_bytes": (
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Total 12288\n"
        "8:16 Read 1000\n8:16 Write 0\nTotal 13288\n"
    ),
}


@pytest.fixture
def v2root(tmp_path: Path) -> str:
    return str(write_tree(tmp_path / "cg", V2_FILES))


@pytest.fixture
def v1root(tmp_path: Path) -> str:
    root = write_tree(tmp_path / "cg", V1_FILES)
    # Co-mounted hierarchies show up as symlinks too; they must be skipped.
    (root / "cpu").symlink_to("cpu,cpuacct")
    (root / "cpuacct").symlink_to("cpu,cpuacct")
    return str(root)


@pytest.fixture
def hybridroot(v1root: str) -> str:
    unified = {
        "unified/cgroup.procs": "",
        "unified/launcher/abc/cgroup.procs": "20\n",
        "unified/launcher/abc/child/cgroup.procs": "21\n22\n",
    }
    write_tree(Path(v1root), unified)
    return v1root


# -- read_stats ------------------------------------------------------------------


def test_v2_reads_every_field(v2root: str, proc: Path) -> None:
    before = time.time()
    s = stats.read_stats("/launcher/abc", "v2", v2root, str(proc))
    assert s.cpu_usage_ns == 1_500_000
    assert (s.memory_usage, s.memory_limit) == (10 * MiB, None)
    assert (s.memory_cache, s.memory_inactive_file) == (4 * MiB, MiB)
    assert (s.pids_current, s.pids_limit, s.oom_kills) == (3, None, 3)
    assert (s.block_read, s.block_write) == (1500, 2000)
    assert (s.system_ns, s.online_cpus, s.host_memory) == (HOST_NS, 2, 2 << 30)
    assert s.read_at >= before


def test_v2_limits_that_are_set(v2root: str, proc: Path) -> None:
    (Path(v2root) / "launcher/abc/memory.max").write_text("536870912\n")
    (Path(v2root) / "launcher/abc/pids.max").write_text("64\n")
    s = stats.read_stats("/launcher/abc", "v2", v2root, str(proc))
    assert (s.memory_limit, s.pids_limit) == (512 * MiB, 64)


def test_v2_controllers_not_enabled_leave_none(tmp_path: Path, proc: Path) -> None:
    root = write_tree(tmp_path / "cg", {"x/cgroup.procs": "", "x/cpu.stat": "usage_usec 2\n"})
    s = stats.read_stats("/x", "v2", str(root), str(proc))
    assert s.cpu_usage_ns == 2000
    for name in ("memory_usage", "memory_limit", "memory_cache", "pids_current", "oom_kills"):
        assert getattr(s, name) is None, name
    assert (s.block_read, s.block_write) == (None, None)


def test_v1_reads_every_hierarchy(v1root: str, proc: Path) -> None:
    s = stats.read_stats("/launcher/abc", "v1", v1root, str(proc))
    assert s.cpu_usage_ns == 123456789
    assert (s.memory_usage, s.memory_limit) == (8 * MiB, None)  # huge "unlimited" → None
    # total_* (this cgroup and those below) win over the local values.
    assert (s.memory_cache, s.memory_inactive_file) == (2 * MiB, MiB)
    assert (s.pids_current, s.pids_limit, s.oom_kills) == (3, 100, 2)
    assert (s.block_read, s.block_write) == (5096, 8192)


def test_v1_falls_back_to_local_memory_stat(v1root: str, proc: Path) -> None:
    mem = Path(v1root) / "memory/launcher/abc"
    (mem / "memory.stat").write_text("cache 100\ninactive_file 200\n")
    (mem / "memory.limit_in_bytes").write_text("1073741824\n")
    s = stats.read_stats("/launcher/abc", "v1", v1root, str(proc))
    assert (s.memory_cache, s.memory_inactive_file, s.memory_limit) == (100, 200, 1 << 30)


def test_v1_prefers_recursive_blkio(v1root: str, proc: Path) -> None:
    blk = Path(v1root) / "blkio/launcher/abc/blkio.throttle.io_service_bytes_recursive"
    blk.write_text("8:0 Read 7\n8:0 Write 9\nTotal 16\n")
    s = stats.read_stats("/launcher/abc", "v1", v1root, str(proc))
    assert (s.block_read, s.block_write) == (7, 9)


def test_v1_missing_hierarchy_or_dir_leaves_none(v1root: str, proc: Path) -> None:
    for rel in ("pids/launcher/abc/inner/cgroup.procs", "pids/launcher/abc/cgroup.procs"):
        (Path(v1root) / rel).unlink()
    for name in ("pids.current", "pids.max"):
        (Path(v1root) / "pids/launcher/abc" / name).unlink()
    for d in ("pids/launcher/abc/inner", "pids/launcher/abc"):
        (Path(v1root) / d).rmdir()
    (Path(v1root) / "blkio/cgroup.procs").unlink()  # no longer a hierarchy
    s = stats.read_stats("/launcher/abc", "v1", v1root, str(proc))
    assert (s.pids_current, s.pids_limit, s.block_read) == (None, None, None)
    assert s.memory_usage == 8 * MiB


def test_hybrid_reads_the_v1_controllers(hybridroot: str, proc: Path) -> None:
    s = stats.read_stats("/launcher/abc", "hybrid", hybridroot, str(proc))
    assert (s.cpu_usage_ns, s.memory_usage, s.pids_current) == (123456789, 8 * MiB, 3)


@pytest.mark.parametrize("layout", ["v1", "v2", "hybrid"])
def test_missing_cgroup_is_not_found(layout: str, hybridroot: str, proc: Path) -> None:
    write_tree(Path(hybridroot), {"cgroup.procs": ""})  # v2 root files too
    with pytest.raises(NotFoundError, match="/launcher/gone"):
        stats.read_stats("/launcher/gone", layout, hybridroot, str(proc))
    with pytest.raises(NotFoundError, match="launcher/gone"):
        stats.cgroup_pids("/launcher/gone", layout, hybridroot)


def test_bad_paths_and_layouts(v2root: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        stats.read_stats("/launcher/../etc", "v2", v2root)
    with pytest.raises(UnsupportedError):
        stats.read_stats("/launcher/abc", "none", v2root)
    with pytest.raises(UnsupportedError):
        stats.cgroup_pids("/launcher/abc", "none", v2root)
    with pytest.raises(UnsupportedError, match="hierarchies"):
        stats.read_stats("/launcher/abc", "v1", str(tmp_path / "nothing"))


def test_v1_without_any_stats_controller(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "cg", {"freezer/cgroup.procs": "", "freezer/x/cgroup.procs": ""})
    with pytest.raises(UnsupportedError, match="cpuacct, memory, pids, blkio"):
        stats.read_stats("/x", "v1", str(root))


def test_relative_paths_resolve_below_own_cgroup(
    monkeypatch: pytest.MonkeyPatch, hybridroot: str, v2root: str, proc: Path
) -> None:
    own = {"": "/launcher/me", "memory": "/launcher", "pids": "/", "cpuacct": "/elsewhere"}
    monkeypatch.setattr(stats, "cgroup_of_self", lambda: own)
    # v2: below the parent of our own cgroup, as the v2 manager creates it.
    assert stats.cgroup_pids("abc", "v2", v2root) == [10, 11, 12]
    # v1: below our cgroup in each hierarchy; hybrid's unified/: below our own.
    s = stats.read_stats("abc", "v1", hybridroot, str(proc))
    assert (s.memory_usage, s.cpu_usage_ns) == (8 * MiB, None)
    write_tree(Path(hybridroot), {"unified/launcher/me/abc/cgroup.procs": "31\n"})
    assert stats.cgroup_pids("abc", "hybrid", hybridroot) == [31]


def test_host_files_missing_leave_none(v2root: str, tmp_path: Path) -> None:
    s = stats.read_stats("/launcher/abc", "v2", v2root, str(tmp_path / "noproc"))
    assert (s.system_ns, s.online_cpus, s.host_memory) == (None, None, None)
    assert s.memory_usage == 10 * MiB


# -- cgroup_pids -------------------------------------------------------------------


def test_pids_v2_include_child_cgroups(v2root: str) -> None:
    assert stats.cgroup_pids("/launcher/abc", "v2", v2root) == [10, 11, 12]


def test_pids_v1_from_pids_then_memory(v1root: str) -> None:
    assert stats.cgroup_pids("/launcher/abc", "v1", v1root) == [20, 21, 22]
    (Path(v1root) / "pids/cgroup.procs").unlink()  # pids not mounted: memory's view
    assert stats.cgroup_pids("/launcher/abc", "v1", v1root) == [20]
    (Path(v1root) / "memory/cgroup.procs").unlink()
    with pytest.raises(UnsupportedError, match="pids nor memory"):
        stats.cgroup_pids("/launcher/abc", "v1", v1root)


def test_pids_hybrid_from_unified(hybridroot: str) -> None:
    (Path(hybridroot) / "pids/launcher/abc/cgroup.procs").write_text("99\n")
    assert stats.cgroup_pids("/launcher/abc", "hybrid", hybridroot) == [20, 21, 22]


# -- Docker's arithmetic ------------------------------------------------------------


def sample(**fields: int | None) -> Sample:
    s = Sample(1.0)
    for name, value in fields.items():
        setattr(s, name, value)
    return s


def test_cpu_percent_is_dockers_formula() -> None:
    prev = sample(cpu_usage_ns=1_000, system_ns=10_000, online_cpus=4)
    cur = sample(cpu_usage_ns=3_000, system_ns=20_000, online_cpus=4)
    assert stats.cpu_percent(prev, cur) == pytest.approx(2_000 / 10_000 * 4 * 100)


@pytest.mark.parametrize(
    ("prev", "cur"),
    [
        ({"cpu_usage_ns": 5, "system_ns": 10}, {"cpu_usage_ns": 5, "system_ns": 20}),
        ({"cpu_usage_ns": 5, "system_ns": 10}, {"cpu_usage_ns": 9, "system_ns": 10}),
        ({"cpu_usage_ns": None, "system_ns": 10}, {"cpu_usage_ns": 9, "system_ns": 20}),
        ({"cpu_usage_ns": 5, "system_ns": 10}, {"cpu_usage_ns": 9, "system_ns": None}),
    ],
)
def test_cpu_percent_zero_when_no_progress_or_unknown(
    prev: dict[str, int | None], cur: dict[str, int | None]
) -> None:
    assert stats.cpu_percent(sample(**prev, online_cpus=2), sample(**cur, online_cpus=2)) == 0.0


def test_memory_used_subtracts_inactive_file() -> None:
    assert stats.memory_used(sample(memory_usage=100, memory_inactive_file=30)) == 70
    assert stats.memory_used(sample(memory_usage=100, memory_inactive_file=300)) == 100
    assert stats.memory_used(sample(memory_usage=100)) == 100
    assert stats.memory_used(sample()) is None


def test_memory_percent_against_limit_or_host() -> None:
    limited = sample(memory_usage=300, memory_inactive_file=100, memory_limit=400)
    assert stats.memory_percent(limited) == pytest.approx(50.0)
    unlimited = sample(memory_usage=250, host_memory=1000)
    assert stats.memory_percent(unlimited) == pytest.approx(25.0)
    above_host = sample(memory_usage=250, memory_limit=10_000, host_memory=1000)
    assert stats.memory_limit_shown(above_host) == 1000
    assert stats.memory_percent(sample(memory_usage=250)) == 0.0


@pytest.mark.parametrize(
    ("n", "binary", "decimal"),
    [
        (0, "0B", "0B"),
        (999, "999B", "999B"),
        (1023, "1023B", "1.02kB"),
        (1536, "1.5KiB", "1.54kB"),
        (12.5 * MiB, "12.5MiB", "13.1MB"),
        (1 << 30, "1GiB", "1.07GB"),
        (1_234_567, "1.177MiB", "1.23MB"),
    ],
)
def test_sizes_as_docker_prints_them(n: float, binary: str, decimal: str) -> None:
    assert stats.bytes_size(n) == binary
    assert stats.human_size(n) == decimal


def test_format_row_has_dockers_keys_and_values() -> None:
    prev = sample(cpu_usage_ns=0, system_ns=0, online_cpus=2)
    cur = sample(
        cpu_usage_ns=1_234,
        system_ns=200_000,
        online_cpus=2,
        memory_usage=int(12.5 * MiB) + MiB,
        memory_inactive_file=MiB,
        memory_limit=1 << 30,
        host_memory=4 << 30,
        pids_current=7,
        block_read=1_500_000,
        block_write=0,
    )
    row = stats.format_row("/web", cur, prev, "0123456789abcdef0123")
    assert row == {
        "BlockIO": "1.5MB / 0B",
        "CPUPerc": "1.23%",
        "Container": "0123456789ab",
        "ID": "0123456789ab",
        "MemPerc": "1.22%",
        "MemUsage": "12.5MiB / 1GiB",
        "Name": "web",
        "NetIO": "--",
        "PIDs": "7",
    }
    assert stats.format_row("web", cur, prev, "0123", container="web")["Container"] == "web"


def test_format_row_unknowns_are_dashes() -> None:
    row = stats.format_row("web", sample(), None)
    assert row["CPUPerc"] == "0.00%"
    assert (row["MemUsage"], row["MemPerc"], row["PIDs"], row["BlockIO"]) == ("--",) * 4
    assert (row["Container"], row["ID"]) == ("web", "")
    no_limit = stats.format_row("web", sample(memory_usage=MiB), None)
    assert (no_limit["MemUsage"], no_limit["MemPerc"]) == ("1MiB / --", "--")


# -- this host ------------------------------------------------------------------------


def test_smoke_read_stats_of_own_cgroup() -> None:
    layout = host.cgroup_layout()
    if layout == "none":
        pytest.skip("no cgroup hierarchy here")
    own = cgroup_of_self()
    path = own.get("" if layout == "v2" else "memory") or own.get("", "/")
    if path.strip("/") in ("", "..") or ".." in path.split("/"):
        pytest.skip(f"own cgroup {path!r} is the root or outside this namespace")
    try:
        s = stats.read_stats(path, layout)
    except NotFoundError:
        pytest.skip(f"own cgroup {path!r} is not visible under /sys/fs/cgroup")
    assert s.system_ns is not None and s.system_ns > 0
    assert s.online_cpus is not None and s.online_cpus >= 1
    assert any(v is not None for v in (s.memory_usage, s.cpu_usage_ns, s.pids_current))
    assert stats.format_row("self", s, s)["Name"] == "self"
