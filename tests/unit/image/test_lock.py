from __future__ import annotations

import fcntl
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.errors import ConflictError, StateError
from launcher.image.lock import lock_path, store_lock
from launcher.paths import Paths


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(str(tmp_path / "storage"), str(tmp_path / "state"))


@pytest.fixture
def other_holder(paths: Paths) -> Iterator[int]:
    """Another open file description of gc.lock, as another process would have."""
    os.makedirs(paths.storage, exist_ok=True)
    fd = os.open(lock_path(paths), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    yield fd
    os.close(fd)


def can_lock(paths: Paths, op: int) -> bool:
    fd = os.open(lock_path(paths), os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, op | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_creates_private_lock_file(paths: Paths) -> None:
    with store_lock(paths, exclusive=False):
        pass
    assert stat.S_IMODE(os.stat(paths.storage).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(lock_path(paths)).st_mode) == 0o600


def test_shared_admits_shared_not_exclusive(paths: Paths) -> None:
    with store_lock(paths, exclusive=False):
        assert can_lock(paths, fcntl.LOCK_SH)
        assert not can_lock(paths, fcntl.LOCK_EX)
    assert can_lock(paths, fcntl.LOCK_EX)  # released on exit


def test_exclusive_excludes_everyone(paths: Paths) -> None:
    with store_lock(paths, exclusive=True):
        assert not can_lock(paths, fcntl.LOCK_SH)
    assert can_lock(paths, fcntl.LOCK_SH)


def test_non_blocking_reports_busy(paths: Paths, other_holder: int) -> None:
    fcntl.flock(other_holder, fcntl.LOCK_SH)
    with pytest.raises(ConflictError, match="busy"), store_lock(
        paths, exclusive=True, blocking=False
    ):
        pass
    with store_lock(paths, exclusive=False, blocking=False):
        pass  # shared next to shared is fine
    fcntl.flock(other_holder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # and nothing of ours is left


def test_nesting_in_one_thread(paths: Paths) -> None:
    with store_lock(paths, exclusive=True):
        with store_lock(paths, exclusive=False):  # e.g. prune -> update_index
            assert not can_lock(paths, fcntl.LOCK_SH)
        assert not can_lock(paths, fcntl.LOCK_SH)  # still held by the outer one
    with store_lock(paths, exclusive=False):
        with store_lock(paths, exclusive=False):  # e.g. pull -> put_image
            pass
        assert not can_lock(paths, fcntl.LOCK_EX)
        # exclusive inside shared would wait for itself forever: refused instead
        with pytest.raises(StateError, match="wait for itself"), store_lock(
            paths, exclusive=True
        ):
            pass
        assert not can_lock(paths, fcntl.LOCK_EX)
    assert can_lock(paths, fcntl.LOCK_EX)


def test_exclusive_waits_for_a_shared_holder_in_another_thread(paths: Paths) -> None:
    got = threading.Event()

    def gc() -> None:
        with store_lock(paths, exclusive=True):
            got.set()

    with store_lock(paths, exclusive=False):
        worker = threading.Thread(target=gc)
        worker.start()
        # The worker cannot get in while we hold the lock shared.
        assert not got.is_set()
        assert not can_lock(paths, fcntl.LOCK_EX)
    worker.join(60)  # a bound against a hang, not a timing assertion
    assert got.is_set()
