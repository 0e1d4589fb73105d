"""What host are we on? Facts the backend choice and the tests depend on.

Portable: importable on macOS and Windows (no fcntl, no /proc assumptions).
"""

from __future__ import annotations

import os
import sys

CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP2_SUPER_MAGIC = 0x63677270
TMPFS_MAGIC = 0x01021994


class HostInfo:
    __slots__ = ("arch", "cgroup_layout", "is_root", "os")

    def __init__(self, os_name: str, arch: str, cgroup_layout: str, is_root: bool) -> None:
        self.os = os_name  # "linux", "darwin", "windows"
        self.arch = arch  # OCI/Go arch names: amd64, arm64, ...
        self.cgroup_layout = cgroup_layout  # "v1", "v2", "hybrid", "none"
        self.is_root = is_root

    def as_dict(self) -> dict[str, object]:
        return {
            "os": self.os,
            "arch": self.arch,
            "cgroup_layout": self.cgroup_layout,
            "is_root": self.is_root,
        }


_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "i686": "386",
    "x86": "386",
}


def os_name(platform_str: str | None = None) -> str:
    p = platform_str or sys.platform
    if p.startswith("linux"):
        return "linux"
    if p == "darwin":
        return "darwin"
    if p in ("win32", "cygwin"):
        return "windows"
    return p


def oci_arch(machine: str | None = None) -> str:
    m = (machine or _machine()).lower()
    return _ARCH.get(m, m)


def _machine() -> str:
    uname = getattr(os, "uname", None)
    if uname is not None:
        return str(uname().machine)
    import platform  # Windows: no os.uname (platform costs ~15 ms: re, enum)

    return platform.machine()


def cgroup_layout(root: str = CGROUP_ROOT) -> str:
    """``v2`` (unified), ``hybrid`` (v1 controllers + cgroup2 at unified/),
    ``v1`` or ``none``; decided by the filesystem types, as runc does."""
    if not sys.platform.startswith("linux"):
        return "none"
    magic = _fs_magic(root)
    if magic == CGROUP2_SUPER_MAGIC:
        return "v2"
    if magic is None:
        return "none"
    if _fs_magic(os.path.join(root, "unified")) == CGROUP2_SUPER_MAGIC:
        return "hybrid"
    return "v1"


def _fs_magic(path: str) -> int | None:
    """The filesystem type of the mount at ``path``, as a statfs magic, from
    /proc/self/mountinfo (no ctypes needed); None when nothing is mounted there."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    fstype = None
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) > 4 and fields[4] == path:
            fstype = right.split()[0]
    return {"cgroup2": CGROUP2_SUPER_MAGIC, "tmpfs": TMPFS_MAGIC, "cgroup": 0x27E0EB}.get(
        fstype or "", None if fstype is None else 1
    )


def detect() -> HostInfo:
    geteuid = getattr(os, "geteuid", None)
    name = os_name()
    return HostInfo(
        name,
        oci_arch(),
        cgroup_layout() if name == "linux" else "none",
        bool(geteuid is not None and geteuid() == 0),
    )
