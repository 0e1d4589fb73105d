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
    out: list[tuple[str, str]] = []
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return out
    for name in names:
        hier = os.path.join(root, name)
        if os.path.islink(hier) or not os.path.isdir(hier):
            continue
        host_dir = os.path.join(hier, rel)
        if os.path.isdir(host_dir):
            out.append((host_dir, name))
    return out
