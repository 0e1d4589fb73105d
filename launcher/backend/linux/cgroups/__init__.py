"""Container cgroups on cgroupfs, for the v1, v2 and hybrid layouts.

    m = open_manager("/launcher/abc")     # layout detected once, here only
    m.create(); m.apply(spec.linux.resources); m.add(pid)
    ...
    m.destroy()                           # idempotent; kills leftovers

``open_manager`` is the only place that branches on the layout; each layout
has its own module (``v1``, ``v2``, and ``hybrid``, which composes v1 with a
controller-less cgroup2 dir).  The interface is ``base.CgroupManager`` (a
Protocol for type checkers; import it under ``TYPE_CHECKING``).  All file
access goes through an injected ``CgroupFS``, so tests use a fake tree.

For ``--systemd-cgroup`` without systemd, convert ``slice:prefix:name`` with
``systemd_to_path`` first.  A relative cgroupsPath resolves below the calling
process's own cgroup (``cgroup_of_self``), so persist the absolute form.
"""

from __future__ import annotations

from launcher.backend.linux.cgroups.fs import CgroupFS
from launcher.backend.linux.cgroups.paths import cgroup_of_self, normalise_path, systemd_to_path
from launcher.errors import UnsupportedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.backend.linux.cgroups.base import CgroupManager
    from launcher.backend.linux.cgroups.fs import CgroupFSLike

__all__ = ["CgroupFS", "cgroup_of_self", "open_manager", "systemd_to_path"]


def open_manager(
    cgroups_path: str,
    layout: str | None = None,
    root: str = "/sys/fs/cgroup",
    fs: CgroupFSLike | None = None,
) -> CgroupManager:
    """The manager for ``cgroups_path`` (``..`` is a ConfigError) in this
    host's layout: ``"v1"``, ``"v2"`` or ``"hybrid"`` (None: detect under
    ``root``).  Opening touches nothing but reads (v1: lists hierarchies)."""
    path = normalise_path(cgroups_path)
    if layout is None:
        from launcher import host

        layout = host.cgroup_layout(root)
    fs = fs if fs is not None else CgroupFS(root)
    own = None if path.startswith("/") else cgroup_of_self()
    if layout == "v2":
        from launcher.backend.linux.cgroups.v2 import V2Manager, relative_base

        return V2Manager(fs, path, base=relative_base((own or {}).get("")))
    if layout == "v1":
        from launcher.backend.linux.cgroups.v1 import V1Manager

        return V1Manager(fs, path, own)
    if layout == "hybrid":
        from launcher.backend.linux.cgroups.hybrid import HybridManager

        return HybridManager(fs, path, own)
    raise UnsupportedError(f"no usable cgroup hierarchy under {root} (layout {layout!r})")
