"""The store lock: ``<storage>/gc.lock``, flock(2) shared by writers, exclusive for GC.

Content goes into the store in two steps: blobs and layers are committed
(content-addressed, not yet referenced), then ``put_image`` points a
reference at them. Between the two, GC would see unreferenced content and
sweep it. So every writer that adds content (pull, load, import) holds the
lock SHARED from before its first blob until the image is in the index, and
GC holds it EXCLUSIVE while it marks and sweeps; writers run side by side,
GC waits for all of them (and they for it).

Nesting: flock(2) locks belong to an open file description, so a second
``open`` + ``flock`` in the same process is a separate lock that can block on
the first: taking the exclusive lock while holding the shared one would
deadlock on ourselves. Acquisitions are therefore counted per thread:
a nested acquisition in the same thread reuses the lock already held (shared
inside shared or inside exclusive), and exclusive inside shared is refused
with StateError rather than hanging. Different threads take separate locks,
which is what they need (a GC thread must wait for a pulling thread).

Lock order, everywhere: this lock, then ``images.json.lock`` (the index's own
short lock), so the two can never deadlock.
"""

from __future__ import annotations

import _thread  # threading's C core: `import threading` costs ~3 ms on `run`'s path
import os

from launcher.errors import ConflictError, StateError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType

    from launcher.paths import Paths


_held = _thread._local()  # .locks: {lock path: _Held} for this thread


class _Held:
    __slots__ = ("depth", "exclusive", "fd")

    def __init__(self, fd: int, exclusive: bool) -> None:
        self.fd = fd
        self.exclusive = exclusive
        self.depth = 1


def lock_path(paths: Paths) -> str:
    return paths.store_lock


class StoreLock:
    """Context manager for the store lock; see the module docstring."""

    __slots__ = ("_path", "_storage", "blocking", "exclusive")

    def __init__(self, paths: Paths, exclusive: bool, blocking: bool = True) -> None:
        self._storage = paths.storage
        self._path = os.path.abspath(lock_path(paths))
        self.exclusive = exclusive
        self.blocking = blocking

    def __enter__(self) -> None:
        locks = _locks()
        held = locks.get(self._path)
        if held is not None:
            if self.exclusive and not held.exclusive:
                raise StateError(
                    "image store: cannot take the exclusive lock while this thread holds it "
                    "shared (it would wait for itself)"
                )
            held.depth += 1
            return
        locks[self._path] = _Held(self._acquire(), self.exclusive)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        locks = _locks()
        held = locks[self._path]
        held.depth -= 1
        if held.depth == 0:
            del locks[self._path]
            os.close(held.fd)  # releases the flock

    def _acquire(self) -> int:
        import fcntl

        os.makedirs(self._storage, mode=0o700, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            fd = os.open(self._path, flags, 0o600)
        except OSError as exc:
            raise StateError(f"cannot open {self._path}: {exc.strerror}") from None
        op = fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, op if self.blocking else op | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConflictError(
                "image store is busy (another launcher is pulling, loading or collecting "
                "garbage); try again"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        return fd


def store_lock(paths: Paths, *, exclusive: bool, blocking: bool = True) -> StoreLock:
    """The store lock, shared (writers) or exclusive (GC), as a context manager.

    ``blocking=False`` raises ConflictError instead of waiting.
    """
    return StoreLock(paths, exclusive, blocking)


def _locks() -> dict[str, _Held]:
    locks: dict[str, _Held] | None = getattr(_held, "locks", None)
    if locks is None:
        locks = _held.locks = {}
    return locks
