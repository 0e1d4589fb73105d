"""The per-entry half of layer unpacking: each tar member applied fd-relative.

Every entry is created with ``dir_fd=`` calls on a parent directory resolved
*inside* the layer root (resolve.py); parents are cached one at a time (tar
streams list siblings together) and the cache is dropped on every removal.
Kinds: regular files, directories, symlinks (targets stored verbatim, never
followed here), hard links (target resolved in the root, must be a regular
file), char/block devices (root only; skipped rootless), FIFOs, and OCI
whiteouts turned into overlayfs ones. Ownership before mode (chown clears
setuid), then xattrs, then times.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time

from launcher.errors import ImageError
from launcher.image import resolve, tarstream
from launcher.image.decompress import CHUNK, Limits

TYPE_CHECKING = False
if TYPE_CHECKING:
    import tarfile

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
# xattrs a layer may carry; trusted.overlay.* above all must never come from an image
XATTR_ALLOWED = (
    "user.",
    "security.capability",
    "system.posix_acl_access",
    "system.posix_acl_default",
)
MAX_ID = 2**32 - 2
MAX_MTIME_NS = (2**63 - 1) * 1_000_000_000  # utime wants the seconds in a time_t
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_OPEN = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Stats:
    """What an unpack did (for tests, benchmarks and ``inspect``)."""

    __slots__ = ("bytes", "entries", "skipped_devices", "whiteouts")

    def __init__(self) -> None:
        self.entries = 0
        self.bytes = 0
        self.whiteouts = 0
        self.skipped_devices = 0


class Applier:
    """Applies entries under ``root``; caches the fd of the last parent dir."""

    __slots__ = (
        "_cfd",
        "_ckey",
        "_deadline",
        "_dirs",
        "_limits",
        "_privileged",
        "_root",
        "_root_meta",
        "stats",
    )

    def __init__(self, root: int, limits: Limits) -> None:
        self._root = root
        self._limits = limits
        self._privileged = os.geteuid() == 0
        self._deadline = time.monotonic() + limits.max_seconds
        self._ckey: tuple[str, ...] | None = None
        self._cfd = -1
        self._dirs: dict[tuple[str, ...], tuple[int, int]] = {}
        self._root_meta = (0o755, -1)  # a layer without "./" still gets a 0755 root
        self.stats = Stats()

    def close(self) -> None:
        if self._cfd >= 0:
            os.close(self._cfd)
            self._cfd = -1

    # ---- one entry
    def entry(self, m: tarfile.TarInfo, tf: tarfile.TarFile) -> None:
        name = m.name
        st = self.stats
        st.entries += 1
        if st.entries > self._limits.max_entries:
            raise ImageError(f"layer has more than {self._limits.max_entries} entries")
        if st.entries & 0xFF == 0 and time.monotonic() > self._deadline:
            raise ImageError(f"layer unpack took longer than {self._limits.max_seconds:.0f} s")
        if len(name) > self._limits.max_name:
            raise _err(name, "name too long")
        if "\0" in name:  # openat2 through ctypes would cut the path there, not refuse it
            raise _err(name, "NUL byte in the name")
        parts = resolve.split(name)
        if parts is None:
            raise _err(name, "'..' in the path")
        try:
            self._dispatch(m, tf, parts)
        except OSError as exc:
            raise _err(name, exc.strerror or str(exc)) from None
        except (ValueError, OverflowError) as exc:
            raise _err(name, str(exc)) from None

    def _dispatch(self, m: tarfile.TarInfo, tf: tarfile.TarFile, parts: list[str]) -> None:
        if not parts:
            if not m.isdir():
                raise _err(m.name, "names the layer root but is not a directory")
            self._own(m, self._root)
            self._xattrs(m, self._root)
            self._root_meta = (m.mode & 0o7777, _mtime_ns(m))
            return
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(m, parts)
            return
        if any(p.startswith(WHITEOUT_META_PREFIX) for p in parts):
            return  # aufs bookkeeping (.wh..wh.plnk/...): ignored, as docker does
        parent = self._parent(parts[:-1], m.name)
        if m.isreg():
            self._file(m, tf, parent, base)
        elif m.isdir():
            self._dir(m, parent, base, parts)
        elif m.issym():
            self._symlink(m, parent, base)
        elif m.islnk():
            self._hardlink(m, parent, base, parts)
        elif m.ischr() or m.isblk() or m.isfifo():
            self._node(m, parent, base)
        else:
            raise _err(m.name, f"unsupported tar entry type {m.type!r}")

    # ---- entry kinds
    def _file(self, m: tarfile.TarInfo, tf: tarfile.TarFile, parent: int, base: str) -> None:
        try:
            fd = os.open(base, _NEW_FILE, 0o600, dir_fd=parent)
        except FileExistsError:
            self._clear(parent, base)
            fd = os.open(base, _NEW_FILE, 0o600, dir_fd=parent)
        try:
            if m.size:
                self._copy(m, tf, fd)
            self._own(m, fd)
            os.fchmod(fd, m.mode & 0o7777)  # after chown, which clears setuid/setgid
            self._xattrs(m, fd)
            mt = _mtime_ns(m)
            os.utime(fd, ns=(mt, mt))
        finally:
            os.close(fd)

    def _copy(self, m: tarfile.TarInfo, tf: tarfile.TarFile, fd: int) -> None:
        # What extractfile() would return, read straight from our Source: sparse
        # members are refused (tarstream.Header), so a regular member's data is
        # exactly `size` contiguous bytes at `offset_data`. This skips extractfile's
        # two wrapper objects and one copy per file: after tarfile's own header
        # parsing, that was the largest per-file cost on layers of small files.
        src = tf.fileobj
        if not isinstance(src, tarstream.Source):  # pragma: no cover - we always pass one
            raise _err(m.name, "unexpected reader")
        src.seek(m.offset_data)
        left = m.size
        while left > 0:
            chunk = src.read(min(left, CHUNK))
            if not chunk:
                raise _err(m.name, "unexpected end of data")
            left -= len(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        self.stats.bytes += m.size

    def _dir(self, m: tarfile.TarInfo, parent: int, base: str, parts: list[str]) -> None:
        try:
            os.mkdir(base, 0o700, dir_fd=parent)
        except FileExistsError:
            if not self._clear(parent, base, keep_dir=True):
                os.mkdir(base, 0o700, dir_fd=parent)
        fd = os.open(base, _DIR_OPEN, dir_fd=parent)
        try:
            self._own(m, fd)
            self._xattrs(m, fd)
        finally:
            os.close(fd)
        self._dirs[tuple(parts)] = (m.mode & 0o7777, _mtime_ns(m))

    def _symlink(self, m: tarfile.TarInfo, parent: int, base: str) -> None:
        if not m.linkname or "\0" in m.linkname:
            raise _err(m.name, "empty or invalid symlink target")
        try:
            os.symlink(m.linkname, base, dir_fd=parent)
        except FileExistsError:
            self._clear(parent, base)
            os.symlink(m.linkname, base, dir_fd=parent)
        if self._privileged:
            _check_ids(m)
            os.chown(base, m.uid, m.gid, dir_fd=parent, follow_symlinks=False)
        mt = _mtime_ns(m)
        os.utime(base, ns=(mt, mt), dir_fd=parent, follow_symlinks=False)

    def _hardlink(self, m: tarfile.TarInfo, parent: int, base: str, parts: list[str]) -> None:
        if "\0" in m.linkname:
            raise _err(m.name, "NUL byte in the hard link target")
        target = resolve.split(m.linkname)
        if not target:
            raise _err(m.name, f"hard link target {m.linkname!r} is the root or has '..'")
        if target == parts:
            raise _err(m.name, "hard link to itself")
        tdir = resolve.open_dir_in_root(self._root, target[:-1])
        try:
            tst = os.stat(target[-1], dir_fd=tdir, follow_symlinks=False)
            if not stat.S_ISREG(tst.st_mode):
                raise _err(m.name, f"hard link target {m.linkname!r} is not a regular file")
            try:
                os.link(target[-1], base, src_dir_fd=tdir, dst_dir_fd=parent, follow_symlinks=False)
            except FileExistsError:
                cur = os.stat(base, dir_fd=parent, follow_symlinks=False)
                if (cur.st_dev, cur.st_ino) == (tst.st_dev, tst.st_ino):
                    return
                self._clear(parent, base)
                os.link(target[-1], base, src_dir_fd=tdir, dst_dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(tdir)

    def _node(self, m: tarfile.TarInfo, parent: int, base: str) -> None:
        if m.isfifo():
            kind, dev = stat.S_IFIFO, 0
        else:
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
            dev = os.makedev(m.devmajor, m.devminor)
            if not self._privileged:
                self.stats.skipped_devices += 1  # rootless: device nodes cannot be made
                return
        try:
            os.mknod(base, kind | 0o600, dev, dir_fd=parent)
        except FileExistsError:
            self._clear(parent, base)
            os.mknod(base, kind | 0o600, dev, dir_fd=parent)
        if self._privileged:
            _check_ids(m)
            os.chown(base, m.uid, m.gid, dir_fd=parent, follow_symlinks=False)
        # just created by us and not a symlink: fchmodat without NOFOLLOW is exact
        os.chmod(base, m.mode & 0o7777, dir_fd=parent)
        mt = _mtime_ns(m)
        os.utime(base, ns=(mt, mt), dir_fd=parent, follow_symlinks=False)

    def _whiteout(self, m: tarfile.TarInfo, parts: list[str]) -> None:
        base = parts[-1]
        if base == OPAQUE_MARKER:
            fd = self._parent(parts[:-1], m.name)
            _set_trusted_xattr(fd, OPAQUE_XATTR, b"y", m.name)
            self.stats.whiteouts += 1
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return  # other aufs metadata
        hidden = base[len(WHITEOUT_PREFIX) :]
        if hidden in ("", ".", ".."):
            raise _err(m.name, "invalid whiteout")
        parent = self._parent(parts[:-1], m.name)
        dev = os.makedev(0, 0)
        try:
            try:
                os.mknod(hidden, stat.S_IFCHR, dev, dir_fd=parent)
            except FileExistsError:
                self._clear(parent, hidden)
                os.mknod(hidden, stat.S_IFCHR, dev, dir_fd=parent)
        except PermissionError:
            raise _err(
                m.name, "cannot create an overlay whiteout (needs root or Linux 5.8+)"
            ) from None
        self.stats.whiteouts += 1

    # ---- helpers
    def _parent(self, parts: list[str], name: str) -> int:
        key = tuple(parts)
        if key == self._ckey:
            return self._cfd
        self.close()
        self._ckey = None
        try:
            self._cfd = self._ensure_dir(parts)
        except OSError as exc:
            raise _err(name, f"parent directory: {exc.strerror or exc}") from None
        self._ckey = key
        return self._cfd

    def _ensure_dir(self, parts: list[str]) -> int:
        """fd of directory ``parts`` (resolved in root), creating missing ones 0755."""
        try:
            return resolve.open_dir_in_root(self._root, parts)
        except FileNotFoundError:
            if not parts:
                raise
        pfd = self._ensure_dir(parts[:-1])
        try:
            # EEXIST: a dangling symlink, on which the open below fails with ELOOP
            with contextlib.suppress(FileExistsError):
                os.mkdir(parts[-1], 0o755, dir_fd=pfd)
            fd = os.open(parts[-1], _DIR_OPEN, dir_fd=pfd)
        finally:
            os.close(pfd)
        os.fchmod(fd, 0o755)  # whatever the umask
        return fd

    def _clear(self, parent: int, base: str, keep_dir: bool = False) -> bool:
        """Remove ``base`` (a directory tree too, unless ``keep_dir``); True if kept."""
        try:
            st = os.stat(base, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            import shutil

            shutil.rmtree(base, dir_fd=parent)  # fd-based, never follows symlinks
        else:
            os.unlink(base, dir_fd=parent)
        self._ckey = None  # a removal may change what a cached path resolves to
        return False

    def _own(self, m: tarfile.TarInfo, fd: int) -> None:
        if self._privileged:
            _check_ids(m)
            os.fchown(fd, m.uid, m.gid)

    def _xattrs(self, m: tarfile.TarInfo, fd: int) -> None:
        for key, value in m.pax_headers.items():
            if not key.startswith("SCHILY.xattr."):
                continue
            attr = key[len("SCHILY.xattr.") :]
            if not attr.startswith(XATTR_ALLOWED):
                continue
            raw = value.encode("utf-8", "surrogateescape")
            try:
                os.setxattr(fd, attr, raw)
            except OSError as exc:
                # the filesystem may not take xattrs; unprivileged, security.* is refused
                if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
                    continue
                if exc.errno == errno.EPERM and not self._privileged:
                    continue
                raise

    def finish(self) -> None:
        """Directory modes and mtimes, now that no child will be added."""
        for parts, (mode, mtime) in self._dirs.items():
            self._dir_final(list(parts), mode, mtime)
        self._dir_final([], *self._root_meta)

    def _dir_final(self, parts: list[str], mode: int, mtime: int) -> None:
        try:
            fd = resolve.open_in_root(self._root, parts, _DIR_OPEN)
        except OSError:
            return  # replaced by a later entry
        try:
            os.fchmod(fd, mode)
            if mtime >= 0:
                os.utime(fd, ns=(mtime, mtime))
        finally:
            os.close(fd)


def _err(name: str, why: str) -> ImageError:
    return ImageError(f"layer entry {name!r}: {why}")


def _check_ids(m: tarfile.TarInfo) -> None:
    if not (0 <= m.uid <= MAX_ID and 0 <= m.gid <= MAX_ID):
        raise _err(m.name, f"uid/gid {m.uid}:{m.gid} out of range")


def _mtime_ns(m: tarfile.TarInfo) -> int:
    # a pax mtime may be any decimal; the kernel clamps to what the filesystem holds
    return min(max(int(m.mtime * 1_000_000_000), 0), MAX_MTIME_NS)


def _set_trusted_xattr(fd: int, attr: str, value: bytes, name: str) -> None:
    try:
        os.setxattr(fd, attr, value)
    except OSError as exc:
        raise _err(name, f"cannot set {attr} ({exc.strerror}; needs root)") from None
