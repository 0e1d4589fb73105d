"""The container's filesystem: mounts from the spec, /dev, pivot_root, masks.

Runs inside container init, in its new mount namespace, before the user's
process.  Order matters and follows the runtime spec:

1. make ``/`` a slave (or the spec's rootfsPropagation) so nothing leaks back
   to the host, then bind the rootfs onto itself so it is a mount point;
2. each ``mounts[]`` entry in order, destination resolved inside the rootfs by
   fd (``fsroot``) and mounted onto ``/proc/self/fd/N``;
3. a fresh ``/dev``: default devices, ``linux.devices``, standard symlinks;
4. ``pivot_root`` (chroot is not used: it leaves the host root reachable);
5. after pivot: masked paths, read-only paths, read-only root.
"""

from __future__ import annotations

import os
import stat

from launcher.backend.linux import fsroot, mountopts
from launcher.backend.linux import syscalls as sc
from launcher.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from launcher.backend.linux.syscalls import Syscalls
    from launcher.spec.model import Mount, Spec

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
_PLAIN_DIR_TYPES = frozenset({"proc", "sysfs"})
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
    for d in (spec.linux.devices if spec.linux else None) or ():
        rules.append(DeviceRule.from_json({"allow": True, "type": d.type, "major": d.major,
                                           "minor": d.minor, "access": "rwm"}))
    return rules


class RootfsContext:
    """Facts the mount code needs that are not in the spec."""

    __slots__ = ("bundle", "cgroup_binds", "in_userns", "new_netns", "premount")

    def __init__(
        self,
        bundle: str,
        cgroup_binds: list[tuple[str, str]] | None = None,
        in_userns: bool = False,
        new_netns: bool = True,
    ) -> None:
        self.bundle = bundle
        # (host dir of this container's cgroup, relative mount point under the cgroup mount)
        self.cgroup_binds = cgroup_binds or []
        self.in_userns = in_userns
        self.new_netns = new_netns
        # Mounts the rootfs itself (the image's overlay) inside the container's
        # mount namespace: the host never sees it, so nothing is left to unmount.
        self.premount: Callable[[], object] | None = None


def _fail(what: str, exc: OSError) -> RuntimeFailure:
    return RuntimeFailure(f"{what}: {exc.strerror or exc}")


def root_path(spec: Spec, bundle: str) -> str:
    assert spec.root is not None
    path = spec.root.path or "rootfs"
    return path if os.path.isabs(path) else os.path.join(bundle, path)


def prepare(spec: Spec, sys: Syscalls, ctx: RootfsContext) -> str:
    """Steps 1-3. Returns the absolute rootfs path (a mount point now)."""
    linux = spec.linux
    rootfs = root_path(spec, ctx.bundle)
    # "/" becomes a slave first, whatever was asked: shared or unbindable now
    # would leak our mounts to the host or forbid the rootfs bind below. The
    # requested propagation is applied after pivot_root (finalize), as runc does.
    prop = mountopts.PROPAGATION.get((linux.rootfs_propagation if linux else None) or "", 0)
    flags = prop if prop & sc.MS_PRIVATE else sc.MS_SLAVE | sc.MS_REC
    try:
        sys.mount(None, "/", None, flags, None)
        if ctx.premount is not None:
            ctx.premount()
        # pivot_root refuses a shared new root or parent: make the mount that
        # holds the rootfs private (only in our namespace); the requested
        # propagation is applied to "/" after the pivot (finalize).
        _parent_mount_private(sys, rootfs)
        sys.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC, None)
    except OSError as exc:
        raise _fail(f"preparing rootfs {rootfs}", exc) from exc
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for m in spec.mounts or ():
            mount_one(sys, root_fd, m, ctx)
        if _dev_is_ours(spec):
            make_devices(sys, root_fd, spec, ctx.in_userns)
    finally:
        os.close(root_fd)
    return rootfs


def _parent_mount_private(sys: Syscalls, path: str) -> None:
    from launcher.mountinfo import containing

    m = containing(path)
    if m is not None and any(x.startswith("shared:") for x in m.optional):
        sys.mount(None, m.mount_point, None, sc.MS_PRIVATE, None)


def _dev_is_ours(spec: Spec) -> bool:
    return any(m.destination == "/dev" and m.type == "tmpfs" for m in spec.mounts or ())


def _resolve_target(sys: Syscalls, root_fd: int, m: Mount, source_is_dir: bool) -> int:
    dest = m.destination or ""
    if m.type in _PLAIN_DIR_TYPES:
        # SECURITY.md rule 5: /proc and /sys must be plain directories in the image.
        try:
            fd = fsroot.open_in_root(sys, root_fd, dest, os.O_PATH, no_symlinks=True)
        except FileNotFoundError:
            return fsroot.mkdir_all_in_root(sys, root_fd, dest)
        except OSError as exc:
            raise RuntimeFailure(f"mount destination {dest} in the rootfs is not a plain "
                                 f"directory ({exc.strerror})") from exc
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            os.close(fd)
            raise RuntimeFailure(f"mount destination {dest} in the rootfs is not a directory")
        return fd
    if source_is_dir:
        return fsroot.mkdir_all_in_root(sys, root_fd, dest)
    return fsroot.create_file_in_root(sys, root_fd, dest)


def mount_one(sys: Syscalls, root_fd: int, m: Mount, ctx: RootfsContext) -> None:
    """Mount one ``mounts[]`` entry; errors name the destination."""
    opts = mountopts.parse(m.options)
    dest = m.destination or ""
    mtype = m.type or ("bind" if opts.is_bind else None)
    source = m.source
    if opts.is_bind or mtype == "bind":
        if not source:
            raise RuntimeFailure(f"bind mount to {m.destination} has no source")
        if not os.path.isabs(source):
            source = os.path.join(ctx.bundle, source)
        try:
            is_dir = stat.S_ISDIR(os.stat(source).st_mode)
        except OSError as exc:
            raise _fail(f"bind mount source {source}", exc) from exc
    else:
        is_dir = True
    try:
        fd = _resolve_target(sys, root_fd, m, is_dir)
    except OSError as exc:
        raise _fail(f"mount destination {m.destination}", exc) from exc
    try:
        target = fsroot.fd_path(fd)
        if mtype == "cgroup":
            _mount_cgroup(sys, root_fd, m, opts, ctx)
        elif opts.is_bind or mtype == "bind":
            sys.mount(source, target, None, opts.flags & (sc.MS_BIND | sc.MS_REC), None)
            _remount_bind(sys, root_fd, dest, opts.flags)
        else:
            _mount_fs(sys, root_fd, m, mtype, target, opts, ctx)
        if opts.propagation:
            top = _reopen(sys, root_fd, dest)
            try:
                for p in opts.propagation:
                    sys.mount(None, fsroot.fd_path(top), None, p, None)
            finally:
                os.close(top)
    except OSError as exc:
        raise _fail(f"mounting {m.type or 'bind'} on {m.destination}", exc) from exc
    finally:
        os.close(fd)


def _reopen(sys: Syscalls, root_fd: int, dest: str) -> int:
    """An fd of what is mounted at ``dest`` now: an fd taken before a mount
    still names the directory underneath it."""
    return fsroot.open_in_root(sys, root_fd, dest, os.O_PATH)


def _remount_bind(sys: Syscalls, root_fd: int, dest: str, flags: int) -> None:
    """A bind mount ignores other flags; they take effect on a remount. Flags
    locked by the source (e.g. nodev on a user-namespace mount) are kept."""
    extra = flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
    if not extra:
        return
    top = _reopen(sys, root_fd, dest)
    try:
        t = fsroot.fd_path(top)
        sys.mount(None, t, None, sc.MS_BIND | sc.MS_REMOUNT | extra | _locked_flags(t), None)
    finally:
        os.close(top)


def _locked_flags(path: str) -> int:
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    f = st.f_flag
    out = 0
    for bit, flag in ((os.ST_NOSUID, sc.MS_NOSUID), (os.ST_NODEV, sc.MS_NODEV),
                      (os.ST_NOEXEC, sc.MS_NOEXEC), (os.ST_RDONLY, sc.MS_RDONLY)):
        if f & bit:
            out |= flag
    return out


def _mount_fs(sys: Syscalls, root_fd: int, m: Mount, mtype: str | None, target: str,
              opts: mountopts.MountOptions, ctx: RootfsContext) -> None:
    source = m.source or mtype
    try:
        sys.mount(source, target, mtype, opts.flags, opts.data or None)
    except PermissionError:
        if mtype == "sysfs" and not ctx.new_netns:
            # sysfs refuses a mount from a non-initial netns owner: bind the host's.
            sys.mount("/sys", target, None, sc.MS_BIND | sc.MS_REC, None)
            _remount_bind(sys, root_fd, m.destination or "", opts.flags | sc.MS_RDONLY)
            return
        if mtype == "mqueue" and ctx.in_userns:
            sys.mount("/dev/mqueue", target, None, sc.MS_BIND | sc.MS_REC, None)
            return
        raise


def _mount_cgroup(sys: Syscalls, root_fd: int, m: Mount, opts: mountopts.MountOptions,
                  ctx: RootfsContext) -> None:
    """/sys/fs/cgroup: the container's own cgroup from each hierarchy, bound in.

    Binding the host directory of the container's cgroup works on v1, v2 and
    hybrid, with or without a cgroup namespace, and shows nothing above it.
    """
    ro = opts.flags & sc.MS_RDONLY
    top = m.destination or "/sys/fs/cgroup"
    if len(ctx.cgroup_binds) == 1 and ctx.cgroup_binds[0][1] == "":
        binds = ctx.cgroup_binds
    else:
        fd = fsroot.mkdir_all_in_root(sys, root_fd, top)
        try:
            sys.mount("tmpfs", fsroot.fd_path(fd), "tmpfs", sc.MS_NOSUID | sc.MS_NODEV
                      | sc.MS_NOEXEC, "mode=755")
        finally:
            os.close(fd)
        binds = ctx.cgroup_binds
    for host_dir, rel in binds:
        dest = top.rstrip("/") + ("/" + rel if rel else "")
        fd = fsroot.mkdir_all_in_root(sys, root_fd, dest)
        try:
            sys.mount(host_dir, fsroot.fd_path(fd), None, sc.MS_BIND | sc.MS_REC, None)
        finally:
            os.close(fd)
        _remount_bind(sys, root_fd, dest, sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | ro)
    if ro and len(binds) != 1:
        fd = fsroot.open_in_root(sys, root_fd, top, os.O_PATH | os.O_DIRECTORY)
        try:
            sys.mount(None, fsroot.fd_path(fd), None, sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID
                      | sc.MS_NODEV | sc.MS_NOEXEC, "mode=755")
        finally:
            os.close(fd)


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


def pivot(sys: Syscalls, rootfs: str) -> None:
    """pivot_root(".", ".") then detach the old root: no host path stays reachable."""
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(new)
        sys.pivot_root(".", ".")
        os.fchdir(old)
        # The old root is stacked under "."; keep unmount events off the host.
        sys.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC, None)
        sys.umount2(".", sc.MNT_DETACH)
        os.chdir("/")
    except OSError as exc:
        raise _fail("pivot_root", exc) from exc
    finally:
        os.close(old)
        os.close(new)


def finalize(spec: Spec, sys: Syscalls) -> None:
    """After pivot: root propagation, masked and read-only paths, read-only root."""
    linux = spec.linux
    prop = mountopts.PROPAGATION.get((linux.rootfs_propagation if linux else None) or "")
    if prop and not prop & sc.MS_PRIVATE:
        try:
            sys.mount(None, "/", None, prop, None)
        except OSError as exc:
            raise _fail("setting the root's propagation", exc) from exc
    root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for path in (linux.readonly_paths if linux else None) or ():
            _readonly(sys, root_fd, path)
        for path in (linux.masked_paths if linux else None) or ():
            _mask(sys, root_fd, path)
    finally:
        os.close(root_fd)
    if spec.root is not None and spec.root.readonly:
        try:
            sys.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY
                      | _locked_flags("/"), None)
        except OSError as exc:
            raise _fail("remounting the root read-only", exc) from exc


def _readonly(sys: Syscalls, root_fd: int, path: str) -> None:
    try:
        fd = fsroot.open_in_root(sys, root_fd, path, os.O_PATH)
    except FileNotFoundError:
        return
    try:
        t = fsroot.fd_path(fd)
        sys.mount(t, t, None, sc.MS_BIND | sc.MS_REC, None)
        _remount_bind(sys, root_fd, path, sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV
                      | sc.MS_NOEXEC)
    except OSError as exc:
        raise _fail(f"read-only path {path}", exc) from exc
    finally:
        os.close(fd)


def _mask(sys: Syscalls, root_fd: int, path: str) -> None:
    try:
        fd = fsroot.open_in_root(sys, root_fd, path, os.O_PATH)
    except FileNotFoundError:
        return
    try:
        t = fsroot.fd_path(fd)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            sys.mount("tmpfs", t, "tmpfs", sc.MS_RDONLY, "size=0k,mode=0555")
        else:
            sys.mount("/dev/null", t, None, sc.MS_BIND, None)
    except OSError as exc:
        raise _fail(f"masking {path}", exc) from exc
    finally:
        os.close(fd)
