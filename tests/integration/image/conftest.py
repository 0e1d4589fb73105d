"""Helpers for the image integration tests (root): in-memory tars and real mounts."""

from __future__ import annotations

import ctypes
import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

MTIME = 1_600_000_000


class TarBuilder:
    """Append layer entries; ``data()`` returns the archive bytes."""

    def __init__(self) -> None:
        self._buf = io.BytesIO()
        # closed by data()
        self._tf = tarfile.open(fileobj=self._buf, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115

    def add(
        self, name: str, kind: bytes, mode: int, data: bytes | None = None, **kw: object
    ) -> TarBuilder:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime = kind, mode, MTIME
        for key, value in kw.items():
            setattr(ti, key, value)
        if data is not None:
            ti.size = len(data)
        self._tf.addfile(ti, io.BytesIO(data) if data is not None else None)
        return self

    def dir(self, name: str, mode: int = 0o755, **kw: object) -> TarBuilder:
        return self.add(name, tarfile.DIRTYPE, mode, None, **kw)

    def file(self, name: str, data: bytes = b"", mode: int = 0o644, **kw: object) -> TarBuilder:
        return self.add(name, tarfile.REGTYPE, mode, data, **kw)

    def symlink(self, name: str, target: str) -> TarBuilder:
        return self.add(name, tarfile.SYMTYPE, 0o777, linkname=target)

    def data(self) -> bytes:
        self._tf.close()
        return self._buf.getvalue()


class RealMount:
    """A tiny ctypes mount(2)/umount2(2), standing in for the backend's syscalls."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)

    def mount(self, source: str, target: str, fstype: str, flags: int, data: str) -> None:
        enc = os.fsencode
        if self._libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), target)

    def umount(self, target: str, flags: int) -> None:
        if self._libc.umount2(os.fsencode(target), flags) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), target)


@pytest.fixture
def real_mount() -> RealMount:
    return RealMount()


@pytest.fixture
def small_tmpfs(tmp_path: Path, real_mount: RealMount) -> Iterator[Path]:
    """A 2 MiB tmpfs: for a disk filling up mid-unpack."""
    point = tmp_path / "small"
    point.mkdir()
    real_mount.mount("tmpfs", str(point), "tmpfs", 0, "size=2m,mode=0700")
    yield point
    real_mount.umount(str(point), 2)


@pytest.fixture
def tar() -> type[TarBuilder]:
    """The TarBuilder class (tests make one builder per layer)."""
    return TarBuilder
