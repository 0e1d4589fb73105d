"""The hybrid layout: v1 controllers plus a controller-less cgroup2 at ``unified/``.

Limits, freezer and stats are all v1's; the ``unified`` hierarchy only tracks
processes (systemd does the same), so the container gets a dir there too,
which receives its pid and is removed with the rest.  ``resources.unified``
is written to that dir (as runc does on hybrid hosts).
"""

from __future__ import annotations

from launcher.backend.linux.cgroups.v1 import V1Manager
from launcher.backend.linux.cgroups.v2 import V2Manager
from launcher.errors import LauncherError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.backend.linux.cgroups.base import ResourcesLike
    from launcher.backend.linux.cgroups.fs import CgroupFSLike

UNIFIED_MOUNT = "unified"


class HybridManager:
    __slots__ = ("path", "v1", "v2")

    def __init__(self, fs: CgroupFSLike, path: str, own: dict[str, str] | None = None) -> None:
        self.path = path
        self.v1 = V1Manager(fs, path, own)
        # No controllers live in this cgroup2, so nothing stops a relative path
        # from going right below our own cgroup there (unlike pure v2).
        self.v2 = V2Manager(fs, path, UNIFIED_MOUNT, base=(own or {}).get(""))

    def create(self) -> None:
        self.v1.create()
        try:
            self.v2.create()
        except BaseException:
            self.v1.destroy()
            raise

    def apply(self, resources: ResourcesLike) -> None:
        self.v1.apply_limits(resources)
        self.v2.apply_unified(resources.unified)

    def add(self, pid: int, v2: bool = True) -> None:
        self.v1.add(pid)
        if v2:
            self.v2.add(pid)

    def add_self(self, v2: bool = True) -> None:
        self.v1.add_self()
        if v2:
            self.v2.add_self()

    def unified_dir(self) -> str | None:
        return self.v2.unified_dir()

    def pids(self) -> list[int]:
        return sorted(set(self.v1.pids()) | set(self.v2.pids()))

    def freeze(self) -> None:
        self.v1.freeze()

    def thaw(self) -> None:
        self.v1.thaw()

    def is_frozen(self) -> bool:
        return self.v1.is_frozen()

    def stats(self) -> dict[str, int | None]:
        return self.v1.stats()

    def destroy(self) -> None:
        """Both parts are always tried; the first error is raised."""
        try:
            self.v1.destroy()
        except LauncherError:
            self.v2.destroy()
            raise
        self.v2.destroy()

    def exists(self) -> bool:
        return self.v1.exists() or self.v2.exists()
