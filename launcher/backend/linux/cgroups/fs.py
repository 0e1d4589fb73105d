"""The cgroupfs seam: the six file operations the cgroup managers need.

Managers never touch ``os`` for cgroup files; they call a ``CgroupFS`` rooted
at the cgroup mount root (``/sys/fs/cgroup``) with paths relative to it
(``memory/launcher/abc/memory.limit_in_bytes``).  Unit tests inject a fake
with the same methods that behaves like the kernel (auto-populated control
files, EBUSY on a populated rmdir), so the v1/v2 logic runs without root.

Every method raises ``OSError`` as the kernel reports it; the managers turn
that into :class:`launcher.errors.RuntimeFailure` naming the file.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    class CgroupFSLike(Protocol):
        """What a manager needs from a cgroup filesystem (real or fake)."""

        root: str

        def read(self, rel: str) -> str: ...
        def write(self, rel: str, data: str) -> None: ...
        def mkdir(self, rel: str) -> None: ...
        def rmdir(self, rel: str) -> None: ...
        def exists(self, rel: str) -> bool: ...
        def subdirs(self, rel: str) -> list[str]: ...


class CgroupFS:
    """The real cgroup filesystem under ``root``."""

    __slots__ = ("root",)

    def __init__(self, root: str = "/sys/fs/cgroup") -> None:
        self.root = root

    def _abs(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel else self.root

    def read(self, rel: str) -> str:
        with open(self._abs(rel), encoding="ascii", errors="replace") as f:
            return f.read()

    def write(self, rel: str, data: str) -> None:
        # One write(2) per value: cgroupfs parses each write as one command.
        # No O_CREAT: a missing file means the controller is absent (ENOENT).
        fd = os.open(self._abs(rel), os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)

    def mkdir(self, rel: str) -> None:
        os.mkdir(self._abs(rel), 0o755)

    def rmdir(self, rel: str) -> None:
        os.rmdir(self._abs(rel))

    def exists(self, rel: str) -> bool:
        return os.path.exists(self._abs(rel))

    def subdirs(self, rel: str) -> list[str]:
        """Names of the real (non-symlink) directories in ``rel``, sorted."""
        with os.scandir(self._abs(rel)) as it:
            return sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
