"""Resolve and create paths *inside* a container rootfs, through fds only.

Every lookup starts from an fd of the rootfs and lets the kernel keep it
inside (``openat2`` with ``RESOLVE_IN_ROOT``): a symlink in the image that
points at ``/etc`` means the container's ``/etc``, never the host's.  Where
``openat2`` is unavailable, a component-by-component walk with
``O_NOFOLLOW`` that resolves symlinks itself, clamped to the root, stands in.
Callers act on the returned fd (``/proc/self/fd/N`` for mount targets),
never on a re-resolved string (SECURITY.md rule 1).
"""

from __future__ import annotations

import os
import stat

from launcher.backend.linux import syscalls as sc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.backend.linux.syscalls import Syscalls

_MAX_SYMLINKS = 40
_openat2_ok: bool | None = None


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def _components(path: str) -> list[str]:
    return [c for c in path.split("/") if c and c != "."]


def open_in_root(
    sys: Syscalls, root_fd: int, path: str, flags: int = os.O_PATH, *, no_symlinks: bool = False
) -> int:
    """Open ``path`` resolved inside ``root_fd``; raises OSError (ENOENT etc.)."""
    global _openat2_ok
    resolve = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS
    if no_symlinks:
        resolve |= sc.RESOLVE_NO_SYMLINKS
    flags |= os.O_CLOEXEC
    if _openat2_ok is not False:
        try:
            fd = sys.openat2(root_fd, path, flags, 0, resolve)
            _openat2_ok = True
            return fd
        except OSError as exc:
            if exc.errno not in (38, 22) or _openat2_ok:  # ENOSYS/EINVAL: no openat2
                raise
            _openat2_ok = False
    return _walk(root_fd, path, flags, no_symlinks)


def _walk(root_fd: int, path: str, flags: int, no_symlinks: bool) -> int:
    """Fallback resolver: one component at a time, symlinks clamped to the root."""
    todo = _components(path)
    stack: list[int] = [os.dup(root_fd)]
    hops = 0
    try:
        while todo:
            name = todo.pop(0)
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            last = not todo
            fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=stack[-1])
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode):
                os.close(fd)
                if no_symlinks:
                    raise OSError(40, "symlink not allowed", path)
                hops += 1
                if hops > _MAX_SYMLINKS:
                    raise OSError(40, "too many levels of symbolic links", path)
                target = os.readlink(name, dir_fd=stack[-1])
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                todo = _components(target) + todo
                continue
            if last:
                if not flags & os.O_PATH:
                    os.close(fd)
                    fd = os.open(name, flags | os.O_NOFOLLOW, dir_fd=stack[-1])
                return fd
            stack.append(fd)
        return os.open(".", flags, dir_fd=stack[-1])
    finally:
        for fd in stack:
            os.close(fd)


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


def create_file_in_root(sys: Syscalls, root_fd: int, path: str, mode: int = 0o644) -> int:
    """Make sure a non-directory ``path`` exists (for bind-mounting a file); O_PATH fd."""
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
            pass
        return open_in_root(sys, root_fd, path, os.O_PATH)
    finally:
        os.close(parent)
