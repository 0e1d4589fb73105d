"""The doctor's check record, its host probe (the seam tests replace) and limits."""

from __future__ import annotations

import os
import sys

from launcher import host

TYPE_CHECKING = False
if TYPE_CHECKING:

    from launcher.backend.linux.cgroups.delegation import Delegation

STATUSES = ("ok", "warn", "fail", "skip")
GiB = 1 << 30
DISK_WARN = 5 * GiB
DISK_FAIL = 1 * GiB
SUBIDS_WANTED = 65536  # podman's size for a rootless user namespace (launcher.spec.userns)
NAMESPACES = ("user", "pid", "net", "mnt", "ipc", "uts", "cgroup")  # /proc/self/ns names
_NS_CONFIG = {"user": "USER_NS", "pid": "PID_NS", "net": "NET_NS", "mnt": "NAMESPACES",
              "ipc": "IPC_NS", "uts": "UTS_NS", "cgroup": "CGROUPS"}
LIMIT_CONTROLLERS = frozenset({"cpu", "memory", "pids"})
# Where launcher.vm.ops.choose_accel keeps the accelerator each probe boot proved.
ACCEL_CACHE = ("machines", "accel.json")
_FULL_UID_MAP = "0 0 4294967295"


class Check:
    """One check's verdict: ``status`` is one of :data:`STATUSES`; ``fix`` is
    empty when there is nothing to do."""

    __slots__ = ("detail", "fix", "name", "status")

    def __init__(self, name: str, status: str, detail: str, fix: str = "") -> None:
        self.name = name
        self.status = status
        self.detail = detail
        self.fix = fix

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail,
                "fix": self.fix}

    def __repr__(self) -> str:
        return f"Check({self.name!r}, {self.status!r}, {self.detail!r}, {self.fix!r})"


class Probe:
    """The host, read-only. Every fact a check needs comes through here."""

    def platform(self) -> str:
        return sys.platform

    def euid(self) -> int:
        geteuid = getattr(os, "geteuid", None)
        return geteuid() if geteuid is not None else -1

    def uid(self) -> int:
        getuid = getattr(os, "getuid", None)
        return getuid() if getuid is not None else -1

    def user_name(self) -> str:
        try:
            import pwd

            return pwd.getpwuid(self.uid()).pw_name
        except (ImportError, KeyError):
            return str(self.uid())

    def read(self, path: str) -> str | None:
        """A small text file (/proc, /etc), or None when it cannot be read."""
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read(1 << 20)
        except OSError:
            return None

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def which(self, name: str) -> str | None:
        import shutil

        return shutil.which(name)

    def find_library(self, name: str) -> str | None:
        import ctypes.util

        return ctypes.util.find_library(name)

    def has_module(self, name: str) -> bool:
        import importlib.util

        try:
            return importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            return False

    def kernel_release(self) -> str:
        return os.uname().release if hasattr(os, "uname") else ""

    def cgroup_layout(self) -> str:
        return host.cgroup_layout()

    def delegation(self, layout: str, uid: int) -> Delegation | None:
        from launcher.backend.linux.cgroups import delegation

        return delegation.find(layout, uid)

    def arch(self) -> str:
        """The host CPU as QEMU names it (x86_64, aarch64)."""
        from launcher.vm.machine import host_arch

        return host_arch()

    def qemu_binary(self, arch: str) -> str | None:
        from launcher.errors import UnsupportedError
        from launcher.vm import qemu

        try:
            return qemu.binary(arch)
        except UnsupportedError:
            return None

    def accel_problem(self, accel: str) -> str | None:
        """Why ``accel`` cannot work here, from the cheap checks only (no boot)."""
        from launcher.vm import accel as accels

        return accels.cheap_check(accel)

    def free_bytes(self, path: str) -> int:
        import shutil

        return shutil.disk_usage(path).free
