"""Bind mounts that arrive with their flags (runc CVE-2021-30465).

A bind is built detached (``open_tree``), given its flags and propagation
(``mount_setattr``), then attached to an fd resolved inside the rootfs
(``move_mount``): a rename racing between a mount and a remount cannot send the
read-only flag elsewhere, because nothing is looked up by path again. Kernels
without that API get mount(2) and a re-lookup that refuses symlinks and checks
the mount it finds (:func:`reopen_top`).
"""

from __future__ import annotations

import errno
import os

from launcher.backend.linux import fsroot
from launcher.backend.linux import syscalls as sc
from launcher.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.backend.linux.syscalls import Syscalls

# mount(2) flag -> mount_setattr attribute (the atime field is handled apart)
_ATTRS = ((sc.MS_RDONLY, sc.MOUNT_ATTR_RDONLY), (sc.MS_NOSUID, sc.MOUNT_ATTR_NOSUID),
          (sc.MS_NODEV, sc.MOUNT_ATTR_NODEV), (sc.MS_NOEXEC, sc.MOUNT_ATTR_NOEXEC),
          (sc.MS_NODIRATIME, sc.MOUNT_ATTR_NODIRATIME),
          (sc.MS_NOSYMFOLLOW, sc.MOUNT_ATTR_NOSYMFOLLOW))


def reopen_top(sys: Syscalls, root_fd: int, under_fd: int) -> int:
    """An fd of the mount just made on ``under_fd`` (an fd taken before a mount
    still names the directory underneath it).

    Found by path, the only way after mount(2), but by the path the kernel
    gives ``under_fd`` now, refusing any symlink on the way, and checked to lie
    on another mount than ``under_fd``: a rename racing with us fails the start
    instead of sending the next step elsewhere (runc CVE-2021-30465)."""
    path = fsroot.path_in_root(root_fd, under_fd)
    top = fsroot.open_in_root(sys, root_fd, path, os.O_PATH, no_symlinks=True)
    if fsroot.mount_id(top) == fsroot.mount_id(under_fd):
        os.close(top)
        raise RuntimeFailure(f"mount on {path} is not where it was made: "
                             "was the path renamed meanwhile? refusing to go on")
    return top


def _attrs(flags: int) -> tuple[int, int]:
    """mount(2) flags as mount_setattr's (attr_set, attr_clr)."""
    attr_set = 0
    for ms, attr in _ATTRS:
        if flags & ms:
            attr_set |= attr
    if not flags & (sc.MS_STRICTATIME | sc.MS_NOATIME | sc.MS_RELATIME):
        return attr_set, 0
    # atime is a field, not bits: a new value must clear the whole field
    if flags & sc.MS_STRICTATIME:
        attr_set |= sc.MOUNT_ATTR_STRICTATIME
    elif flags & sc.MS_NOATIME:
        attr_set |= sc.MOUNT_ATTR_NOATIME
    return attr_set, sc.MOUNT_ATTR__ATIME


def bind(sys: Syscalls, root_fd: int, source: str | int, target_fd: int, flags: int,
          propagation: list[int]) -> None:
    """Bind ``source`` (a host path, or an fd of a path in the root) onto ``target_fd``.

    The copy is made detached, gets its flags and propagation, then is attached
    to the fd: nothing is looked up again by path. Attributes are only *set*:
    flags the source has locked (nosuid, nodev, ro on a mount from a more
    privileged namespace, as rootless containers bind) stay, as they must."""
    rec = sc.AT_RECURSIVE if flags & sc.MS_REC else 0
    at, path, how = ((source, "", sc.AT_EMPTY_PATH) if isinstance(source, int)
                     else (sc.AT_FDCWD, source, 0))
    try:
        tree = sys.open_tree(at, path, how | rec | sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC)
    except OSError as exc:
        if exc.errno != errno.ENOSYS:
            raise
        _bind_old(sys, root_fd, source, target_fd, flags, propagation)
        return
    try:
        attr_set, attr_clr = _attrs(flags)
        # (recursive, propagation) pairs; the first shares the call setting the flags
        props = [(sc.AT_RECURSIVE if p & sc.MS_REC else 0, p & ~sc.MS_REC) for p in propagation]
        first = props.pop(0) if props and props[0][0] == rec else (rec, 0)
        try:
            if attr_set or attr_clr or first[1]:
                sys.mount_setattr(tree, "", sc.AT_EMPTY_PATH | rec, attr_set, attr_clr, first[1])
            for r, p in props:
                sys.mount_setattr(tree, "", sc.AT_EMPTY_PATH | r, 0, 0, p)
        except OSError as exc:
            if exc.errno != errno.ENOSYS:  # Linux 5.2 to 5.11: no mount_setattr
                raise
            _bind_old(sys, root_fd, source, target_fd, flags, propagation)
            return
        sys.move_mount(tree, "", target_fd, "",
                       sc.MOVE_MOUNT_F_EMPTY_PATH | sc.MOVE_MOUNT_T_EMPTY_PATH)
    finally:
        os.close(tree)


def _bind_old(sys: Syscalls, root_fd: int, source: str | int, target_fd: int, flags: int,
              propagation: list[int]) -> None:
    """``bind`` on kernels without the new mount API: mount(2), then remount
    what :func:`reopen_top` finds, after checking it is the source's root."""
    src = fsroot.fd_path(source) if isinstance(source, int) else source
    want = os.stat(src)
    sys.mount(src, fsroot.fd_path(target_fd), None, flags & (sc.MS_BIND | sc.MS_REC), None)
    extra = flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
    if not extra and not propagation:
        return
    top = reopen_top(sys, root_fd, target_fd)
    try:
        st = os.fstat(top)
        if (st.st_dev, st.st_ino) != (want.st_dev, want.st_ino):
            raise RuntimeFailure(f"bind mount of {src} is not where it was made: was the "
                                 "destination renamed meanwhile? refusing to go on")
        t = fsroot.fd_path(top)
        if extra:
            # a remount sets every flag anew: keep those the source has (locked or not)
            sys.mount(None, t, None, sc.MS_BIND | sc.MS_REMOUNT | extra | locked_flags(t), None)
        for p in propagation:
            sys.mount(None, t, None, p, None)
    finally:
        os.close(top)


def locked_flags(path: str) -> int:
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
