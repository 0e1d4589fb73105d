"""Exclusive flock(2) locks for a ``with`` block, on a directory or a lock file.

The lock belongs to the open file description: it is released when the fd is
closed, on ``__exit__`` or when the process dies, so a killed holder never
leaves a lock behind. The fds are O_CLOEXEC, so no child inherits one.
``fcntl`` is imported when a lock is taken, so importing this module costs
nothing on paths that never lock, and works where there is no ``fcntl``. On
Windows (the VM backend's host side: port forwards, machines) a lock file is
held with ``msvcrt.locking`` on its first byte, which Windows also releases
when the handle closes or the process dies.
"""

from __future__ import annotations

import os
import sys

from launcher import osflags

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Self


def make_private_dirs(path: str) -> None:
    """``mkdir -p`` where every directory made is 0700 (``os.makedirs`` gives
    its mode to the last one only)."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent and parent != path:
        make_private_dirs(parent)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass


class _Flock:
    """Opens ``path`` (``_open``) and holds an exclusive flock on it while in ``with``."""

    __slots__ = ("_fd", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = -1

    def _open(self) -> int:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._fd = self._open()
        try:
            _lock(self._fd)
        except BaseException:
            os.close(self._fd)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)
        self._fd = -1


class DirLock(_Flock):
    """An exclusive flock on a directory (made 0700 if missing), for a ``with``."""

    __slots__ = ()

    def _open(self) -> int:
        make_private_dirs(self.path)
        return os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


class FileLock(_Flock):
    """An exclusive flock on a lock file (made 0600 if missing), for a ``with``."""

    __slots__ = ()

    def _open(self) -> int:
        make_private_dirs(os.path.dirname(self.path))
        return os.open(self.path, os.O_RDWR | os.O_CREAT | osflags.NOFOLLOW | osflags.BINARY
                       | osflags.CLOEXEC, 0o600)


def _lock(fd: int) -> None:
    """Block until this process holds the exclusive lock of ``fd``."""
    if sys.platform == "win32":
        import msvcrt  # type: ignore[import-not-found,unused-ignore]

        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined,unused-ignore]
                return
            except OSError:  # LK_LOCK gives up after ~10 s: keep waiting, as flock does
                continue
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX)

