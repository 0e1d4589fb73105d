"""What host are we on? Facts the backend choice and the tests depend on.

Portable: importable on macOS and Windows (no fcntl, no /proc assumptions).
"""

from __future__ import annotations

import os
import sys

CGROUP_ROOT = "/sys/fs/cgroup"


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
    ``v1`` or ``none``; decided by the filesystem types mounted there, as runc does."""
    if not sys.platform.startswith("linux"):
        return "none"
    from launcher.mountinfo import entries

    try:
        types = {m.mount_point: m.fstype for m in entries()}  # the last mount wins
    except OSError:
        return "none"
    top = types.get(root.rstrip("/") or "/")
    if top is None:
        return "none"
    if top == "cgroup2":
        return "v2"
    return "hybrid" if types.get(os.path.join(root, "unified")) == "cgroup2" else "v1"


def detect() -> HostInfo:
    geteuid = getattr(os, "geteuid", None)
    name = os_name()
    return HostInfo(
        name,
        oci_arch(),
        cgroup_layout() if name == "linux" else "none",
        bool(geteuid is not None and geteuid() == 0),
    )
