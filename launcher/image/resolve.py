"""Resolve a path inside a directory tree that an image controls (SECURITY.md rule 1).

Two modes, both fd-relative and never leaving the root:

* ``follow=True`` (layer unpacking): symlinks are followed *as if the root were
  /* — ``openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)``; an absolute target
  or a ``..`` at the top lands back on the root. Where openat2 is missing
  (Linux < 5.6, some seccomp profiles) :func:`_walk` emulates it component by
  component: each step is ``openat(O_NOFOLLOW | O_DIRECTORY)``, a symlink is
  read with ``readlinkat`` and its target spliced into the remaining path, and
  ``..`` pops our own stack of directory fds instead of asking the kernel.
* ``follow=False`` (/etc/passwd lookups): any symlink on the way is an error
  (ELOOP); a plain walk, no ctypes, cheap on the start path.

Callers pass paths already split into components (see :func:`split`), so a
``..`` in an archive member name is rejected before resolution starts.
"""

from __future__ import annotations

import errno
import os
import stat

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

MAX_SYMLINKS = 40  # as the kernel's MAXSYMLINKS
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC

# openat2 has the same number on every architecture that has it (unified table).
_SYS_OPENAT2 = 437
_openat2_state: list[object] = []  # [] unknown, [None] unavailable, [fn] available


def split(name: str) -> list[str] | None:
    """Components of an archive/path name, leading ``/`` and ``.`` dropped.

    Returns None if any component is ``..`` (callers turn that into an error
    naming the entry); ``[]`` means the root itself.
    """
    parts = [p for p in name.split("/") if p and p != "."]
    if ".." in parts:
        return None
    return parts


def open_root(path: str) -> int:
    """An O_DIRECTORY fd on a trusted host path (a store or container dir)."""
    return os.open(path, _DIR_FLAGS | os.O_NOFOLLOW)


def open_in_root(root_fd: int, parts: list[str], flags: int, follow: bool = True) -> int:
    """Open ``parts`` (components) inside ``root_fd``.

    ``flags`` apply to the final component (add O_NOFOLLOW to refuse a
    final symlink, O_DIRECTORY to want a directory). Raises OSError.
    """
    flags |= os.O_CLOEXEC
    if not parts:
        return os.open(".", flags & ~os.O_NOFOLLOW | os.O_DIRECTORY, dir_fd=root_fd)
    if follow:
        fn = _openat2()
        if fn is not None:
            resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
            try:
                return fn(root_fd, "/".join(parts), flags, resolve)
            except OSError as exc:
                if exc.errno != errno.ENOSYS:
                    raise
                _openat2_state[:] = [None]
    return _walk(root_fd, parts, flags, follow)


def open_dir_in_root(root_fd: int, parts: list[str], follow: bool = True) -> int:
    return open_in_root(root_fd, parts, os.O_RDONLY | os.O_DIRECTORY, follow)


def _walk(root_fd: int, parts: list[str], flags: int, follow: bool) -> int:
    """Component-by-component resolution that cannot leave ``root_fd``."""
    stack = [os.dup(root_fd)]  # stack[-1] is the current directory
    todo = list(reversed(parts))
    links = 0
    try:
        while todo:
            comp = todo.pop()
            if comp in ("", "."):
                continue
            if comp == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            last = not todo
            step = (flags | os.O_NOFOLLOW) if last else (_DIR_FLAGS | os.O_NOFOLLOW)
            try:
                fd = os.open(comp, step, 0o600, dir_fd=stack[-1])
                if last and follow and flags & os.O_PATH and not flags & os.O_NOFOLLOW:
                    _refuse_link(fd, comp)  # O_PATH|O_NOFOLLOW opened the link itself
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                target = _symlink_target(stack[-1], comp, exc)
                if not follow or (last and flags & os.O_NOFOLLOW):
                    raise OSError(errno.ELOOP, "symlink in path", comp) from None
                links += 1
                if links > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links") from None
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                todo.extend(reversed(target.split("/")))
                continue
            if last:
                return fd
            stack.append(fd)
        # every component was "." or ".." or consumed: the result is a directory
        return os.open(".", (flags & ~os.O_NOFOLLOW) | os.O_DIRECTORY, dir_fd=stack[-1])
    finally:
        for fd in stack:
            os.close(fd)


def _refuse_link(fd: int, comp: str) -> None:
    """Raise ELOOP (closing ``fd``) when ``fd`` is a symlink, so the walk follows it."""
    if stat.S_ISLNK(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.ELOOP, "symlink", comp)


def _symlink_target(dir_fd: int, comp: str, exc: OSError) -> str:
    """readlinkat, or re-raise ``exc`` when ``comp`` is not a symlink."""
    try:
        return os.readlink(comp, dir_fd=dir_fd)
    except OSError:
        raise exc from None


def _openat2() -> _Openat2 | None:
    if _openat2_state:
        fn = _openat2_state[0]
        return fn if callable(fn) else None
    fn2 = _load_openat2()
    _openat2_state[:] = [fn2]
    return fn2


def _load_openat2() -> _Openat2 | None:
    """Bind openat2(2) through ctypes; None where unavailable."""
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
    except ImportError:  # pragma: no cover
        return None

    class OpenHow(ctypes.Structure):
        _fields_ = (
            ("flags", ctypes.c_uint64),
            ("mode", ctypes.c_uint64),
            ("resolve", ctypes.c_uint64),
        )

    libc = ctypes.CDLL(None, use_errno=True)
    syscall = libc.syscall
    syscall.restype = ctypes.c_long

    def openat2(dir_fd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
        how = OpenHow(flags, mode, resolve)
        raw = os.fsencode(path)
        fd = syscall(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(dir_fd),
            ctypes.c_char_p(raw),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
        return int(fd)

    return openat2


def use_openat2(enabled: bool) -> None:
    """Force the fallback walk (tests) or re-enable openat2 detection."""
    _openat2_state[:] = [] if enabled else [None]


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    _Openat2 = Callable[[int, str, int, int], int]
