from __future__ import annotations

import io
import tarfile

import pytest

from launcher.errors import ImageError
from launcher.image import tarstream as ts

from .tarhelp import TarBuilder


class Trickle(io.RawIOBase):
    """Returns at most 3 bytes a read, like a slow pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._data.read(min(3, n if n >= 0 else 3))


def test_exact_reads_over_short_chunks() -> None:
    data = bytes(range(256)) * 40
    src = ts.Source(Trickle(data))
    assert src.read(512) == data[:512]
    assert src.peek(10) == data[512:522]
    assert src.tell() == 512
    assert src.seek(1000) == 1000
    assert src.read(24) == data[1000:1024]
    assert src.seek(10, 1) == 1034
    with pytest.raises(ImageError, match="backward seek"):
        src.seek(0)
    assert src.read(100000) == data[1034:]
    assert src.read(10) == b""


def test_refuses_unbounded_reads() -> None:
    src = ts.Source(io.BytesIO(b"x"))
    with pytest.raises(ImageError, match="single read"):
        src.read()
    with pytest.raises(ImageError, match="single read"):
        src.read(64 << 20)


def test_ended_cleanly() -> None:
    src = ts.Source(io.BytesIO(b"\0" * 512 + b"junk"))
    src.read(512)
    assert src.ended_cleanly()
    src.read(4)
    assert not src.ended_cleanly()


def record(key: bytes, value: bytes) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n).encode()) + len(body) != n:
        n += 1
    return str(n).encode() + body


def test_check_pax_accepts_valid_records() -> None:
    ts.check_pax(record(b"path", b"a/b") + record(b"SCHILY.xattr.user.x", b"\xff\x00"))
    ts.check_pax(b"")


@pytest.mark.parametrize(
    "buf",
    [
        b"x path=a\n",
        b"5 path=a\n",
        b"99 path=a\n",
        b"9 =value\n",
        b"10 pathabc\n",
        record(b"path", b"1" * 300),
        record(b"GNU.sparse.map", b"0,1"),
    ],
)
def test_check_pax_rejects(buf: bytes) -> None:
    with pytest.raises(ImageError):
        ts.check_pax(buf)


def parse_all(data: bytes) -> list[tarfile.TarInfo]:
    src = ts.Source(io.BytesIO(data))
    tf = tarfile.TarFile(fileobj=src, mode="r", tarinfo=ts.Header)  # type: ignore[arg-type]
    out = []
    while (m := tf.next()) is not None:
        out.append(m)
    return out


def test_header_parses_pax_names() -> None:
    long = "d/" * 80 + "f"
    members = parse_all(TarBuilder().file(long, b"x").data())
    assert [m.name for m in members] == [long]


def test_header_refuses_huge_pax() -> None:
    ti = tarfile.TarInfo("f")
    ti.pax_headers = {"comment": "x" * (300 << 10)}
    data = TarBuilder().add(ti, b"").data()
    with pytest.raises(ImageError, match="too large"):
        parse_all(data)


def test_header_refuses_gnu_sparse() -> None:
    ti = tarfile.TarInfo("f")
    ti.type = tarfile.GNUTYPE_SPARSE
    data = TarBuilder(fmt=tarfile.GNU_FORMAT).add(ti).data()
    with pytest.raises(ImageError, match="sparse"):
        parse_all(data)
