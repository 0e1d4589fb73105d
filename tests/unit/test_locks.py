"""DirLock and FileLock: exclusive, private, close-on-exec, released on exit."""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

import pytest

from launcher.locks import DirLock, FileLock, make_private_dirs


def _can_lock(path: Path) -> bool:
    """Whether another open file description can take the lock now."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_make_private_dirs_makes_every_level_0700(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c"
    make_private_dirs(str(target))
    make_private_dirs(str(target))  # already there: fine
    assert [_mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", target)] == [0o700] * 3


def test_dir_lock_is_exclusive_until_exit(tmp_path: Path) -> None:
    target = tmp_path / "state" / "net"
    with DirLock(str(target)) as lock:
        assert lock.path == str(target) and _mode(target) == 0o700
        assert not _can_lock(target)
    assert _can_lock(target)


def test_file_lock_makes_a_private_file_and_releases_it(tmp_path: Path) -> None:
    target = tmp_path / "run" / "x.lock"
    with FileLock(str(target)):
        assert _mode(target) == 0o600 and _mode(target.parent) == 0o700
        assert not _can_lock(target)
    assert _can_lock(target)


def test_file_lock_refuses_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").write_text("")
    (tmp_path / "x.lock").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError), FileLock(str(tmp_path / "x.lock")):
        pass


def _fds_on(path: Path) -> list[int]:
    """This process's open fds on ``path``."""
    fds = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == str(path):
                fds.append(int(name))
        except FileNotFoundError:  # listdir's own fd, closed by now
            pass
    return fds


@pytest.mark.parametrize("kind", [DirLock, FileLock])
def test_the_fd_is_cloexec_and_closed_on_exit(
    tmp_path: Path, kind: type[DirLock] | type[FileLock]
) -> None:
    target = tmp_path / "lock"
    with kind(str(target)):
        (fd,) = _fds_on(target)
        assert not os.get_inheritable(fd)
    assert _fds_on(target) == []


def test_a_failed_flock_leaves_no_fd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(fd: int, op: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fcntl, "flock", interrupted)
    with pytest.raises(KeyboardInterrupt), DirLock(str(tmp_path / "d")):
        pass
    assert _fds_on(tmp_path / "d") == []
