from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.backend.linux import top
from tests.unit.backend.linux.test_stats import BTIME, HZ, proc, write_tree

__all__ = ["proc"]  # the fixture, shared with test_stats


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def add_proc(
    proc: Path,
    pid: int,
    comm: str,
    cmdline: bytes,
    *,
    state: str = "S",
    ppid: int = 1,
    tty: int = 0,
    cpu_s: int = 0,
    started_s: int = 60,
    euid: int = 0,
) -> None:
    after = [state, ppid, pid, pid, tty, -1, 0, 0, 0, 0, 0, cpu_s * HZ, 0, 0, 0, 20, 0, 1, 0]
    stat = f"{pid} ({comm}) " + " ".join(map(str, after)) + f" {started_s * HZ} 0 0\n"
    files = {
        f"{pid}/stat": stat,
        f"{pid}/status": f"Name:\t{comm}\nUid:\t1000\t{euid}\t{euid}\t{euid}\n",
    }
    write_tree(proc, files)
    (proc / str(pid) / "cmdline").write_bytes(cmdline)


def users(uid: int) -> str:
    return {0: "root", 33: "www-data"}.get(uid, str(uid))


def test_top_rows_like_ps_ef(proc: Path, utc: None) -> None:
    add_proc(proc, 1, "nginx", b"nginx\0-g\0daemon off;\0", ppid=0, cpu_s=354, euid=33)
    add_proc(proc, 7, "sh", b"/bin/sh\0", tty=(136 << 8) | 3, cpu_s=90061)
    add_proc(proc, 8, "kworker", b"", state="I", ppid=2)
    add_proc(proc, 9, "a) (b", b"", state="Z", cpu_s=0)
    now = BTIME + 3600  # the same day, 59 minutes after they started
    rows = top.top([1, 7, 8, 9, 4242], str(proc), now=now, user_name=users)
    assert rows == [
        ["www-data", "1", "0", "10", "22:14", "?", "00:05:54", "nginx -g daemon off;"],
        ["root", "7", "1", "99", "22:14", "pts/3", "1-01:01:01", "/bin/sh"],
        ["root", "8", "2", "0", "22:14", "?", "00:00:00", "[kworker]"],
        ["root", "9", "1", "0", "22:14", "?", "00:00:00", "[a) (b] <defunct>"],
    ]
    assert len(top.TOP_TITLES) == len(rows[0])


@pytest.mark.parametrize(
    ("now", "stime"), [(BTIME + 2 * 86400, "Nov14"), (BTIME + 60 * 86400, "2023")]
)
def test_top_stime_older_processes(proc: Path, utc: None, now: int, stime: str) -> None:
    add_proc(proc, 5, "x", b"x\0")
    assert top.top([5], str(proc), now=now, user_name=users)[0][4] == stime


@pytest.mark.parametrize(
    ("tty", "name"),
    [(0, "?"), ((4 << 8) | 1, "tty1"), ((4 << 8) | 65, "ttyS1"), ((137 << 8) | 2, "pts/258")],
)
def test_top_tty_names(proc: Path, tty: int, name: str) -> None:
    add_proc(proc, 5, "x", b"x\0", tty=tty)
    assert top.top([5], str(proc), user_name=users)[0][5] == name


def test_top_hides_control_characters(proc: Path) -> None:
    add_proc(proc, 5, "x", b"evil\x1b]0;pwned\x07\0arg\nline\0\xc2\x9b2J\0")
    assert top.top([5], str(proc), user_name=users)[0][7] == "evil?]0;pwned? arg?line ?2J"


def test_top_host_user_names(proc: Path) -> None:
    add_proc(proc, 5, "x", b"x\0", euid=0)
    add_proc(proc, 6, "x", b"x\0", euid=3_999_999_999)  # no such user
    rows = top.top([5, 6], str(proc))
    assert [r[0] for r in rows] == ["root", "3999999999"]


def test_namespace_pids_are_those_sharing_the_pid_namespace() -> None:
    mine = top.namespace_pids(os.getpid())
    assert (os.getpid() in mine and 1 not in mine) or os.stat("/proc/1/ns/pid").st_ino == \
        os.stat(f"/proc/{os.getpid()}/ns/pid").st_ino
    assert top.namespace_pids(2**22 + 12345) == []  # no such process
