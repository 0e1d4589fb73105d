"""The container's filesystem: mounts from the spec, /dev, pivot_root, masks.

Runs inside container init, in its new mount namespace, before the user's
process.  Order matters and follows the runtime spec:

1. make ``/`` a slave (or the spec's rootfsPropagation) so nothing leaks back
   to the host, then bind the rootfs onto itself so it is a mount point;
2. each ``mounts[]`` entry in order, destination resolved inside the rootfs by
   fd (``fsroot``) and mounted onto ``/proc/self/fd/N``; a bind is built
   detached (open_tree), given its flags (mount_setattr), then attached to that
   fd (move_mount): its read-only flag cannot be sent elsewhere by a rename
   racing between the mount and a remount (runc CVE-2021-30465);
3. a fresh ``/dev``: default devices, ``linux.devices``, standard symlinks;
4. ``pivot_root`` (chroot is not used: it leaves the host root reachable);
5. after pivot: masked paths, read-only paths, read-only root.
"""

from __future__ import annotations

import errno
import os
import stat

from launcher.backend.linux import bindmount, fsroot, mountopts
from launcher.backend.linux import syscalls as sc
from launcher.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from launcher.backend.linux.syscalls import Syscalls
    from launcher.spec.model import Mount, Spec

_PLAIN_DIR_TYPES = frozenset({"proc", "sysfs"})


class RootfsContext:
    """Facts the mount code needs that are not in the spec."""

    __slots__ = ("bundle", "cgroup_binds", "dev_fd", "in_userns", "new_netns", "premount")

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
        # The directory a read-only /dev tmpfs went on: made read-only after its nodes.
        self.dev_fd = -1


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
            from launcher.backend.linux.devices import make_devices

            make_devices(sys, root_fd, spec, ctx.in_userns)
            if ctx.dev_fd >= 0:
                _dev_read_only(sys, root_fd, spec, ctx.dev_fd)
    finally:
        os.close(root_fd)
        if ctx.dev_fd >= 0:
            os.close(ctx.dev_fd)
            ctx.dev_fd = -1
    return rootfs


def _parent_mount_private(sys: Syscalls, path: str) -> None:
    from launcher.mountinfo import containing

    m = containing(path)
    if m is not None and any(x.startswith("shared:") for x in m.optional):
        sys.mount(None, m.mount_point, None, sc.MS_PRIVATE, None)


def _dev_read_only(sys: Syscalls, root_fd: int, spec: Spec, dev_fd: int) -> None:
    """A read-only /dev tmpfs is made read-only once its nodes exist."""
    m = next(m for m in spec.mounts or () if m.destination == "/dev" and m.type == "tmpfs")
    opts = mountopts.parse(m.options)
    try:
        fd = bindmount.reopen_top(sys, root_fd, dev_fd)
    except OSError as exc:
        raise _fail("remounting /dev read-only", exc) from exc
    try:
        sys.mount(None, fsroot.fd_path(fd), None, sc.MS_REMOUNT | opts.flags, opts.data or None)
    except OSError as exc:
        raise _fail("remounting /dev read-only", exc) from exc
    finally:
        os.close(fd)


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
            raise RuntimeFailure(f"{dest} must be mounted on ordinary directory: in the rootfs "
                                 f"it is not a plain directory ({exc.strerror})") from exc
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            os.close(fd)
            raise RuntimeFailure(f"{dest} must be mounted on ordinary directory: in the rootfs "
                                 "it is not a directory")
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
        if opts.is_bind or mtype == "bind":
            assert source is not None
            bindmount.bind(sys, root_fd, source, fd, opts.flags, opts.propagation)
            return
        if mtype == "cgroup":
            _mount_cgroup(sys, root_fd, m, opts, ctx)
        else:
            _mount_fs(sys, root_fd, m, mtype, fd, opts, ctx)
        if dest == "/dev" and mtype == "tmpfs" and opts.flags & sc.MS_RDONLY and ctx.dev_fd < 0:
            ctx.dev_fd = os.dup(fd)
        if opts.propagation:
            top = bindmount.reopen_top(sys, root_fd, fd)
            try:
                for p in opts.propagation:
                    sys.mount(None, fsroot.fd_path(top), None, p, None)
            finally:
                os.close(top)
    except OSError as exc:
        raise _fail(f"mounting {m.type or 'bind'} on {m.destination}", exc) from exc
    finally:
        os.close(fd)


def _mount_fs(sys: Syscalls, root_fd: int, m: Mount, mtype: str | None, target_fd: int,
              opts: mountopts.MountOptions, ctx: RootfsContext) -> None:
    target = fsroot.fd_path(target_fd)
    source = m.source or mtype
    flags = opts.flags
    if m.destination == "/dev" and flags & sc.MS_RDONLY:
        flags &= ~sc.MS_RDONLY  # the device nodes go in first; read-only comes after
    try:
        sys.mount(source, target, mtype, flags, opts.data or None)
    except PermissionError:
        if mtype == "sysfs" and not ctx.new_netns:
            # sysfs refuses a mount from a non-initial netns owner: bind the host's.
            bindmount.bind(sys, root_fd, "/sys", target_fd,
                  opts.flags | sc.MS_BIND | sc.MS_REC | sc.MS_RDONLY, [])
            return
        if mtype == "mqueue" and ctx.in_userns:
            sys.mount("/dev/mqueue", target, None, sc.MS_BIND | sc.MS_REC, None)
            return
        raise
    except OSError as exc:
        if not (exc.errno == errno.EINVAL and mtype == "devpts" and ctx.in_userns
                and "gid=" in (opts.data or "")):
            raise
        # gid=5 (tty) is not mapped in a rootless namespace without subordinate
        # ids: the ptys then belong to the caller's group, as with runc --rootless.
        data = ",".join(o for o in (opts.data or "").split(",") if not o.startswith("gid="))
        sys.mount(source, target, mtype, flags, data or None)


def _mount_cgroup(sys: Syscalls, root_fd: int, m: Mount, opts: mountopts.MountOptions,
                  ctx: RootfsContext) -> None:
    """/sys/fs/cgroup: the container's own cgroup from each hierarchy, bound in.

    Binding the host directory of the container's cgroup works on v1, v2 and
    hybrid, with or without a cgroup namespace, and shows nothing above it.
    """
    ro = opts.flags & sc.MS_RDONLY
    top = m.destination or "/sys/fs/cgroup"
    binds = ctx.cgroup_binds
    top_fd = -1  # the directory under the tmpfs holding several hierarchies
    if not (len(binds) == 1 and binds[0][1] == ""):
        top_fd = fsroot.mkdir_all_in_root(sys, root_fd, top)
    try:
        if top_fd >= 0:
            sys.mount("tmpfs", fsroot.fd_path(top_fd), "tmpfs", sc.MS_NOSUID | sc.MS_NODEV
                      | sc.MS_NOEXEC, "mode=755")
        for host_dir, rel in binds:
            dest = top.rstrip("/") + ("/" + rel if rel else "")
            fd = fsroot.mkdir_all_in_root(sys, root_fd, dest)
            try:
                bindmount.bind(sys, root_fd, host_dir, fd, sc.MS_BIND | sc.MS_REC | sc.MS_NOSUID
                      | sc.MS_NODEV | sc.MS_NOEXEC | ro, [])
            finally:
                os.close(fd)
        if ro and top_fd >= 0 and len(binds) != 1:
            fd = bindmount.reopen_top(sys, root_fd, top_fd)
            try:
                sys.mount(None, fsroot.fd_path(fd), None, sc.MS_REMOUNT | sc.MS_RDONLY
                          | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=755")
            finally:
                os.close(fd)
    finally:
        if top_fd >= 0:
            os.close(top_fd)


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
                      | bindmount.locked_flags("/"), None)
        except OSError as exc:
            raise _fail("remounting the root read-only", exc) from exc


def _readonly(sys: Syscalls, root_fd: int, path: str) -> None:
    try:
        fd = fsroot.open_in_root(sys, root_fd, path, os.O_PATH)
    except FileNotFoundError:
        return
    try:
        bindmount.bind(sys, root_fd, fd, fd, sc.MS_BIND | sc.MS_REC | sc.MS_RDONLY | sc.MS_NOSUID
              | sc.MS_NODEV | sc.MS_NOEXEC, [])
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
