"""``launcher doctor``: is this host ready, and if not, what exactly to run.

Each check is a small function of the host (a :class:`Probe`) and the launcher
root (:class:`Paths`) returning one :class:`Check`: a status, one line of what
was found, and one line of the fix. The checks only read: no VM is booted, no
namespace made, nothing written. The probe is the seam the unit tests replace
with a fake host; the default one reads the real host.

Checks, in order (the kernel ones are skipped off Linux, where containers run
inside a machine whose guest kernel has them)::

    namespaces  userns  overlayfs  cgroups  seccomp  subids  uidmap  slirp4netns   (Linux)
    qemu  accelerator  libvirt  disk                                              (all hosts)

``fail`` means containers (or, off Linux, machines) cannot work as they are;
``warn`` that they work with less (no limits, no overlay, software emulation).
"""

from __future__ import annotations

from launcher import host
from launcher.doctor.base import (
    DISK_FAIL,
    DISK_WARN,
    NAMESPACES,
    STATUSES,
    Check,
    GiB,
    Probe,
)
from launcher.doctor.hostchecks import PORTABLE_CHECKS
from launcher.doctor.linuxchecks import LINUX_CHECKS, _version

__all__ = ["DISK_FAIL", "DISK_WARN", "LINUX_CHECKS", "NAMESPACES", "PORTABLE_CHECKS", "STATUSES",
           "Check", "GiB", "Probe", "_version", "failed", "run_checks"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.paths import Paths


def run_checks(paths: Paths, probe: Probe | None = None) -> list[Check]:
    """Every check, in order; the Linux ones become ``skip`` on other hosts."""
    p = probe if probe is not None else Probe()
    os_name = host.os_name(p.platform())
    out: list[Check] = []
    for name, fn in LINUX_CHECKS:
        if os_name != "linux":
            out.append(Check(name, "skip", f"not Linux ({os_name}): containers run in a "
                                           "machine whose guest kernel has this"))
        else:
            out.append(fn(p, paths))
    out += [fn(p, paths) for _name, fn in PORTABLE_CHECKS]
    return out


def failed(checks: list[Check]) -> bool:
    return any(c.status == "fail" for c in checks)
