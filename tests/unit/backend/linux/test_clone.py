import os

from launcher.backend.linux import clone


def _child_exit(pid: int) -> int:
    if pid == 0:
        os._exit(7)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_no_cgroup_is_a_plain_fork() -> None:
    pid, born = clone.fork_into_cgroup(None)
    assert _child_exit(pid) == 7
    assert born is False


def test_missing_cgroup_dir_falls_back_to_fork(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pid, born = clone.fork_into_cgroup(str(tmp_path / "gone"))
    assert _child_exit(pid) == 7
    assert born is False
