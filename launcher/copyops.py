"""``launcher cp``: Docker's copy between a container and the host.

    launcher cp [-a] [-L] CONTAINER:SRC_PATH DEST_PATH|-
    launcher cp [-a] [-L] SRC_PATH|- CONTAINER:DEST_PATH

Each side is an :class:`End`: a root directory fd and a path inside it. For the
container the root is its whole filesystem (``copyroot``: ``/proc/<pid>/root``
when it runs, its overlay and volumes in a private mount namespace when it
does not); for the host it is ``/`` (a relative path starts at the cwd). Both
are resolved the same way, with ``openat2(RESOLVE_IN_ROOT)`` from the root fd,
so a symlink in the container never leads to the host; below the resolved
source and destination, ``copyfs``/``copyextract`` follow no symlink at all.

Docker's rules (``plan``), SRC and DEST after their symlinks are resolved:

* SRC a file: DEST missing → written as DEST (its parent must exist), unless
  DEST ends in ``/`` (error: no such directory); DEST a file → overwritten;
  DEST a directory → copied into it under SRC's name.
* SRC a directory: DEST missing → created with SRC's content; DEST a file →
  error; DEST a directory → SRC copied into it, or with SRC ending in ``/.``
  only SRC's content.
* A final symlink in SRC is copied as a symlink unless ``-L`` (or a trailing
  ``/`` or ``/.``); under ``-L`` it keeps the link's name. A final symlink in
  DEST is followed (inside the container's root).
* ``-`` as SRC: a tar stream on stdin extracted into DEST, which must be a
  directory; as DEST: SRC as a tar stream on stdout.
* Owners: files copied into a container belong to its root (uid/gid 0), out
  of it to the invoking user; ``-a`` keeps the source's uid/gid.
"""

from __future__ import annotations

import errno
import os
import stat

from launcher.cpargs import split_arg
from launcher.errors import LauncherError, NotFoundError, RuntimeFailure, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import BinaryIO

    from launcher.backend.linux.copyfs import Entry, Reader
    from launcher.paths import Paths
    from launcher.spec.model import IDMapping, Spec

    Ids = tuple[int, int]

MAX_SYMLINKS = 40
_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


class CopyOptions:
    __slots__ = ("archive", "follow_link")

    def __init__(self, archive: bool = False, follow_link: bool = False) -> None:
        self.archive = archive  # -a: keep the source's uid/gid
        self.follow_link = follow_link  # -L: follow a symlink SRC_PATH itself


class End:
    """One side of a copy: ``root`` (a directory fd), ``typed`` (the path as the
    user wrote it), its cleaned components ``parts``, and whether it ends in
    ``/.`` (``dot``) or ``/`` (``slash``). ``container``: its ref, "" for the host."""

    __slots__ = ("container", "dot", "parts", "root", "slash", "typed")

    def __init__(self, root: int, typed: str, container: str = "") -> None:
        self.root = root
        self.typed = typed
        self.container = container
        full = os.path.normpath(os.path.join("/" if container else os.getcwd(), typed))
        self.parts = [p for p in full.split("/") if p]  # normpath left no "." or ".."
        self.dot = typed == "." or typed.endswith("/.")
        self.slash = typed.endswith("/")

    def path(self, parts: list[str] | None = None) -> str:
        return "/" + "/".join(self.parts if parts is None else parts)

    def describe(self) -> str:
        return f"{self.container}:{self.typed}" if self.container else self.path()

    def not_found(self, parts: list[str] | None = None) -> NotFoundError:
        if self.container:
            what = self.typed if parts is None else self.path(parts)
            return NotFoundError(f"Could not find the file {what} in container {self.container}")
        return NotFoundError(f"lstat {self.path(parts)}: no such file or directory")


class Result:
    __slots__ = ("dest", "size")

    def __init__(self, size: int, dest: str) -> None:
        self.size = size  # bytes of file content copied
        self.dest = dest  # where to, as Docker's summary line names it


def copy(paths: Paths, src: str, dst: str, opts: CopyOptions,
         stdin: Reader | None = None, stdout: BinaryIO | None = None) -> Result:
    """``launcher cp SRC DST``; ``stdin``/``stdout`` carry the ``-`` tar streams."""
    from launcher.backend.linux import containers, copyroot
    from launcher.backend.select import require_native

    if not src:
        raise UsageError("source can not be empty")
    if not dst:
        raise UsageError("destination can not be empty")
    src_ref, src_path = split_arg(src)
    dst_ref, dst_path = split_arg(dst)
    if src_ref and dst_ref:
        raise UsageError("copying between containers is not supported")
    if not src_ref and not dst_ref:
        raise UsageError("must specify at least one container source")
    require_native()
    ref = src_ref or dst_ref
    c = containers.find(paths, ref)
    with copyroot.open_root(paths, c, ref) as root, _HostRoot() as host:
        if src_ref:
            return copy_out(End(root.fd, src_path, ref), dst_path, host.fd, opts, stdout)
        return copy_in(src_path, End(root.fd, dst_path, ref), host.fd, opts, stdin,
                       root_ids(root.spec))


def copy_out(src: End, dst_path: str, host_root: int, opts: CopyOptions,
             out: BinaryIO | None) -> Result:
    """Container (``src``) → host path or ``-`` (a tar on ``out``)."""
    from launcher.backend.linux.copyfs import walk, write_tar

    mine = (os.getuid(), os.getgid())
    parent, name, st, top = source(src, opts.follow_link)
    try:
        if dst_path == "-":
            assert out is not None
            return Result(write_tar(walk(parent, name, top), out), "-")
        dst = End(host_root, dst_path)
        size = _copy_tree(parent, name, top, stat.S_ISDIR(st.st_mode), dst,
                          None if opts.archive else mine, mine)
        return Result(size, dst.path() + ("/" if dst.slash and dst.parts else ""))
    finally:
        os.close(parent)


def copy_in(src_path: str, dst: End, host_root: int, opts: CopyOptions,
            stdin: Reader | None, root: Ids = (0, 0)) -> Result:
    """Host path or ``-`` (a tar on ``stdin``) → container (``dst``); ``root``:
    the host ids of the container's root user."""
    owner = None if opts.archive else root
    if src_path == "-":
        assert stdin is not None
        return Result(_extract_stream(stdin, dst, owner, root), dst.describe())
    parent, name, st, top = source(End(host_root, src_path), opts.follow_link)
    try:
        size = _copy_tree(parent, name, top, stat.S_ISDIR(st.st_mode), dst, owner, root)
    finally:
        os.close(parent)
    return Result(size, dst.describe())


def source(end: End, follow: bool) -> tuple[int, str, os.stat_result, str]:
    """(parent fd, name, lstat, name in the copy) of a copy source, which must exist."""
    from launcher.backend.linux.copyfs import kernel_fs

    parent, name, st = resolve_final(end, end.parts, follow or end.dot or end.slash)
    try:
        if st is None:
            raise end.not_found(None)
        if (end.dot or end.slash) and not stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{end.describe()}: not a directory")
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            fs = kernel_fs(fd)
        finally:
            os.close(fd)
        if fs:
            raise LauncherError(f"cannot copy {end.describe()}: it is on {fs}, a kernel "
                                "file system (use exec with tar to read it)")
    except BaseException:
        os.close(parent)
        raise
    top = "." if end.dot or not end.parts else end.parts[-1]
    return parent, name, st, top


def resolve_final(end: End, parts: list[str], follow: bool
                  ) -> tuple[int, str, os.stat_result | None]:
    """(fd of the parent directory, final name, its lstat or None if missing) of
    ``parts`` in ``end.root``. With ``follow`` a final symlink is followed, each
    hop resolved in the root again (an absolute target starts at the root, a
    ``..`` cannot climb above it). Name ``"."``: the parent is the object."""
    from launcher.image import resolve

    for hop in range(MAX_SYMLINKS + 1):
        try:
            if not parts or parts[-1] == "..":
                fd = resolve.open_in_root(end.root, parts, _PATH_DIR)
                return fd, ".", os.fstat(fd)
            parent = resolve.open_in_root(end.root, parts[:-1], _PATH_DIR)
        except OSError as exc:  # after a hop, name what the user typed, not the link's path
            raise _missing(end, None if hop else parts[:-1], exc) from None
        try:
            st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
            if not (follow and stat.S_ISLNK(st.st_mode)):
                return parent, parts[-1], st
            target = os.readlink(parts[-1], dir_fd=parent)
        except FileNotFoundError:
            return parent, parts[-1], None
        except BaseException:
            os.close(parent)
            raise
        os.close(parent)  # a hop: the next round opens the target's parent
        more = [p for p in target.split("/") if p and p != "."]
        parts = more if target.startswith("/") else parts[:-1] + more
    raise LauncherError(f"{end.describe()}: too many levels of symbolic links")


def plan(dst: End, parent: int, name: str, st: os.stat_result | None, src_is_dir: bool,
         top: str) -> tuple[int, str]:
    """Where a source of kind ``src_is_dir`` named ``top`` goes, given what the
    destination (``parent``, ``name``, ``st``: see ``resolve_final``) is: the
    directory fd to extract into (``parent`` or a new fd) and the name to give
    the source there (Docker's ``PrepareArchiveCopy``)."""
    if st is not None and stat.S_ISDIR(st.st_mode):
        if name == ".":
            return parent, top
        return os.open(name, _PATH_DIR | os.O_NOFOLLOW, dir_fd=parent), top
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f'destination "{dst.describe()}" must be a directory or a '
                             "regular file")
        if dst.dot or dst.slash:
            raise UsageError(f"{dst.describe()}: not a directory")
        if src_is_dir:
            raise UsageError(f"cannot copy a directory to a file: {dst.describe()} is a file")
        return parent, name  # a file over a file
    if not src_is_dir and (dst.dot or dst.slash):
        raise NotFoundError(f"no such directory: {dst.describe()}")
    return parent, name  # created, under the destination's name


def _copy_tree(parent: int, name: str, top: str, src_is_dir: bool, dst: End,
               owner: Ids | None, parent_owner: Ids) -> int:
    from launcher.backend.linux.copyfs import walk

    dparent, dname, dst_st = resolve_final(dst, dst.parts, True)
    into = dparent
    try:
        into, top = plan(dst, dparent, dname, dst_st, src_is_dir, top)
        where = dst.describe() if into != dparent or dname == "." else _parent_of(dst)
        return _extract(walk(parent, name, top), into, owner, parent_owner, where, dst)
    except OSError as exc:
        raise _write_error(dst, exc) from exc
    finally:
        if into != dparent:
            os.close(into)
        os.close(dparent)


def _extract_stream(stream: Reader, dst: End, owner: Ids | None, parent_owner: Ids) -> int:
    """A tar stream into the directory ``dst`` (which must exist)."""
    from launcher.backend.linux.copyfs import read_tar

    parent, name, st = resolve_final(dst, dst.parts, True)
    into = parent
    try:
        if st is None or not stat.S_ISDIR(st.st_mode):
            raise UsageError(f'destination "{dst.describe()}" must be a directory')
        if name != ".":
            into = os.open(name, _PATH_DIR | os.O_NOFOLLOW, dir_fd=parent)
        return _extract(read_tar(stream), into, owner, parent_owner, dst.describe(), dst)
    except OSError as exc:
        raise _write_error(dst, exc) from exc
    finally:
        if into != parent:
            os.close(into)
        os.close(parent)


def _extract(entries: Iterable[Entry], into: int, owner: Ids | None, parent_owner: Ids,
             where: str, dst: End) -> int:
    """Apply ``entries`` in the directory fd ``into``; the bytes of content copied.
    ``where`` names ``into`` in the Extractor's errors."""
    from launcher.backend.linux.copyextract import Extractor
    from launcher.backend.linux.copyfs import kernel_fs

    fs = kernel_fs(into)
    if fs:
        raise LauncherError(f"cannot copy to {dst.describe()}: it is on {fs}, a kernel "
                            "file system")
    ex = Extractor(into, owner, parent_owner, where)
    try:
        for info, data in entries:
            ex.add(info, data)
        ex.finish()
    finally:
        ex.close()
    return ex.copied


def _parent_of(end: End) -> str:
    path = end.path(end.parts[:-1])
    return f"{end.container}:{path}" if end.container else path


def _missing(end: End, parts: list[str] | None, exc: OSError) -> LauncherError:
    """A directory on the way to ``end`` (``parts``, None: somewhere on the
    way) could not be opened."""
    if exc.errno == errno.ENOENT:
        if end.container or parts is None:
            return end.not_found(parts)
        return NotFoundError(f"no such directory: {end.path(parts)}")
    if exc.errno == errno.ENOTDIR:
        where = end.describe() if parts is None else end.path(parts)
        prefix = f"{end.container}:" if end.container and parts is not None else ""
        return UsageError(f"{prefix}{where}: not a directory")
    if exc.errno == errno.ELOOP:
        return LauncherError(f"{end.describe()}: too many levels of symbolic links, or a "
                             "/proc magic link (never followed)")
    return RuntimeFailure(f"{end.describe()}: {exc.strerror or exc}")


def _write_error(dst: End, exc: OSError) -> LauncherError:
    """An OSError met while copying to ``dst``, in one line."""
    if exc.errno == errno.EROFS:
        why = (" (a read-only volume, or a container run with --read-only)"
               if dst.container else "")
        return RuntimeFailure(f"cannot copy to {dst.describe()}: read-only file system{why}")
    where = exc.filename if isinstance(exc.filename, str) else dst.describe()
    return RuntimeFailure(f"cannot copy to {where}: {exc.strerror or exc}")


def root_ids(spec: Spec) -> Ids:
    """The host uid/gid of the container's root user (0/0 without a user namespace)."""
    linux = spec.linux
    if linux is None:
        return 0, 0
    return _host_id(linux.uid_mappings, "uid"), _host_id(linux.gid_mappings, "gid")


def _host_id(maps: list[IDMapping] | None, what: str) -> int:
    from launcher.errors import UnsupportedError

    if not maps:
        return 0
    for m in maps:
        start, host, size = m.container_id or 0, m.host_id or 0, m.size or 0
        if start <= 0 < start + size:
            return host - start
    raise UnsupportedError(f"the container's user namespace maps no {what} 0: "
                           "cannot tell who its root user is")


class _HostRoot:
    """An fd of the host's ``/``: host paths resolve from it like container ones."""

    __slots__ = ("fd",)

    def __enter__(self) -> _HostRoot:
        self.fd = os.open("/", _PATH_DIR)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)
