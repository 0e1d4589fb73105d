"""Build layer tars in memory (tarfile as a writer is fine in tests)."""

from __future__ import annotations

import gzip
import io
import os
import tarfile

MTIME = 1_600_000_000


class TarBuilder:
    """Append entries, then ``data()`` for the archive bytes."""

    def __init__(self, fmt: int = tarfile.PAX_FORMAT) -> None:
        self._buf = io.BytesIO()
        # closed by data()
        self._tf = tarfile.open(fileobj=self._buf, mode="w", format=fmt)  # noqa: SIM115

    def _info(self, name: str, kind: bytes, mode: int, **kw: object) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.type = kind
        ti.mode = mode
        ti.mtime = MTIME
        ti.uid = os.getuid()
        ti.gid = os.getgid()
        for key, value in kw.items():
            setattr(ti, key, value)
        return ti

    def dir(self, name: str, mode: int = 0o755, **kw: object) -> TarBuilder:
        self._tf.addfile(self._info(name, tarfile.DIRTYPE, mode, **kw))
        return self

    def file(self, name: str, data: bytes = b"", mode: int = 0o644, **kw: object) -> TarBuilder:
        ti = self._info(name, tarfile.REGTYPE, mode, **kw)
        ti.size = len(data)
        self._tf.addfile(ti, io.BytesIO(data))
        return self

    def symlink(self, name: str, target: str, **kw: object) -> TarBuilder:
        self._tf.addfile(self._info(name, tarfile.SYMTYPE, 0o777, linkname=target, **kw))
        return self

    def link(self, name: str, target: str) -> TarBuilder:
        self._tf.addfile(self._info(name, tarfile.LNKTYPE, 0o644, linkname=target))
        return self

    def fifo(self, name: str, mode: int = 0o644) -> TarBuilder:
        self._tf.addfile(self._info(name, tarfile.FIFOTYPE, mode))
        return self

    def chr(self, name: str, major: int, minor: int, mode: int = 0o666) -> TarBuilder:
        kw = {"devmajor": major, "devminor": minor}
        self._tf.addfile(self._info(name, tarfile.CHRTYPE, mode, **kw))
        return self

    def blk(self, name: str, major: int, minor: int, mode: int = 0o660) -> TarBuilder:
        kw = {"devmajor": major, "devminor": minor}
        self._tf.addfile(self._info(name, tarfile.BLKTYPE, mode, **kw))
        return self

    def add(self, ti: tarfile.TarInfo, data: bytes | None = None) -> TarBuilder:
        self._tf.addfile(ti, io.BytesIO(data) if data is not None else None)
        return self

    def data(self) -> bytes:
        self._tf.close()
        return self._buf.getvalue()

    def gz(self) -> bytes:
        return gzip.compress(self.data(), mtime=0)
