"""Archive writers for ``launcher save``: a tar stream or a directory, same calls.

Both take members in order: ``add_dir``, ``add_bytes`` (small documents),
``add_stream`` (a blob of known size, copied in archive.CHUNK pieces), then
``close``. TarWriter makes output deterministic (mtime 0, root-owned, fixed
modes, PAX headers); DirWriter creates files fd-relative under a new
directory, never following a link.
"""

from __future__ import annotations

import os

from launcher.errors import ImageError
from launcher.image import archive as ar

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    from launcher.image.digest import Reader


class TarWriter:
    """A tar stream with fixed metadata (mtime 0, root-owned, 0644/0755)."""

    __slots__ = ("_out", "_pos")

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._pos = 0

    def add_dir(self, name: str) -> None:
        self._header(name + "/", 0, dir=True)

    def add_bytes(self, name: str, data: bytes) -> None:
        self._header(name, len(data))
        self._write(data)
        self._pad()

    def add_stream(self, name: str, size: int, src: Reader) -> None:
        """``size`` bytes of ``src`` as the member ``name`` (ImageError if it has
        fewer or more: the header is already written)."""
        self._header(name, size)
        left = size
        while left > 0:
            data = src.read(min(left, ar.CHUNK))
            if not data:
                raise ImageError(f"{name}: source ended {left} bytes early")
            self._write(data)
            left -= len(data)
        if src.read(1):
            raise ImageError(f"{name}: source is longer than {size} bytes")
        self._pad()

    def close(self) -> None:
        """Two zero blocks end the archive; pad to a whole 10 KiB record as tar does."""
        self._write(b"\0" * 1024)
        self._write(b"\0" * (-self._pos % 10240))
        self._out.flush()

    def _header(self, name: str, size: int, dir: bool = False) -> None:
        import tarfile

        ti = tarfile.TarInfo(name)
        ti.size = size
        ti.type = tarfile.DIRTYPE if dir else tarfile.REGTYPE
        ti.mode = 0o755 if dir else 0o644
        ti.mtime = ar.MTIME
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        self._write(ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def _pad(self) -> None:
        self._write(b"\0" * (-self._pos % 512))

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._pos += len(data)


class DirWriter:
    """Files under a new directory (created by the caller), fd-relative."""

    __slots__ = ("_root",)

    def __init__(self, path: str) -> None:
        self._root = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)

    def add_dir(self, name: str) -> None:
        os.mkdir(name, 0o755, dir_fd=self._root)

    def add_bytes(self, name: str, data: bytes) -> None:
        with self._create(name) as f:
            f.write(data)

    def add_stream(self, name: str, size: int, src: Reader) -> None:
        with self._create(name) as f:
            left = size
            while left > 0:
                data = src.read(min(left, ar.CHUNK))
                if not data:
                    raise ImageError(f"{name}: source ended {left} bytes early")
                f.write(data)
                left -= len(data)

    def close(self) -> None:
        if self._root >= 0:
            os.close(self._root)
            self._root = -1

    def _create(self, name: str) -> BinaryIO:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        return os.fdopen(os.open(name, flags, 0o644, dir_fd=self._root), "wb")
