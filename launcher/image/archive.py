"""Image archives: their layouts, names and limits, and reading them (save.py writes).

Two archive layouts, both Docker-compatible:

* docker-archive (``docker save``, classic)::

      manifest.json            [{"Config": "<hex>.json", "RepoTags": [...], "Layers": [...]}]
      repositories             {"busybox": {"latest": "<top layer dir>"}} (legacy readers)
      <config hex>.json        the image config
      <diff id hex>/layer.tar  each layer, an uncompressed tar

* OCI image layout (``oci-archive``: in a tar; ``oci-dir``: a directory)::

      oci-layout               {"imageLayoutVersion": "1.0.0"}
      index.json               manifests, named by annotations (REF_NAME, IMAGE_NAME)
      blobs/sha256/<hex>       manifests, configs, layers, byte for byte

Reading (SECURITY.md rule 2): ``tarfile`` only parses headers, into a table of
member name -> (offset, size, kind); contents are read as byte ranges of the
archive file, never extracted. Member names must be plain relative paths (a
``..`` component or an absolute name refuses the whole archive), and where
content is expected the member must be a regular file, not a link. A directory
layout is read fd-relative without following any symlink.

Sources (:class:`Opened`): a path (a tar, or a directory layout), ``-`` for
stdin, or a binary stream. A tar that cannot seek, or a gzip/zstd-compressed
one, is first spooled (decompressed) into an unlinked temp file.
"""

from __future__ import annotations

import os
import stat

from launcher.errors import ImageError, NotFoundError
from launcher.image import tarstream

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tarfile import TarInfo
    from typing import BinaryIO

OCI_LAYOUT = "oci-layout"
INDEX_JSON = "index.json"
MANIFEST_JSON = "manifest.json"
REPOSITORIES = "repositories"
BLOBS_DIR = "blobs/sha256"
LAYOUT_VERSION = "1.0.0"
REF_NAME = "org.opencontainers.image.ref.name"  # a tag, or a whole reference
IMAGE_NAME = "io.containerd.image.name"  # the full normalised reference (containerd, Docker)

JSON_MAX = 4 << 20  # manifest.json, index.json, image manifests
CONFIG_MAX = 8 << 20  # image configs
LAYOUT_MAX = 64 << 10  # oci-layout, repositories
MAX_MEMBERS = 100_000
MAX_NAME = 4096
CHUNK = 1 << 20
MTIME = 0  # every member written has this mtime: the same images give the same bytes


def blob_name(digest_hex: str) -> str:
    return f"{BLOBS_DIR}/{digest_hex}"


def clean_name(name: str, what: str = "archive member") -> str:
    """``name`` as a plain relative path (``./`` and empty components dropped).

    ImageError for an absolute name, a ``..`` component, a NUL or an overlong
    name. Returns ``""`` for the archive root itself (``./``).
    """
    if not isinstance(name, str) or len(name) > MAX_NAME or "\0" in name:
        raise ImageError(f"{what} has an invalid name {str(name)[:100]!r}")
    if name.startswith("/"):
        raise ImageError(f"{what} {name[:100]!r}: absolute names are not allowed")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ImageError(f"{what} {name[:100]!r}: '..' is not allowed in a name")
    return "/".join(parts)


# ---- reading


class Member:
    """One member's bytes: a bounded byte range of a file, read forward.

    ``read(n)`` returns at most ``min(n, CHUNK)`` bytes (``n < 0``: one chunk),
    as every reader of layer streams in this package expects.
    """

    __slots__ = ("_end", "_file", "_owned", "_pos", "name", "size")

    def __init__(self, f: BinaryIO, offset: int, size: int, name: str, owned: bool) -> None:
        self._file = f
        self._pos = offset
        self._end = offset + size
        self._owned = owned  # a file opened for this member alone (directory layouts)
        self.name = name
        self.size = size

    def read(self, n: int = -1) -> bytes:
        left = self._end - self._pos
        if left <= 0:
            return b""
        n = CHUNK if n < 0 else n
        self._file.seek(self._pos)  # the archive file is shared by members read in turn
        data = self._file.read(min(n, left, CHUNK))
        if not data:
            raise ImageError(f"archive member {self.name}: unexpected end of data")
        self._pos += len(data)
        return data

    def read_all(self, cap: int, what: str) -> bytes:
        if self.size > cap:
            raise ImageError(f"{what} ({self.name}) is {self.size} bytes: over the "
                             f"{cap >> 20} MiB limit")
        parts = []
        while chunk := self.read(CHUNK):
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        if self._owned:
            self._file.close()

    def __enter__(self) -> Member:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Entry:
    __slots__ = ("kind", "offset", "size")

    def __init__(self, kind: str, offset: int, size: int) -> None:
        self.kind = kind  # "file", "dir", "symlink", "hardlink" or "other"
        self.offset = offset
        self.size = size


class _SeekSource(tarstream.Source):
    """tarstream.Source over a seekable file: ``tarfile`` skips member data by
    seeking, so indexing reads headers only. Extension headers are still
    vetted by tarstream.Header (it peeks through this class)."""

    __slots__ = ("_file",)

    def __init__(self, f: BinaryIO) -> None:
        super().__init__(f)
        self._file = f

    def tell(self) -> int:
        return self._file.tell()

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > tarstream.MAX_EXT_HEADER + tarstream.BLOCK:
            raise ImageError(f"tar: refusing a single read of {n} bytes")
        data = self._file.read(n)
        self.last = data
        return data

    def peek(self, n: int) -> bytes:
        pos = self._file.tell()
        data = self._file.read(n)
        self._file.seek(pos)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)


class TarArchive:
    """The member table of a tar archive in a seekable file (not closed here)."""

    __slots__ = ("_entries", "_file")

    def __init__(self, f: BinaryIO) -> None:
        self._file = f
        self._entries = _index_tar(f)

    def has(self, name: str) -> bool:
        return clean_name(name) in self._entries

    def open(self, name: str, what: str) -> Member:
        """The content of the regular file ``name``; ImageError when it is
        missing, a link or anything but a regular file."""
        key = clean_name(name, what)
        entry = self._entries.get(key)
        if entry is None:
            raise ImageError(f"{what}: the archive has no {key!r}")
        if entry.kind != "file":
            raise ImageError(f"{what}: archive member {key!r} is a {entry.kind}, "
                             "not a regular file")
        return Member(self._file, entry.offset, entry.size, key, owned=False)

    def close(self) -> None:
        pass


def _index_tar(f: BinaryIO) -> dict[str, _Entry]:
    import tarfile

    entries: dict[str, _Entry] = {}
    end = f.seek(0, os.SEEK_END)
    f.seek(0)
    name = "(start)"
    try:
        for m, _tf in tarstream.headers(_SeekSource(f)):
            name = m.name
            _add_entry(entries, m, end)
    except (tarfile.TarError, RecursionError, UnicodeError) as exc:
        raise ImageError(f"not a valid tar archive (after member {name!r}): {exc}") from None
    return entries


def _add_entry(entries: dict[str, _Entry], m: TarInfo, end: int) -> None:
    if len(entries) >= MAX_MEMBERS:
        raise ImageError(f"archive has more than {MAX_MEMBERS} members")
    key = clean_name(m.name)
    if m.isreg():
        kind = "file"
        if m.offset_data + m.size > end:
            raise ImageError(f"archive member {key!r} is truncated")
    elif m.isdir():
        kind = "dir"
    elif m.issym():
        kind = "symlink"
    elif m.islnk():
        kind = "hardlink"
    else:
        kind = "other"
    old = entries.get(key)
    if old is not None and not (old.kind == kind == "dir"):
        raise ImageError(f"archive has more than one member named {key!r}")
    if key:
        entries[key] = _Entry(kind, m.offset_data, m.size)


class DirArchive:
    """An OCI layout in a directory, read fd-relative without following symlinks."""

    __slots__ = ("_root", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
        try:
            self._root = os.open(path, flags)
        except OSError as exc:
            raise ImageError(f"cannot open {path}: {exc.strerror}") from None

    def has(self, name: str) -> bool:
        try:
            self.open(name, "").close()
        except ImageError:
            return False
        return True

    def open(self, name: str, what: str) -> Member:
        key = clean_name(name, what)
        parts = key.split("/")
        fd = os.dup(self._root)
        try:
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
                flags |= os.O_NONBLOCK if last else os.O_DIRECTORY  # a FIFO must not block us
                try:
                    nxt = os.open(part, flags, dir_fd=fd)
                except OSError as exc:
                    raise ImageError(f"{what}: {os.path.join(self.path, key)}: "
                                     f"{exc.strerror}") from None
                os.close(fd)
                fd = nxt
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ImageError(f"{what}: {os.path.join(self.path, key)} is not a regular file")
            f = os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise
        return Member(f, 0, st.st_size, key, owned=True)

    def close(self) -> None:
        if self._root >= 0:
            os.close(self._root)
            self._root = -1


def anonymous_file(tmp_dir: str, kind: str) -> BinaryIO:
    """A read-write temporary file in ``tmp_dir``, unlinked at once: nothing is
    left behind whatever happens to this process (the name follows the store's
    ``kind-PID-random`` convention for the instant it exists)."""
    path = os.path.join(tmp_dir, f"{kind}-{os.getpid()}-{os.urandom(6).hex()}")
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    try:
        os.unlink(path)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "w+b")


# ---- opening a source


class Opened:
    """The archive behind ``source``; closes what it opened, spool included."""

    __slots__ = ("_archive", "_files", "source", "tmp_dir")

    def __init__(self, source: BinaryIO | str, tmp_dir: str) -> None:
        self.tmp_dir = tmp_dir  # where a spool file may go (the store's tmp/)
        self.source = source
        self._files: list[BinaryIO] = []
        self._archive: Archive | None = None

    def __enter__(self) -> Archive:
        try:
            self._archive = self._open()
        except BaseException:
            self.__exit__()
            raise
        return self._archive

    def __exit__(self, *exc: object) -> None:
        if self._archive is not None:
            self._archive.close()
        for f in self._files:
            f.close()

    def _open(self) -> Archive:
        src = self.source
        if src == "-":
            import sys

            return TarArchive(self._seekable(sys.stdin.buffer))
        if isinstance(src, str):
            if os.path.isdir(src):
                return DirArchive(src)
            try:
                f = open(src, "rb")  # noqa: SIM115 - closed by __exit__
            except FileNotFoundError:
                raise NotFoundError(f"load: {src}: no such file") from None
            self._files.append(f)
            src = f
        return TarArchive(self._seekable(src))

    def _seekable(self, stream: BinaryIO) -> BinaryIO:
        """``stream`` itself when it is a plain tar we can seek from its start;
        else its (decompressed) bytes spooled into an unlinked temp file."""
        from launcher.image import decompress

        try:
            seekable = stream.seekable() and stream.tell() == 0
        except (OSError, ValueError):
            seekable = False
        if seekable:
            head = stream.read(6)
            stream.seek(0)
            if decompress.sniff(head) == decompress.NONE:
                return stream
        spool = anonymous_file(self.tmp_dir, "load")
        self._files.append(spool)
        plain = decompress.open_stream(stream)
        while data := plain.read(CHUNK):
            spool.write(data)
        spool.flush()
        spool.seek(0)
        return spool


if TYPE_CHECKING:
    Archive = TarArchive | DirArchive
