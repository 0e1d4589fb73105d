"""A scratch "jail" for layer fuzzing: sentinel files beside layer and rootfs dirs.

Used by the applier fuzz tests (test_applier_fuzz.py, test_applier_model_fuzz.py):
anything a layer writes outside ``layers/`` and ``rootfs/`` shows up in
:meth:`Jail.snapshot`; :func:`time_bound` turns a hang into a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import tempfile
from collections.abc import Iterator
from types import FrameType
from typing import Any

from launcher.image import resolve
from launcher.image.decompress import Limits

ROOT = os.geteuid() == 0
LIMITS = Limits(max_seconds=20.0)
HANG_SECONDS = 30


class Hang(BaseException):
    """Raised by the alarm: a BaseException, so no ``except Exception`` swallows it."""


@contextlib.contextmanager
def time_bound(seconds: int) -> Iterator[None]:
    """Fail (raise Hang) instead of hanging: a blocking syscall gets EINTR."""

    def alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"no result after {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def resolver(openat2: bool) -> Iterator[None]:
    """Resolve with openat2 or with the O_NOFOLLOW walk (both must hold)."""
    resolve.use_openat2(openat2)
    try:
        yield
    finally:
        resolve.use_openat2(True)


# -- the jail ------------------------------------------------------------------------------

Record = tuple[Any, ...]


class Jail:
    """tmp/{sentinel/..., etc/passwd, passwd, layers/L0..L2, rootfs}."""

    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="fuzz-jail-")
        self.layers = os.path.join(self.path, "layers")
        self.rootfs = os.path.join(self.path, "rootfs")
        for d in ("sentinel", "sentinel/sub", "etc", "layers", "rootfs"):
            os.mkdir(os.path.join(self.path, d))
        for name, text in (("sentinel/passwd", "SENTINEL"), ("sentinel/sub/file", "S2"),
                           ("etc/passwd", "OUTSIDE"), ("passwd", "TOP")):  # fmt: skip
            with open(os.path.join(self.path, name), "w") as f:
                f.write(text)
        os.symlink("passwd", os.path.join(self.path, "sentinel", "link"))
        os.mkfifo(os.path.join(self.path, "sentinel", "fifo"))
        for i in range(3):
            os.mkdir(self.layer(i))

    def layer(self, i: int) -> str:
        return os.path.join(self.layers, f"L{i}")

    def close(self) -> None:
        if not ROOT:  # a layer may hold 0000 directories
            for dirpath, dirs, _files in os.walk(self.path):
                for d in dirs:
                    p = os.path.join(dirpath, d)
                    if not os.path.islink(p):
                        os.chmod(p, 0o700)
        shutil.rmtree(self.path)

    def snapshot(self) -> dict[str, Record]:
        """Everything outside the layer and rootfs directories, to the ctime."""
        out = {".": _record(self.path)}
        for dirpath, dirs, files in os.walk(self.path, followlinks=False):
            for name in sorted(dirs + files):
                p = os.path.join(dirpath, name)
                inside = dirpath == self.layers or p == self.rootfs
                out[os.path.relpath(p, self.path)] = ("inside",) if inside else _record(p)
            if dirpath == self.layers:
                dirs[:] = []
            elif dirpath == self.path:
                dirs.remove("rootfs")
        return out

    def inodes(self) -> set[tuple[int, int]]:
        """(dev, ino) of every non-directory outside layers/ and rootfs/."""
        found = set()
        for dirpath, dirs, files in os.walk(self.path):
            if dirpath == self.path:
                dirs.remove("layers")
                dirs.remove("rootfs")
            for name in files:  # os.walk lists symlinks to dirs in dirs
                st_ = os.lstat(os.path.join(dirpath, name))
                found.add((st_.st_dev, st_.st_ino))
        return found


def _record(p: str) -> Record:
    st_ = os.lstat(p)
    if stat.S_ISREG(st_.st_mode):
        with open(p, "rb") as f:
            extra: object = f.read()
    elif stat.S_ISLNK(st_.st_mode):
        extra = os.readlink(p)
    else:
        extra = None
    xattrs = sorted(os.listxattr(p, follow_symlinks=False))
    return (st_.st_mode, st_.st_ino, st_.st_dev, st_.st_nlink, st_.st_uid, st_.st_gid,
            st_.st_size, st_.st_mtime_ns, st_.st_ctime_ns, extra, xattrs)  # fmt: skip


def walk_all(top: str) -> Iterator[tuple[str, os.stat_result]]:
    """(path, lstat) of every entry under ``top``, symlinks never followed."""
    for dirpath, dirs, files in os.walk(top, followlinks=False):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            yield p, os.lstat(p)
