"""Blob writing and the small durable-file helpers of the store.

A :class:`BlobWriter` streams into ``tmp/``, hashing and counting as it goes;
``commit`` verifies digest and size, fsyncs and renames into ``blobs/``.
Nothing reaches ``blobs/`` unverified, so readers never re-hash.
"""

from __future__ import annotations

import os

from launcher.errors import ImageError
from launcher.image import digest as dg

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.paths import Paths


class BlobWriter:
    """Stream bytes into tmp/, verified before anything is committed."""

    __slots__ = ("_fd", "_hasher", "_paths", "_tmp", "expected", "expected_size")

    def __init__(self, paths: Paths, expected: str | None, expected_size: int | None) -> None:
        self._paths = paths
        self.expected = dg.validate(expected) if expected is not None else None
        self.expected_size = expected_size
        self._hasher = dg.Hasher()
        self._tmp, self._fd = tmp_file(paths.storage_tmp, "blob")

    @property
    def size(self) -> int:
        return self._hasher.size

    def write(self, data: bytes) -> None:
        if self.expected_size is not None and self.size + len(data) > self.expected_size:
            what = self.expected or "blob"
            raise ImageError(f"{what}: more than the expected {self.expected_size} bytes")
        self._hasher.update(data)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def commit(self) -> str:
        """Verify, fsync and rename into blobs/; return the digest."""
        got = self._hasher.digest()
        if self.expected_size is not None and self.size != self.expected_size:
            self.abort()
            raise ImageError(f"blob {got}: {self.size} bytes, expected {self.expected_size}")
        if self.expected is not None and got != self.expected:
            self.abort()
            raise ImageError(f"blob digest mismatch: got {got}, expected {self.expected}")
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        final = os.path.join(paths_blobs := self._paths.blobs, dg.hex_of(got))
        if os.path.exists(final):
            os.unlink(self._tmp)  # already stored: content-addressed, identical
        else:
            os.rename(self._tmp, final)
            fsync_dir(paths_blobs)
        self._tmp = ""
        return got

    def abort(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._tmp:
            unlink_quiet(self._tmp)
            self._tmp = ""

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


def tmp_file(tmp_dir: str, kind: str) -> tuple[str, int]:
    """A new private file under ``tmp_dir``: (path, fd open for writing)."""
    path = os.path.join(tmp_dir, f"{kind}-{os.getpid()}-{os.urandom(6).hex()}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    return path, os.open(path, flags, 0o600)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def syncfs(path: str) -> None:
    """Flush a finished unpack before it is renamed into place (one syncfs,
    not an fsync per file); os.sync where syncfs is unavailable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) != 0:
            os.sync()
    except (OSError, AttributeError):
        os.sync()
    finally:
        os.close(fd)


def unlink_quiet(path: str) -> None:
    if os.path.lexists(path):
        os.unlink(path)
