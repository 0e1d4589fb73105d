"""Layer tars for test images: entries built in code, written deterministically.

Build entries with :func:`file`, :func:`dir_`, :func:`symlink`, :func:`hardlink`,
:func:`whiteout`, :func:`opaque`, :func:`device` and :func:`fifo`; :func:`layer_tar`
makes the tar (fixed mtime, no user names) and :func:`compress` the layer blob
(gzip with a zero mtime, or zstd). ocibuild.py re-exports all of these.
"""

from __future__ import annotations

import gzip
import io
import tarfile

MTIME = 1_600_000_000


class Entry:
    """One tar member of a layer. Names are relative (``bin/sh``); a leading ``/`` is dropped."""

    __slots__ = ("data", "devmajor", "devminor", "gid", "kind", "linkname", "mode", "name", "uid")

    def __init__(
        self,
        name: str,
        kind: bytes,
        mode: int,
        *,
        data: bytes = b"",
        linkname: str = "",
        uid: int = 0,
        gid: int = 0,
        devmajor: int = 0,
        devminor: int = 0,
    ) -> None:
        self.name = name.lstrip("/")
        self.kind, self.mode, self.data, self.linkname = kind, mode, data, linkname
        self.uid, self.gid, self.devmajor, self.devminor = uid, gid, devmajor, devminor

    def tarinfo(self) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(self.name)
        ti.type, ti.mode, ti.mtime = self.kind, self.mode, MTIME
        ti.uid, ti.gid, ti.uname, ti.gname = self.uid, self.gid, "", ""
        ti.linkname = self.linkname
        ti.devmajor, ti.devminor = self.devmajor, self.devminor
        if self.kind == tarfile.REGTYPE:
            ti.size = len(self.data)
        return ti


def file(
    name: str, data: bytes | str = b"", mode: int = 0o644, uid: int = 0, gid: int = 0
) -> Entry:
    """A regular file; ``mode`` may carry setuid/setgid/sticky bits (``0o4755``)."""
    raw = data.encode() if isinstance(data, str) else data
    return Entry(name, tarfile.REGTYPE, mode, data=raw, uid=uid, gid=gid)


def dir_(name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Entry:
    return Entry(name, tarfile.DIRTYPE, mode, uid=uid, gid=gid)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, tarfile.SYMTYPE, 0o777, linkname=target)


def hardlink(name: str, target: str) -> Entry:
    """A hard link to ``target``, a path from the root of the image (as tar stores it)."""
    return Entry(name, tarfile.LNKTYPE, 0o644, linkname=target.lstrip("/"))


def whiteout(path: str) -> Entry:
    """Delete ``path`` from the layers below: ``dir/.wh.name``."""
    head, _, base = path.strip("/").rpartition("/")
    return Entry(f"{head}/.wh.{base}" if head else f".wh.{base}", tarfile.REGTYPE, 0o644)


def opaque(dirpath: str) -> Entry:
    """Hide everything the layers below put in ``dirpath``: ``dirpath/.wh..wh..opq``."""
    return Entry(f"{dirpath.strip('/')}/.wh..wh..opq", tarfile.REGTYPE, 0o644)


def device(name: str, kind: str, major: int, minor: int, mode: int = 0o666) -> Entry:
    """A character (``kind="c"``) or block (``"b"``) device node."""
    tar_kind = {"c": tarfile.CHRTYPE, "b": tarfile.BLKTYPE}[kind]
    return Entry(name, tar_kind, mode, devmajor=major, devminor=minor)


def fifo(name: str, mode: int = 0o644) -> Entry:
    return Entry(name, tarfile.FIFOTYPE, mode)


def layer_tar(entries: list[Entry]) -> bytes:
    """The uncompressed tar of ``entries``, in the order given."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for entry in entries:
            data = io.BytesIO(entry.data) if entry.kind == tarfile.REGTYPE else None
            tf.addfile(entry.tarinfo(), data)
    return buf.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3).compress(data)
    if compression == "none":
        return data
    raise ValueError(f"unknown compression {compression!r}")
