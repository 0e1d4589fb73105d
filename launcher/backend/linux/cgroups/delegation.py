"""Where an unprivileged user may make cgroups: the delegated cgroup2 subtree.

Only cgroup v2 can be delegated safely: systemd gives each user
``user.slice/user-UID.slice/user@UID.service`` (owned by the user, with the
controllers listed in its ``cgroup.controllers``), and an administrator may
chown a subtree the same way. v1 and the hybrid layout's controllers never are,
so rootless containers there run without limits (with a warning when limits
were asked for), as podman's do.
"""

from __future__ import annotations

import os

from launcher.backend.linux.cgroups.paths import parse_proc_cgroup


class Delegation:
    """A delegated cgroup2 directory (path from the hierarchy root) and its controllers."""

    __slots__ = ("controllers", "path")

    def __init__(self, path: str, controllers: frozenset[str]) -> None:
        self.path = path
        self.controllers = controllers


def find(layout: str, uid: int, root: str = "/sys/fs/cgroup",
         self_cgroup: str | None = None) -> Delegation | None:
    """The top-most cgroup2 ancestor of this process's cgroup that ``uid`` owns
    and may write to, or None (v1, hybrid, nothing delegated)."""
    if layout != "v2":
        return None
    if self_cgroup is None:
        try:
            with open("/proc/self/cgroup", encoding="utf-8") as f:
                self_cgroup = f.read()
        except OSError:
            return None
    own = parse_proc_cgroup(self_cgroup).get("")
    if not own or not own.startswith("/") or ".." in own.split("/"):
        return None
    parts = [p for p in own.split("/") if p]
    best = None
    for depth in range(len(parts), 0, -1):
        rel = "/".join(parts[:depth])
        if not _owned(os.path.join(root, rel), uid):
            break
        best = rel
    if best is None:
        return None
    return Delegation("/" + best, _controllers(os.path.join(root, best)))


def _owned(path: str, uid: int) -> bool:
    try:
        st = os.stat(path)
        procs = os.stat(os.path.join(path, "cgroup.procs"))
    except OSError:
        return False
    return st.st_uid == uid and procs.st_uid == uid and os.access(path, os.W_OK)


def _controllers(path: str) -> frozenset[str]:
    try:
        with open(os.path.join(path, "cgroup.controllers"), encoding="ascii") as f:
            return frozenset(f.read().split())
    except OSError:
        return frozenset()
