"""Entries written below a directory fd, never through a symlink: the writing half of ``cp``.

``Extractor(dest_fd, ...)`` takes the entries of ``copyfs`` (a walk or a tar
stream) and creates them below ``dest_fd``, an existing directory the caller
resolved (inside the container's root, for a container). From there on no
symlink is ever followed (SECURITY.md rule 1):

* an entry's parent directories are walked one component at a time with
  ``O_DIRECTORY|O_NOFOLLOW`` relative to the previous fd; a symlink or file in
  the way is an error, a missing directory is created (``mkdirat``);
* names are cleaned lexically and may not climb above ``dest_fd`` (``a/../b``
  is ``b``; ``../x`` is refused); a hard link's target is looked up the same way,
  so it can only name something already inside the destination;
* files are created ``O_CREAT|O_EXCL|O_NOFOLLOW`` (an old non-directory there
  is unlinked first) and owned, chmod-ed and timed through their fd; symlinks
  and device nodes through ``fchownat(AT_SYMLINK_NOFOLLOW)`` and
  ``utimensat(AT_SYMLINK_NOFOLLOW)``;
* a directory replaces no non-directory and is replaced by none (Docker's
  "cannot overwrite" errors); an existing directory is kept and takes the
  entry's owner and mode; ``.`` (the destination itself) is left as it is;
* nothing is written on a kernel file system (proc, sysfs, cgroup...): a
  directory entry for one (``proc/`` of a whole root) leaves it alone, an entry
  below one is an error.

Directory mtimes are set at the end (creating children changes them).
"""

from __future__ import annotations

import errno
import os
import stat

from launcher.backend.linux.copyfs import FdReader, kernel_fs
from launcher.errors import UnsupportedError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import tarfile
    from collections.abc import Callable

    from launcher.backend.linux.copyfs import Reader

Ids = tuple[int, int]
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_NODE = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


def clean(name: str) -> list[str]:
    """Components of an entry name below the destination; UsageError if it climbs out."""
    parts: list[str] = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not parts:
                raise UsageError(f"invalid archive entry {name!r}: it points outside the "
                                 "destination")
            parts.pop()
        else:
            parts.append(comp)
    return parts


class Extractor:
    """Creates entries below ``dest_fd``. ``owner``: the ids every entry gets, or
    None to keep each entry's own (``cp -a``); ``parent_owner``: the ids of
    directories made because an entry needed them. ``where`` names the
    destination in messages."""

    __slots__ = ("_cache", "_dest", "_dirs", "_owner", "_parent_owner", "copied", "where")

    def __init__(self, dest_fd: int, owner: Ids | None, parent_owner: Ids, where: str) -> None:
        self._dest = dest_fd
        self._owner = owner
        self._parent_owner = parent_owner
        self.where = where
        self._cache: tuple[list[str], int] = ([], -1)
        self._dirs: list[tuple[list[str], int]] = []
        self.copied = 0  # bytes of file content written

    def add(self, info: tarfile.TarInfo, data: Reader | None) -> None:
        parts = clean(info.name)
        if not parts:
            return  # "." is the destination itself: kept as it is, as docker does
        parent = self._parent(parts[:-1])
        name = parts[-1]
        try:
            old = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            old = None
        if info.isdir():
            self._dir(info, parent, name, old, parts)
            return
        if old is not None:
            if stat.S_ISDIR(old.st_mode):
                raise self._error(info.name, "cannot overwrite a directory with a non-directory")
            os.unlink(name, dir_fd=parent)
        if info.isreg():
            self._file(info, data, parent, name)
        elif info.issym():
            os.symlink(info.linkname, name, dir_fd=parent)
            self._own_node(info, parent, name)
        elif info.islnk():
            self._hardlink(info, parent, name)
        elif info.ischr() or info.isblk() or info.isfifo():
            self._node(info, parent, name)
        else:
            raise self._error(info.name, f"unsupported archive entry type {info.type!r}")

    def finish(self) -> None:
        """Directory mtimes, deepest first; then close what is cached."""
        for parts, mtime in reversed(self._dirs):
            try:
                fd = self._open(parts, create=False)
            except OSError:
                continue  # gone since (a running container changed it)
            try:
                os.utime(fd, ns=(mtime, mtime))
            finally:
                os.close(fd)
        self._dirs.clear()
        self.close()

    def close(self) -> None:
        if self._cache[1] >= 0:
            os.close(self._cache[1])
        self._cache = ([], -1)

    # ---- entry kinds
    def _dir(self, info: tarfile.TarInfo, parent: int, name: str, old: os.stat_result | None,
             parts: list[str]) -> None:
        if old is None:
            os.mkdir(name, 0o700, dir_fd=parent)
        elif not stat.S_ISDIR(old.st_mode):
            raise self._error(info.name, "cannot overwrite a non-directory with a directory")
        fd = os.open(name, _DIR, dir_fd=parent)
        try:
            if kernel_fs(fd):
                return  # /proc, /sys... of a running container: left alone (no entry below)
            uid, gid = self._ids(info)
            os.fchown(fd, uid, gid)
            os.fchmod(fd, info.mode & 0o7777)  # after chown, which clears setgid
            self._dirs.append((parts, _mtime_ns(info)))
        finally:
            os.close(fd)

    def _file(self, info: tarfile.TarInfo, data: Reader | None, parent: int, name: str) -> None:
        fd = os.open(name, _NEW, 0o600, dir_fd=parent)
        try:
            if data is not None and info.size:
                _copy(data, fd, info.size)
                self.copied += info.size
            uid, gid = self._ids(info)
            os.fchown(fd, uid, gid)
            os.fchmod(fd, info.mode & 0o7777)  # after chown, which clears setuid/setgid
            mt = _mtime_ns(info)
            os.utime(fd, ns=(mt, mt))
        finally:
            os.close(fd)

    def _hardlink(self, info: tarfile.TarInfo, parent: int, name: str) -> None:
        target = clean(info.linkname)
        if not target:
            raise self._error(info.name, f"invalid hard link to {info.linkname!r}")
        src_dir = self._open(target[:-1], create=False)
        try:
            os.link(target[-1], name, src_dir_fd=src_dir, dst_dir_fd=parent,
                    follow_symlinks=False)
        finally:
            os.close(src_dir)

    def _node(self, info: tarfile.TarInfo, parent: int, name: str) -> None:
        if info.isfifo():
            os.mkfifo(name, 0o600, dir_fd=parent)
        else:
            kind = stat.S_IFCHR if info.ischr() else stat.S_IFBLK
            os.mknod(name, kind | 0o600, os.makedev(info.devmajor, info.devminor),
                     dir_fd=parent)
        self._own_node(info, parent, name)
        # chmod has no "no follow" form: go through an O_PATH fd of the very
        # node just made (its /proc/self/fd link names that inode, nothing else).
        fd = os.open(name, _NODE, dir_fd=parent)
        try:
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise self._error(info.name, "replaced by a symlink while being created")
            os.chmod(f"/proc/self/fd/{fd}", info.mode & 0o7777)
        finally:
            os.close(fd)

    def _own_node(self, info: tarfile.TarInfo, parent: int, name: str) -> None:
        uid, gid = self._ids(info)
        os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False)
        mt = _mtime_ns(info)
        os.utime(name, ns=(mt, mt), dir_fd=parent, follow_symlinks=False)

    # ---- helpers
    def _ids(self, info: tarfile.TarInfo) -> Ids:
        if self._owner is not None:
            return self._owner
        if not (0 <= info.uid < 1 << 32 and 0 <= info.gid < 1 << 32):
            raise self._error(info.name, f"invalid owner {info.uid}:{info.gid}")
        return info.uid, info.gid

    def _parent(self, parts: list[str]) -> int:
        """An fd of the directory ``parts`` below the destination, made if missing;
        the last one is cached (entries of one directory come together)."""
        if self._cache[1] >= 0 and self._cache[0] == parts:
            return self._cache[1]
        fd = self._open(parts, create=True)
        self.close()
        self._cache = (list(parts), fd)
        return fd

    def _open(self, parts: list[str], create: bool) -> int:
        fd = os.open(".", _DIR, dir_fd=self._dest)
        try:
            for i, comp in enumerate(parts):
                nxt = self._step(fd, comp, create, "/".join(parts[: i + 1]))
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _step(self, fd: int, comp: str, create: bool, path: str) -> int:
        try:
            nxt = os.open(comp, _DIR, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(comp, 0o755, dir_fd=fd)
            nxt = os.open(comp, _DIR, dir_fd=fd)
            try:
                os.fchown(nxt, *self._parent_owner)
            except BaseException:
                os.close(nxt)
                raise
            return nxt
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise self._error(path, "not a directory (a symlink or file is in the way)") \
                    from None
            raise
        if os.fstat(nxt).st_dev != os.fstat(fd).st_dev:  # a mount point: what is mounted?
            try:
                self._check_fs(nxt, path)
            except BaseException:
                os.close(nxt)
                raise
        return nxt

    def _check_fs(self, fd: int, name: str) -> None:
        fs = kernel_fs(fd)
        if fs:
            raise UnsupportedError(f"cannot copy to {self._join(name)}: it is on {fs}, "
                                   "a kernel file system")

    def _error(self, name: str, why: str) -> OSError:
        return OSError(errno.EINVAL, why, self._join(name))

    def _join(self, name: str) -> str:
        return f"{self.where.rstrip('/')}/{name}" if self.where else name


def _mtime_ns(info: tarfile.TarInfo) -> int:
    return int(info.mtime * 1_000_000_000)


def _copy(data: Reader, fd: int, size: int) -> None:
    """``size`` bytes of ``data`` into ``fd``; between two files in the kernel."""
    if isinstance(data, FdReader):
        left = size
        while left > 0:
            sent = os.sendfile(fd, data.fd, None, min(left, 1 << 30))
            if sent == 0:
                break  # the source shrank: the file keeps what there was
            left -= sent
        data.left = 0
        return
    left = size
    while left > 0:
        chunk = data.read(min(left, 1 << 20))
        if not chunk:
            raise OSError(errno.EIO, "the source ended inside a file")
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]
        left -= len(chunk)


def extract_tar(stream: Reader, dest: str, owner: Ids | None, where: str,
                check: Callable[[tarfile.TarInfo], None] | None = None) -> int:
    """A tar stream (plain, gzip or zstd) applied below the existing directory
    ``dest`` with :class:`Extractor` (fd-relative, no symlink followed); ``check``
    sees each header first and raises to refuse it. Bytes of content written."""
    from launcher.backend.linux.copyfs import read_tar

    fd = os.open(dest, _DIR)
    ex = Extractor(fd, owner, owner or (os.getuid(), os.getgid()), where)
    try:
        for info, data in read_tar(stream):
            if check is not None:
                check(info)
            ex.add(info, data)
        ex.finish()
    finally:
        ex.close()
        os.close(fd)
    return ex.copied
