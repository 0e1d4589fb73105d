"""Trees read through file descriptors, as tar entries: the reading half of ``cp``.

Every mover in ``launcher cp`` speaks one currency, an *entry*: a
``tarfile.TarInfo`` (name, type, mode, ids, mtime, link target) and, for a
regular file, a reader of exactly ``size`` bytes. So the four ways ``cp`` moves
data are one source feeding one sink::

    walk()  (an fd tree)  ─┐            ┌─► copyextract.Extractor (an fd tree)
                           ├─ entries ──┤
    read_tar()  (stdin)   ─┘            └─► write_tar()  (stdout)

Reading never follows a symlink (SECURITY.md rule 1): each directory is opened
``O_NOFOLLOW`` relative to its parent's fd, a symlink is recorded as one, and a
file's bytes come from an fd opened ``O_NOFOLLOW|O_NONBLOCK`` and checked with
``fstat`` to be a regular file (never a FIFO or device that could block or
have side effects). Kernel file systems met below the top (proc, sysfs,
cgroup...) show as empty directories, as ``docker cp`` shows them: reading
them would read the host kernel's state (``/proc/kmsg`` even consumes it).
Hard links inside the copied tree are kept; sockets are left out (tar has
no type for them).
"""

from __future__ import annotations

import os
import stat
import tarfile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, BinaryIO, Protocol

    class Reader(Protocol):
        def read(self, n: int = -1, /) -> bytes: ...

    Entry = tuple[tarfile.TarInfo, Reader | None]

CHUNK = 1 << 20
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

# statfs(2) f_type of the file systems that hold kernel state, not files.
KERNEL_FS = {
    0x9FA0: "proc", 0x62656572: "sysfs", 0x27E0EB: "cgroup", 0x63677270: "cgroup2",
    0x1CD1: "devpts", 0x19800202: "mqueue", 0x64626720: "debugfs", 0x74726163: "tracefs",
    0x73636673: "securityfs", 0xCAFE4A11: "bpf", 0x6165676C: "pstore", 0x62656570: "configfs",
    0xDE5E81E4: "efivarfs", 0xF97CFF8C: "selinuxfs", 0x42494E4D: "binfmt_misc",
    0x65735543: "fusectl", 0x6E736673: "nsfs",
}  # fmt: skip
_statfs: list[Any] = []  # [libc's fstatfs], bound on first use


class FdReader:
    """Exactly ``size`` bytes of an open regular file (tar announced the size in
    the header): zero-padded if the file shrank meanwhile, cut if it grew."""

    __slots__ = ("fd", "left")

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.left = size

    def read(self, n: int = -1, /) -> bytes:
        want = self.left if n < 0 else min(n, self.left)
        parts: list[bytes] = []
        got = 0
        while got < want:
            chunk = os.read(self.fd, min(want - got, CHUNK))
            if not chunk:  # shrank under us: pad, so the archive stays well-formed
                parts.append(bytes(want - got))
                break
            parts.append(chunk)
            got += len(chunk)
        self.left -= want
        return b"".join(parts)


def kernel_fs(fd: int) -> str | None:
    """The name of the kernel file system ``fd`` lies on, or None for a normal one."""
    import ctypes

    if not _statfs:
        _statfs.append(ctypes.CDLL(None, use_errno=True).fstatfs)
    buf = ctypes.create_string_buffer(256)  # struct statfs: 120 bytes on 64-bit ABIs
    if _statfs[0](fd, buf) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    # f_type is the struct's first member, a C long on every 64-bit Linux ABI.
    return KERNEL_FS.get(ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF)


def walk(parent_fd: int, name: str, top: str) -> Iterator[Entry]:
    """Entries for ``name`` in the directory ``parent_fd`` (``"."``: that directory
    itself), named ``top`` in the output, and everything below it when it is a
    directory. The object itself is never followed if it is a symlink."""
    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        yield from _leaf(parent_fd, name, top, st, {})
        return
    fd = os.open(name, _DIR, dir_fd=parent_fd)
    try:
        st = os.fstat(fd)
        yield header(top, st), None
        yield from _below(fd, top, st.st_dev)
    finally:
        os.close(fd)


def _below(top_fd: int, top: str, dev: int) -> Iterator[Entry]:
    """Depth first, names sorted; one open fd per level of depth."""
    links: dict[tuple[int, int], str] = {}
    stack = [(top_fd, top, dev, iter(sorted(os.listdir(top_fd))))]
    try:
        while stack:
            fd, prefix, dev, names = stack[-1]
            name = next(names, None)
            if name is None:
                stack.pop()
                if fd != top_fd:
                    os.close(fd)
                continue
            path = f"{prefix}/{name}"
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    yield from _leaf(fd, name, path, st, links)
                    continue
                child = os.open(name, _DIR, dir_fd=fd)
            except FileNotFoundError:
                continue  # removed while we walk (a running container)
            st = os.fstat(child)
            yield header(path, st), None
            if st.st_dev != dev and kernel_fs(child):
                os.close(child)
                continue
            stack.append((child, path, st.st_dev, iter(sorted(os.listdir(child)))))
    finally:
        for fd, *_ in stack:
            if fd != top_fd:
                os.close(fd)


def _leaf(parent: int, name: str, path: str, st: os.stat_result,
          links: dict[tuple[int, int], str]) -> Iterator[Entry]:
    mode = st.st_mode
    if stat.S_ISREG(mode):
        yield from _file(parent, name, path, st, links)
        return
    info = header(path, st)
    if stat.S_ISLNK(mode):
        try:
            info.linkname = os.readlink(name, dir_fd=parent)
        except FileNotFoundError:
            return
    elif stat.S_ISSOCK(mode):
        return
    yield info, None


def _file(parent: int, name: str, path: str, st: os.stat_result,
          links: dict[tuple[int, int], str]) -> Iterator[Entry]:
    key = (st.st_dev, st.st_ino)
    if st.st_nlink > 1 and key in links:
        info = header(path, st)
        info.type, info.linkname = tarfile.LNKTYPE, links[key]
        yield info, None
        return
    try:
        fd = os.open(name, _FILE, dir_fd=parent)
    except FileNotFoundError:
        return
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return  # swapped for something else since it was listed
        if st.st_nlink > 1:
            links[(st.st_dev, st.st_ino)] = path
        info = header(path, st)
        yield info, FdReader(fd, info.size)
    finally:
        os.close(fd)


def header(name: str, st: os.stat_result) -> tarfile.TarInfo:
    """A TarInfo for what ``st`` describes (no link target, no user names)."""
    info = tarfile.TarInfo(name)
    mode = st.st_mode
    info.mode = stat.S_IMODE(mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = st.st_mtime_ns // 1_000_000_000  # whole seconds, as docker's tar has
    if stat.S_ISREG(mode):
        info.type, info.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type = tarfile.SYMTYPE
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    return info


def write_tar(entries: Iterator[Entry], out: BinaryIO) -> int:
    """Write ``entries`` to ``out`` as one uncompressed (pax) tar stream;
    returns the bytes of file content written."""
    total = 0
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,
                      encoding="utf-8", errors="surrogateescape") as tar:
        for info, data in entries:
            tar.addfile(info, data)  # tarfile only calls read(n) on it
            total += info.size if info.isreg() else 0
    return total


def read_tar(stream: Reader) -> Iterator[Entry]:
    """Entries of the tar (plain, gzip or zstd) read from ``stream``, with the
    image code's hardened header parsing (SECURITY.md rule 2); each regular
    file's reader is valid until the next entry is asked for."""
    from launcher.image import tarstream
    from launcher.image.decompress import Limits, open_stream

    # A user's own stream into their own container: no budget but a sane one
    # on expansion, so a small gzip bomb cannot fill the disk by surprise.
    plain = open_stream(stream, Limits(max_bytes=1 << 62, max_ratio=10_000))
    src = tarstream.Source(plain)
    for info, _tf in tarstream.headers(src):
        if not info.isreg():
            yield info, None
            continue
        src.seek(info.offset_data)
        yield info, _Slice(src, info.size)


class _Slice:
    """The ``size`` bytes of one member, read straight from the tar source
    (which refuses single reads larger than one chunk)."""

    __slots__ = ("left", "src")

    def __init__(self, src: Reader, size: int) -> None:
        self.src = src
        self.left = size

    def read(self, n: int = -1, /) -> bytes:
        want = min(self.left if n < 0 else n, self.left, CHUNK)
        data = self.src.read(want) if want else b""
        if len(data) < want:
            raise OSError(5, "the tar stream ended inside a file")
        self.left -= want
        return data
