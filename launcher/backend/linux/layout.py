"""Where the native backend keeps a container's bundle (config.json, rootfs, layers)."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.paths import Paths


def make_bundle_dir(paths: Paths, cid: str) -> tuple[str, int]:
    """``storage/containers/<id>``, mode 0700, created exactly once, and its
    creation lock: an fd holding an exclusive flock on the directory until the
    container has started (or its creator died: the kernel drops the lock).
    While it is held, ``being_created`` is true and prune/rm leave it alone."""
    import fcntl

    parent = os.path.join(paths.storage, "containers")
    os.makedirs(parent, mode=0o700, exist_ok=True)
    bundle = os.path.join(parent, cid)
    os.mkdir(bundle, 0o700)
    fd = os.open(bundle, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    fcntl.flock(fd, fcntl.LOCK_EX)  # new and unlisted until now: never waits
    return bundle, fd


KEEPER_LOCK = "keeper.lock"
_HELD: dict[str, int] = {}  # bundle -> the keeper lock this process holds


def hold_keeper_lock(bundle: str) -> None:
    """Taken by the process that keeps a container (its monitor) for as long as
    it lives: it writes the record and the log into the bundle until it exits,
    so whoever removes the bundle waits for it first (``wait_for_keeper``)."""
    import fcntl

    fd = os.open(os.path.join(bundle, KEEPER_LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _HELD[bundle] = fd


def wait_for_keeper(bundle: str, timeout: float = 10.0) -> bool:
    """Until the container's keeper has exited (its lock is free); whether it
    did within ``timeout``. At once when there is none, or when it is us (a
    monitor removing its own ``--rm`` container)."""
    import fcntl
    import time

    if bundle in _HELD:
        return True
    try:
        fd = os.open(os.path.join(bundle, KEEPER_LOCK), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return True  # no keeper (an attached run, a container made by an older launcher)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.005)
    finally:
        os.close(fd)


def being_created(bundle: str) -> bool:
    """Whether a live process is still creating the container in ``bundle``."""
    import fcntl

    try:
        fd = os.open(bundle, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def remove_tree(path: str) -> None:
    from launcher.fsutil import remove_tree as rm

    try:
        rm(path)
    except OSError:
        pass  # best effort: whatever is left shows up in `ls` and is retried by rm
