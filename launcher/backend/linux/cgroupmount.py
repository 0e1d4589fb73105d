"""Which host cgroup directories appear under the container's /sys/fs/cgroup."""

from __future__ import annotations

import os

from launcher.host import CGROUP_ROOT


def binds(layout: str, path: str, root: str = CGROUP_ROOT) -> list[tuple[str, str]]:
    """(host directory of the container's cgroup, mount point relative to the cgroup mount).

    v2: the one unified directory, mounted at the top. v1/hybrid: one entry per
    hierarchy mounted under ``root`` in which the container's cgroup exists
    (``unified`` included on hybrid hosts).
    """
    rel = path.strip("/")
    if layout == "v2":
        return [(os.path.join(root, rel), "")]
    from launcher.mountinfo import entries

    out: list[tuple[str, str]] = []
    prefix = root.rstrip("/") + "/"
    for m in entries():
        name = m.mount_point[len(prefix):]
        if m.fstype not in ("cgroup", "cgroup2") or not m.mount_point.startswith(prefix) \
                or "/" in name:
            continue  # only the hierarchies mounted directly under root
        host_dir = os.path.join(m.mount_point, rel)
        if os.path.isdir(host_dir):
            out.append((host_dir, name))
    return sorted(out, key=lambda b: b[1])
