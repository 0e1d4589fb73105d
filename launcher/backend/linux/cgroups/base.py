"""What every cgroup manager shares: the interface and careful cgroupfs I/O.

``CgroupManager`` and the resource shapes are Protocols visible to type
checkers only (``typing`` costs ~17 ms to import on the start path): import
them under ``TYPE_CHECKING``.  The resource shapes are the attribute names of
:mod:`launcher.spec.model` (snake_case of the OCI JSON keys); ``None`` is
"not set" everywhere.
"""

from __future__ import annotations

import errno
import os
import time

from launcher.errors import RuntimeFailure, UnsupportedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Protocol

    from launcher.backend.linux.cgroups.fs import CgroupFSLike

    class MemoryLike(Protocol):
        @property
        def limit(self) -> int | None: ...
        @property
        def reservation(self) -> int | None: ...
        @property
        def swap(self) -> int | None: ...
        @property
        def swappiness(self) -> int | None: ...
        @property
        def disable_oom_killer(self) -> bool | None: ...

    class CPULike(Protocol):
        @property
        def shares(self) -> int | None: ...
        @property
        def quota(self) -> int | None: ...
        @property
        def period(self) -> int | None: ...
        @property
        def burst(self) -> int | None: ...
        @property
        def cpus(self) -> str | None: ...
        @property
        def mems(self) -> str | None: ...
        @property
        def idle(self) -> int | None: ...
        @property
        def realtime_runtime(self) -> int | None: ...
        @property
        def realtime_period(self) -> int | None: ...

    class PidsLike(Protocol):
        @property
        def limit(self) -> int | None: ...

    class WeightDeviceLike(Protocol):
        @property
        def major(self) -> int | None: ...
        @property
        def minor(self) -> int | None: ...
        @property
        def weight(self) -> int | None: ...
        @property
        def leaf_weight(self) -> int | None: ...

    class ThrottleDeviceLike(Protocol):
        @property
        def major(self) -> int | None: ...
        @property
        def minor(self) -> int | None: ...
        @property
        def rate(self) -> int | None: ...

    class BlockIOLike(Protocol):
        @property
        def weight(self) -> int | None: ...
        @property
        def leaf_weight(self) -> int | None: ...
        @property
        def weight_device(self) -> Sequence[WeightDeviceLike] | None: ...
        @property
        def throttle_read_bps_device(self) -> Sequence[ThrottleDeviceLike] | None: ...
        @property
        def throttle_write_bps_device(self) -> Sequence[ThrottleDeviceLike] | None: ...
        @property
        def throttle_read_iops_device(self) -> Sequence[ThrottleDeviceLike] | None: ...
        @property
        def throttle_write_iops_device(self) -> Sequence[ThrottleDeviceLike] | None: ...

    class HugepageLimitLike(Protocol):
        @property
        def page_size(self) -> str | None: ...
        @property
        def limit(self) -> int | None: ...

    class DeviceRuleLike(Protocol):
        @property
        def allow(self) -> bool | None: ...
        @property
        def type(self) -> str | None: ...
        @property
        def major(self) -> int | None: ...
        @property
        def minor(self) -> int | None: ...
        @property
        def access(self) -> str | None: ...

    class ResourcesLike(Protocol):
        """``linux.resources`` of the OCI spec, as far as cgroups read it."""

        @property
        def memory(self) -> MemoryLike | None: ...
        @property
        def cpu(self) -> CPULike | None: ...
        @property
        def pids(self) -> PidsLike | None: ...
        @property
        def block_io(self) -> BlockIOLike | None: ...
        @property
        def hugepage_limits(self) -> Sequence[HugepageLimitLike] | None: ...
        @property
        def devices(self) -> Sequence[DeviceRuleLike] | None: ...
        @property
        def unified(self) -> Mapping[str, str] | None: ...

    class CgroupManager(Protocol):
        """One container's cgroup, in whatever layout the host has."""

        path: str  # the cgroupsPath, normalised: "/launcher/abc" or "rel/abc"

        def create(self) -> None: ...
        def apply(self, resources: ResourcesLike) -> None: ...
        def add(self, pid: int, v2: bool = True) -> None:
            """Move ``pid`` in; ``v2=False`` skips the cgroup2 part (the process
            was born there with CLONE_INTO_CGROUP)."""
        def add_self(self, v2: bool = True) -> None:
            """Move the calling (single-threaded) process in. v1 uses ``tasks``
            with ``0``: moving one's own single thread skips the kernel's global
            threadgroup lock and its RCU grace period (~0.3 ms, not ~10 ms)."""
        def unified_dir(self) -> str | None:
            """Absolute path of the cgroup2 directory, if the layout has one."""
        def pids(self) -> list[int]: ...
        def freeze(self) -> None: ...
        def thaw(self) -> None: ...
        def is_frozen(self) -> bool: ...
        def stats(self) -> dict[str, int | None]: ...
        def destroy(self) -> None: ...
        def exists(self) -> bool: ...


SIGKILL = 9  # the same on every Linux architecture; avoids importing signal
# Bounds on the waits: freezing a busy cgroup and letting SIGKILLed tasks exit.
WAIT_SECONDS = 5.0
UNLIMITED_V1 = 1 << 62  # v1 reports "no limit" as a huge page-rounded number


def fail(action: str, where: str, exc: OSError) -> RuntimeFailure | UnsupportedError:
    if exc.errno == errno.ENOENT:
        return UnsupportedError(
            f"cgroup: cannot {action} {where}: no such file (controller not available here?)"
        )
    return RuntimeFailure(f"cgroup: cannot {action} {where}: {exc.strerror or exc}")


class CgroupDir:
    """One cgroup directory: ``rel`` is relative to the filesystem root."""

    __slots__ = ("fs", "rel")

    def __init__(self, fs: CgroupFSLike, rel: str) -> None:
        self.fs = fs
        self.rel = rel

    def file(self, name: str) -> str:
        return f"{self.rel}/{name}" if self.rel else name

    def where(self, name: str = "") -> str:
        return os.path.join(self.fs.root, self.file(name) if name else self.rel)

    def has(self, name: str = "") -> bool:
        return self.fs.exists(self.file(name) if name else self.rel)

    def read(self, name: str) -> str | None:
        """The file's text, stripped; ``None`` when it can't be read (best effort)."""
        try:
            return self.fs.read(self.file(name)).strip()
        except OSError:
            return None

    def write(self, name: str, value: str) -> None:
        try:
            self.fs.write(self.file(name), value)
        except OSError as exc:
            raise fail(f"write {value!r} to", self.where(name), exc) from exc

    def write_all(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Write in order; if the kernel refuses one with EINVAL, try the
        reverse order once.  Linked limits (cfs period/quota/burst, rt period/
        runtime) are only valid together, and which order keeps every
        intermediate state valid depends on the current values."""
        try:
            for name, value in pairs:
                self.fs.write(self.file(name), value)
            return
        except OSError as exc:
            if exc.errno != errno.EINVAL or len(pairs) < 2:
                raise fail(f"write {value!r} to", self.where(name), exc) from exc
        for name, value in reversed(pairs):
            self.write(name, value)

    def procs(self) -> list[int]:
        text = self.read("cgroup.procs")
        return [int(p) for p in text.split()] if text else []

    def tree_pids(self) -> set[int]:
        """Pids in this cgroup and every cgroup below it."""
        found = set(self.procs())
        for child in self.children():
            found |= child.tree_pids()
        return found

    def children(self) -> list[CgroupDir]:
        try:
            names = self.fs.subdirs(self.rel)
        except OSError:
            return []
        return [CgroupDir(self.fs, self.file(n)) for n in names]


def read_int(d: CgroupDir, name: str, key: str | None = None) -> int | None:
    """An integer file (``"max"`` and huge v1 limits → None), or one ``key value``
    line of a flat-keyed file such as ``memory.events``."""
    text = d.read(name)
    if text is None:
        return None
    if key is not None:
        for line in text.splitlines():
            k, _, v = line.partition(" ")
            if k == key:
                text = v
                break
        else:
            return None
    try:
        value = int(text.split()[0])
    except (ValueError, IndexError):
        return None
    return None if value >= UNLIMITED_V1 else value


def wait_until(check: Callable[[], bool], seconds: float = WAIT_SECONDS) -> bool:
    """Poll ``check`` with a growing sleep (1 ms … 50 ms) for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    delay = 0.001
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return True


def kill_all(d: CgroupDir) -> None:
    """SIGKILL every task left in ``d`` and below (gone ones are fine)."""
    for pid in d.tree_pids():
        try:
            os.kill(pid, SIGKILL)
        except ProcessLookupError:
            pass


def remove_tree(d: CgroupDir, on_busy: Callable[[CgroupDir], None]) -> None:
    """rmdir ``d`` after its sub-cgroups, deepest first; absent is fine.

    EBUSY means tasks are still inside: ``on_busy`` kills them, then we retry
    until they have exited, for at most WAIT_SECONDS.
    """
    for child in d.children():
        remove_tree(child, on_busy)
    last: list[OSError] = []

    def gone() -> bool:
        try:
            d.fs.rmdir(d.rel)
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise fail("remove", d.where(), exc) from exc
            last[:] = [exc]
            on_busy(d)
            return False
        return True

    if not wait_until(gone):
        raise RuntimeFailure(
            f"cgroup: cannot remove {d.where()}: still busy (pids {sorted(d.tree_pids())})"
        ) from last[0]


def remove_created(dirs: Sequence[CgroupDir]) -> None:
    """rmdir the intermediate dirs a manager created, deepest first.

    Best effort: another container may have moved in meanwhile (EBUSY or
    ENOTEMPTY) and then the dir rightly stays.
    """
    for d in sorted(dirs, key=lambda x: x.rel.count("/"), reverse=True):
        try:
            d.fs.rmdir(d.rel)
        except OSError:
            pass
