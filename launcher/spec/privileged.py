"""``--privileged``: what Docker and podman mean by it, and no more.

A privileged container gets every capability (bounding, effective, permitted:
inheritable and ambient stay empty, as Docker has done since CVE-2022-24769),
no seccomp filter, no masked or read-only paths, read-write ``/sys`` and
cgroupfs, the host's device nodes in its ``/dev`` and an allow-all device
cgroup, and ``no_new_privs`` off unless ``--security-opt no-new-privileges`` is
given. It is **not** a sandbox: root in it is root on the host (rootless: the
user's own ids, in its user namespace). Namespaces stay as they are.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.spec.model import Device, Linux, Mount, Process

# Nodes a container gets in any case or must not share with the host.
_SKIP = frozenset(("console", "ptmx", "tty", "null", "zero", "full", "random", "urandom",
                   "pts", "shm", "mqueue", "core", "fd", "stdin", "stdout", "stderr"))
_MAX_DEPTH = 3


def apply(process: Process, linux: Linux, mounts: list[Mount], nnp_asked: bool,
          cap_drop: list[str], dev_root: str = "/dev") -> None:
    """Widen ``process``, ``linux`` and ``mounts`` (from build_spec) as the module
    says; ``--cap-drop`` still drops from the full set, as in Docker."""
    from launcher.spec.caps import ALL, cap_number
    from launcher.spec.model import Capabilities, DeviceRule

    uid = process.user.uid if process.user is not None else 0
    held = _held_caps()
    every = [] if "ALL" in cap_drop else [c for c in ALL if c not in cap_drop
                                          and (held is None or cap_number(c) in held)]
    process.capabilities = Capabilities(
        bounding=every, effective=list(every) if uid == 0 else [],
        permitted=list(every) if uid == 0 else [], inheritable=[], ambient=[])
    if not nnp_asked:
        process.no_new_privileges = False
    linux.seccomp = None
    linux.masked_paths, linux.readonly_paths = None, None
    if linux.resources is not None and linux.resources.devices is not None:
        linux.resources.devices = [DeviceRule(allow=True, access="rwm")]
    linux.devices = host_devices(dev_root)
    for m in mounts:
        if m.type in ("sysfs", "cgroup", "cgroup2") and m.options:
            m.options = [o for o in m.options if o != "ro"]


def _held_caps() -> set[int] | None:
    """The capabilities launcher's own bounding set still has ("every" cap means
    every one the caller can give: a sandbox may have dropped some)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    mask = int(line.split()[1], 16)
                    return {n for n in range(64) if mask >> n & 1}
    except (OSError, ValueError):
        pass
    return None


def host_devices(dev_root: str = "/dev") -> list[Device]:
    """The character and block devices under ``dev_root`` (no symlinks followed)."""
    found: list[Device] = []
    _scan(dev_root, "/dev", 0, found)
    return sorted(found, key=lambda d: d.path or "")


def _scan(directory: str, shown: str, depth: int, out: list[Device]) -> None:
    from launcher.spec.model import Device

    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if depth == 0 and name in _SKIP:
            continue
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if depth + 1 < _MAX_DEPTH:
                _scan(path, f"{shown}/{name}", depth + 1, out)
            continue
        kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else ""
        if kind:
            out.append(Device(path=f"{shown}/{name}", type=kind, major=os.major(st.st_rdev),
                              minor=os.minor(st.st_rdev), file_mode=stat.S_IMODE(st.st_mode),
                              uid=st.st_uid, gid=st.st_gid))
