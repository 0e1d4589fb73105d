"""Flatten layer directories into one tree: the rootfs when overlayfs is missing.

Layers are applied base first with overlay semantics: a 0/0 character device
is a whiteout (removes that name), a directory with
``trusted.overlay.opaque=y`` replaces the directory below instead of merging.
Everything is fd-relative on both sides (scandir on a dir fd, ``dir_fd=``
creation, O_NOFOLLOW), so a symlink copied from a lower layer is replaced,
never followed, by a later layer. Hard links between files are not kept
(each name gets its own copy); ``trusted.overlay.*`` xattrs are not copied.
"""

from __future__ import annotations

import errno
import os
import stat

from launcher.errors import ImageError
from launcher.image import resolve

OPAQUE_XATTR = "trusted.overlay.opaque"
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_COPY_FALLBACK = (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF)


def copy_layers(layer_dirs: list[str], dest: str) -> None:
    """Merge ``layer_dirs`` (base first) into the existing directory ``dest``."""
    dst = resolve.open_root(dest)
    try:
        for layer in layer_dirs:
            src = resolve.open_root(layer)
            try:
                _merge(src, dst)
                _meta(src, dst, os.fstat(src))
            finally:
                os.close(src)
    except OSError as exc:
        raise ImageError(f"copying layers into {dest}: {exc}") from None
    except RecursionError:
        raise ImageError(f"copying layers into {dest}: directory tree too deep") from None
    finally:
        os.close(dst)


def _merge(src: int, dst: int) -> None:
    with os.scandir(src) as it:
        entries = [(e.name, e.stat(follow_symlinks=False)) for e in it]
    for name, st in entries:
        mode = st.st_mode
        if stat.S_ISCHR(mode) and st.st_rdev == 0:
            _remove(dst, name)  # whiteout
        elif stat.S_ISDIR(mode):
            _merge_dir(src, dst, name, st)
        else:
            _remove(dst, name)
            _copy_entry(src, dst, name, st)


def _merge_dir(src: int, dst: int, name: str, st: os.stat_result) -> None:
    s = os.open(name, _DIR, dir_fd=src)
    try:
        opaque = _getxattr(s, OPAQUE_XATTR) == b"y"
        try:
            cur = os.stat(name, dir_fd=dst, follow_symlinks=False)
            if opaque or not stat.S_ISDIR(cur.st_mode):
                _remove(dst, name)
                os.mkdir(name, 0o700, dir_fd=dst)
        except FileNotFoundError:
            os.mkdir(name, 0o700, dir_fd=dst)
        d = os.open(name, _DIR, dir_fd=dst)
        try:
            _merge(s, d)
            _meta(s, d, st)
        finally:
            os.close(d)
    finally:
        os.close(s)


def _copy_entry(src: int, dst: int, name: str, st: os.stat_result) -> None:
    mode = st.st_mode
    if stat.S_ISREG(mode):
        s = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
        try:
            d = os.open(name, _NEW, 0o600, dir_fd=dst)
            try:
                _copy_data(s, d, st.st_size)
                _meta(s, d, st)
            finally:
                os.close(d)
        finally:
            os.close(s)
        return
    if stat.S_ISLNK(mode):
        os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
    else:  # fifo, socket, device
        os.mknod(name, stat.S_IFMT(mode) | 0o600, st.st_rdev, dir_fd=dst)
    if os.geteuid() == 0:
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
    if not stat.S_ISLNK(mode):
        os.chmod(name, stat.S_IMODE(mode), dir_fd=dst)  # just created, not a symlink
    os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst, follow_symlinks=False)


def _meta(s: int, d: int, st: os.stat_result) -> None:
    """Owner, mode (after chown: it clears setuid), xattrs, times: fd to fd."""
    if os.geteuid() == 0:
        os.fchown(d, st.st_uid, st.st_gid)
    os.fchmod(d, stat.S_IMODE(st.st_mode))
    try:
        names = os.listxattr(s)
    except OSError:
        names = []
    for attr in names:
        if attr.startswith("trusted.overlay."):
            continue
        value = _getxattr(s, attr)
        if value is not None:
            try:
                os.setxattr(d, attr, value)
            except OSError as exc:
                if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
                    raise
    os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_data(s: int, d: int, size: int) -> None:
    left = size
    try:
        while left > 0:
            n = os.copy_file_range(s, d, min(left, 1 << 30))
            if n == 0:
                break
            left -= n
        return
    except OSError as exc:
        if exc.errno not in _COPY_FALLBACK:
            raise
    while chunk := os.read(s, 1 << 20):  # continues from where copy_file_range stopped
        view = memoryview(chunk)
        while view:
            view = view[os.write(d, view) :]


def _getxattr(fd: int, attr: str) -> bytes | None:
    try:
        return os.getxattr(fd, attr)
    except OSError:
        return None


def _remove(dst: int, name: str) -> None:
    try:
        st = os.stat(name, dir_fd=dst, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        import shutil

        shutil.rmtree(name, dir_fd=dst)
    else:
        os.unlink(name, dir_fd=dst)
