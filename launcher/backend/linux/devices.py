"""The container's /dev: device nodes, standard links, and the device cgroup rules."""

from __future__ import annotations

import os
import stat

from launcher.backend.linux import fsroot
from launcher.backend.linux import syscalls as sc
from launcher.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.backend.linux.syscalls import Syscalls
    from launcher.spec.model import Spec

# Devices every container gets on a fresh /dev (type, major, minor, mode).
DEFAULT_DEVICES: tuple[tuple[str, int, int, int], ...] = (
    ("/dev/null", 1, 3, 0o666),
    ("/dev/zero", 1, 5, 0o666),
    ("/dev/full", 1, 7, 0o666),
    ("/dev/random", 1, 8, 0o666),
    ("/dev/urandom", 1, 9, 0o666),
    ("/dev/tty", 5, 0, 0o666),
)
DEV_SYMLINKS: tuple[tuple[str, str], ...] = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
)
# Device cgroup rules always allowed on top of the spec's (as runc does): the
# default nodes, ptys, and mknod of anything (use needs an explicit rule).
ALLOWED_DEVICE_RULES: tuple[tuple[str, int | None, int | None, str], ...] = (
    ("c", None, None, "m"), ("b", None, None, "m"),
    *((("c", major, minor, "rwm")) for _p, major, minor, _m in DEFAULT_DEVICES),
    ("c", 5, 1, "rwm"), ("c", 5, 2, "rwm"), ("c", 136, None, "rwm"),
)


def device_rules(spec: Spec) -> list[object]:
    """The spec's device cgroup rules plus what every container needs."""
    from launcher.spec.model import DeviceRule

    res = spec.linux.resources if spec.linux else None
    rules: list[object] = list((res.devices if res else None) or [])
    for typ, major, minor, access in ALLOWED_DEVICE_RULES:
        rules.append(DeviceRule.from_json({"allow": True, "type": typ, "major": major,
                                           "minor": minor, "access": access}))
    # linux.devices are created, not allowed: access to them needs a rule of
    # its own in linux.resources.devices (runc and crun agree).
    return rules



def _fail(what: str, exc: OSError) -> RuntimeFailure:
    return RuntimeFailure(f"{what}: {exc.strerror or exc}")


def make_devices(sys: Syscalls, root_fd: int, spec: Spec, in_userns: bool) -> None:
    """Default device nodes, ``linux.devices``, and the standard /dev symlinks."""
    devices: list[tuple[str, str, int, int, int, int, int]] = [
        (path, "c", major, minor, mode, 0, 0) for path, major, minor, mode in DEFAULT_DEVICES
    ]
    for d in (spec.linux.devices if spec.linux else None) or ():
        mode = d.file_mode if d.file_mode is not None else 0o666
        devices = [x for x in devices if x[0] != d.path]
        devices.append((d.path or "", d.type or "", d.major or 0, d.minor or 0, mode, d.uid or 0,
                        d.gid or 0))
    for path, typ, major, minor, mode, uid, gid in devices:
        _make_device(sys, root_fd, path, typ, major, minor, mode, uid, gid, in_userns)
    dev = fsroot.mkdir_all_in_root(sys, root_fd, "/dev")
    try:
        for target, link in DEV_SYMLINKS:
            try:
                os.symlink(target, os.path.basename(link), dir_fd=dev)
            except FileExistsError:
                pass
        for name in ("pts", "shm", "mqueue"):
            try:
                os.mkdir(name, 0o755, dir_fd=dev)
            except FileExistsError:
                pass
    finally:
        os.close(dev)


def _make_device(sys: Syscalls, root_fd: int, path: str, typ: str, major: int, minor: int,
                 mode: int, uid: int, gid: int, in_userns: bool) -> None:
    kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}.get(typ)
    if kind is None:
        raise RuntimeFailure(f"device {path}: unknown type {typ!r}")
    parent = fsroot.mkdir_all_in_root(sys, root_fd, os.path.dirname(path))
    name = os.path.basename(path)
    try:
        if in_userns and kind != stat.S_IFIFO:
            # mknod is not allowed in a user namespace: bind the host's node instead.
            fd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=parent)
            os.close(fd)
            tfd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
            try:
                sys.mount(path, fsroot.fd_path(tfd), None, sc.MS_BIND, None)
            finally:
                os.close(tfd)
            return
        try:
            os.unlink(name, dir_fd=parent)
        except FileNotFoundError:
            pass
        os.mknod(name, kind | (mode & 0o7777), os.makedev(major, minor), dir_fd=parent)
        os.chmod(name, mode & 0o7777, dir_fd=parent, follow_symlinks=False)
        os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False)
    except OSError as exc:
        raise _fail(f"creating device {path}", exc) from exc
    finally:
        os.close(parent)
