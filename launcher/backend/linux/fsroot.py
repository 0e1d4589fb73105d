"""Resolve and create paths *inside* a container rootfs, through fds only.

Every lookup starts from an fd of the rootfs and stays inside it (the shared
resolver in :mod:`launcher.image.resolve`: ``openat2`` with ``RESOLVE_IN_ROOT``,
or a clamped ``O_NOFOLLOW`` walk): a symlink in the image that points at
``/etc`` means the container's ``/etc``, never the host's. Callers act on the
returned fd (``/proc/self/fd/N`` for mount targets), never on a re-resolved
string (SECURITY.md rule 1). This module adds the creating side.
"""

from __future__ import annotations

import os
import stat

# Imported here, not lazily: this runs after pivot_root/chroot too, where the
# host's Python library is out of reach.
from launcher.image import resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.backend.linux.syscalls import Syscalls


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def _components(path: str) -> list[str]:
    return [c for c in path.split("/") if c and c != "."]


def open_in_root(
    sys: Syscalls, root_fd: int, path: str, flags: int = os.O_PATH, *, no_symlinks: bool = False
) -> int:
    """Open ``path`` resolved inside ``root_fd``; raises OSError (ENOENT etc.).

    The resolution itself is :mod:`launcher.image.resolve`'s (openat2 with
    RESOLVE_IN_ROOT, or its clamped walk), shared with layer unpacking;
    ``no_symlinks`` refuses a symlink anywhere on the way. ``sys`` is kept so
    that callers hand every kernel-facing helper the same seam."""

    # Cleaned lexically first, as runc does for mount destinations: a leading
    # ".." stops at "/", and no ".." is left for the resolver to refuse.
    parts = resolve.split(os.path.normpath("/" + path)) or []
    if not no_symlinks:
        return resolve.open_in_root(root_fd, parts, flags)
    fd = resolve.open_in_root(root_fd, parts, flags | os.O_NOFOLLOW, follow=False)
    if stat.S_ISLNK(os.fstat(fd).st_mode):  # O_PATH|O_NOFOLLOW opens the link itself
        os.close(fd)
        raise OSError(40, "symbolic link not allowed here", path)
    return fd


def mkdir_all_in_root(sys: Syscalls, root_fd: int, path: str, mode: int = 0o755) -> int:
    """Create every missing directory of ``path`` inside the root; return an O_PATH fd."""
    try:
        return open_in_root(sys, root_fd, path, os.O_PATH | os.O_DIRECTORY)
    except FileNotFoundError:
        pass
    parts = _components(path)
    if not parts:
        return open_in_root(sys, root_fd, "/", os.O_PATH | os.O_DIRECTORY)
    parent = mkdir_all_in_root(sys, root_fd, "/".join(parts[:-1]), mode)
    try:
        name = parts[-1]
        if name == "..":
            raise OSError(22, "'..' in a path to create", path)
        try:
            os.mkdir(name, mode, dir_fd=parent)
        except FileExistsError:
            pass  # a racing creator, or a dangling symlink: re-resolve below
        return open_in_root(sys, root_fd, path, os.O_PATH | os.O_DIRECTORY)
    finally:
        os.close(parent)


def create_file_in_root(
    sys: Syscalls, root_fd: int, path: str, mode: int = 0o644, *, _hops: int = 0
) -> int:
    """Make sure a non-directory ``path`` exists (for bind-mounting a file); O_PATH fd.

    A dangling symlink at ``path`` (an image's ``/etc/resolv.conf`` pointing at
    ``../run/systemd/resolve/stub-resolv.conf``) gets its target created, still
    inside the root, as runc does: the mount then lands where the link points."""
    try:
        return open_in_root(sys, root_fd, path, os.O_PATH)
    except FileNotFoundError:
        pass
    parts = _components(path)
    parent = mkdir_all_in_root(sys, root_fd, "/".join(parts[:-1]))
    try:
        try:
            fd = os.open(parts[-1], os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
                         | os.O_CLOEXEC, mode, dir_fd=parent)
            os.close(fd)
        except FileExistsError:
            target = _link_target(parent, parts)
            if target is not None:
                if _hops >= 40:
                    raise OSError(40, "too many levels of symbolic links", path) from None
                return create_file_in_root(sys, root_fd, target, mode, _hops=_hops + 1)
        return open_in_root(sys, root_fd, path, os.O_PATH)
    finally:
        os.close(parent)


def _link_target(parent: int, parts: list[str]) -> str | None:
    """Where the symlink ``parts[-1]`` in ``parent`` points, as a path in the root."""
    try:
        link = os.readlink(parts[-1], dir_fd=parent)
    except OSError:
        return None  # not a symlink (a racing creator made a file): re-resolve
    if link.startswith("/"):
        return link
    return os.path.normpath("/" + "/".join(parts[:-1]) + "/" + link)


def mount_id(fd: int) -> int:
    """The id of the mount ``fd`` lies on (``mnt_id`` in /proc/self/fdinfo)."""
    with open(f"/proc/self/fdinfo/{fd}", "rb") as f:
        for line in f.read().splitlines():
            if line.startswith(b"mnt_id:"):
                return int(line[7:])
    raise OSError(2, "no mnt_id in fdinfo", fd_path(fd))


def path_in_root(root_fd: int, fd: int) -> str:
    """Where ``fd`` lies now, as an absolute path inside ``root_fd`` (the kernel's
    name for the file: it follows renames). OSError when it lies outside."""
    root = os.readlink(fd_path(root_fd)).rstrip("/")
    path = os.readlink(fd_path(fd))
    if path == root or (not root and path == "/"):
        return "/"
    if not path.startswith(root + "/"):
        raise OSError(18, "no longer inside the container root", path)  # EXDEV
    return path[len(root):]
