"""ExpectedTree: what an unpacked image must hold, checked against a real rootfs."""

from __future__ import annotations

import os
import stat


class ExpectedTree:
    """What an unpacked image must hold (paths relative to the rootfs).

    ``files``: regular file -> content; ``modes``: path -> permission bits incl.
    setuid (``stat.S_IMODE``); ``symlinks``: path -> target; ``dirs``: directories;
    ``hardlinks``: path -> path it must share an inode with; ``absent``: must not exist.
    """

    __slots__ = ("absent", "dirs", "files", "hardlinks", "modes", "symlinks")

    def __init__(
        self,
        files: dict[str, bytes],
        *,
        modes: dict[str, int] | None = None,
        symlinks: dict[str, str] | None = None,
        dirs: list[str] | None = None,
        hardlinks: dict[str, str] | None = None,
        absent: list[str] | None = None,
    ) -> None:
        self.files = files
        self.modes = modes or {}
        self.symlinks = symlinks or {}
        self.dirs = dirs or []
        self.hardlinks = hardlinks or {}
        self.absent = absent or []

    def check(self, rootfs: str) -> list[str]:
        """Every way ``rootfs`` differs from this description (empty when it matches)."""
        problems: list[str] = []

        def lstat(rel: str) -> os.stat_result | None:
            try:
                return os.lstat(os.path.join(rootfs, rel))
            except FileNotFoundError:
                return None

        for rel, content in self.files.items():
            st = lstat(rel)
            if st is None or not stat.S_ISREG(st.st_mode):
                problems.append(f"{rel}: not a regular file")
                continue
            with open(os.path.join(rootfs, rel), "rb") as f:
                if f.read() != content:
                    problems.append(f"{rel}: content differs")
        for rel, mode in self.modes.items():
            st = lstat(rel)
            if st is None or stat.S_IMODE(st.st_mode) != mode:
                problems.append(f"{rel}: mode is not {mode:o}")
        for rel, target in self.symlinks.items():
            st = lstat(rel)
            if st is None or not stat.S_ISLNK(st.st_mode):
                problems.append(f"{rel}: not a symlink")
            elif os.readlink(os.path.join(rootfs, rel)) != target:
                problems.append(f"{rel}: symlink target is not {target}")
        for rel in self.dirs:
            st = lstat(rel)
            if st is None or not stat.S_ISDIR(st.st_mode):
                problems.append(f"{rel}: not a directory")
        for rel, other in self.hardlinks.items():
            a, b = lstat(rel), lstat(other)
            if a is None or b is None or (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):
                problems.append(f"{rel}: not a hard link to {other}")
        problems += [f"{rel}: should not exist" for rel in self.absent if lstat(rel) is not None]
        return problems
