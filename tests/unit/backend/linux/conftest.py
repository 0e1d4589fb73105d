"""A recording stand-in for the kernel seam (launcher.backend.linux.syscalls)."""

from __future__ import annotations

import os
from typing import Any


def _fd_name(fd: int) -> str:
    try:
        return "fd:" + os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return f"fd:{fd}"


class RecordingSyscalls:
    """Records every call as (name, args); ``fail`` maps a call name to an errno."""

    def __init__(self, fail: dict[str, int] | None = None) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.fail = fail or {}

    def _rec(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if name in self.fail:
            err = self.fail[name]
            raise OSError(err, os.strerror(err))

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def unshare(self, flags: int) -> None:
        self._rec("unshare", flags)

    def setns(self, fd: int, nstype: int) -> None:
        self._rec("setns", fd, nstype)

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None) -> None:
        if target.startswith("/proc/self/fd/"):
            try:
                target = "fd:" + os.readlink(target)
            except OSError:
                pass
        self._rec("mount", source, target, fstype, flags, data)

    def open_tree(self, dirfd: int, path: str, flags: int) -> int:
        """Records the path (or ``fd:`` and the fd's path); a real O_PATH fd of it."""
        self._rec("open_tree", path or _fd_name(dirfd), flags)
        if path:
            return os.open(path, os.O_PATH | os.O_CLOEXEC, dir_fd=None if dirfd < 0 else dirfd)
        return os.dup(dirfd)

    def mount_setattr(self, fd: int, path: str, flags: int, attr_set: int, attr_clr: int,
                      propagation: int) -> None:
        self._rec("mount_setattr", _fd_name(fd), path, flags, attr_set, attr_clr, propagation)

    def move_mount(self, from_fd: int, from_path: str, to_fd: int, to_path: str,
                   flags: int) -> None:
        self._rec("move_mount", _fd_name(from_fd), from_path, _fd_name(to_fd), to_path, flags)

    def umount2(self, target: str, flags: int) -> None:
        self._rec("umount2", target, flags)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._rec("pivot_root", new_root, put_old)

    def sethostname(self, name: str) -> None:
        self._rec("sethostname", name)

    def setdomainname(self, name: str) -> None:
        self._rec("setdomainname", name)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0) -> int:
        self._rec("prctl", option, arg2, arg3)
        return 0

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        self._rec("capset", effective, permitted, inheritable)

    def capget(self) -> tuple[int, int, int]:
        self._rec("capget")
        return (0, 0, 0)

    def setgroups(self, gids: list[int]) -> None:
        self._rec("setgroups", list(gids))

    def setresgid(self, gid: int) -> None:
        self._rec("setresgid", gid)

    def setresuid(self, uid: int) -> None:
        self._rec("setresuid", uid)

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        self._rec("setrlimit", resource, soft, hard)

    def write_file(self, path: str, data: str) -> None:
        self._rec("write_file", path, data)

    def seccomp_load(self, program: bytes, flags: int) -> None:
        self._rec("seccomp_load", len(program), flags)

    def loopback_up(self) -> None:
        self._rec("loopback_up")


import pytest  # noqa: E402


@pytest.fixture
def rec() -> RecordingSyscalls:
    return RecordingSyscalls()


@pytest.fixture
def failing_sys() -> type[RecordingSyscalls]:
    """The recorder class, to build one that fails chosen calls."""
    return RecordingSyscalls
