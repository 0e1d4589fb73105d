from __future__ import annotations

import builtins
import gzip
import io
import lzma
from typing import Any

import pytest

from launcher.errors import ImageError
from launcher.image import decompress as dc

DATA = bytes(range(256)) * 4096  # 1 MiB, compressible but not trivially


def read_all(stream: dc.Stream, n: int = 65536) -> bytes:
    out = []
    while chunk := stream.read(n):
        assert len(chunk) <= n
        out.append(chunk)
    return b"".join(out)


def test_sniff() -> None:
    assert dc.sniff(b"\x1f\x8b\x08") == dc.GZIP
    assert dc.sniff(b"\x28\xb5\x2f\xfd") == dc.ZSTD
    assert dc.sniff(b"\xfd7zXZ\x00") == "xz"
    assert dc.sniff(b"BZh9") == "bzip2"
    assert dc.sniff(b"etc/\x00\x00") == dc.NONE
    assert dc.sniff(b"") == dc.NONE


def test_plain_passthrough_small_reads() -> None:
    s = dc.open_stream(io.BytesIO(DATA))
    assert s.compression == dc.NONE
    assert s.read(0) == b""
    assert read_all(s, 512) == DATA


def test_gzip_and_concatenated_members() -> None:
    blob = gzip.compress(DATA[:1000]) + gzip.compress(DATA[1000:])
    s = dc.open_stream(io.BytesIO(blob))
    assert s.compression == dc.GZIP
    assert read_all(s, 4096) == DATA


def test_gzip_truncated() -> None:
    blob = gzip.compress(DATA)[:-100]
    with pytest.raises(ImageError, match="unexpected end"):
        read_all(dc.open_stream(io.BytesIO(blob)))


def test_gzip_corrupt() -> None:
    blob = bytearray(gzip.compress(DATA))
    blob[100] ^= 0xFF
    with pytest.raises(ImageError, match="gzip layer"):
        read_all(dc.open_stream(io.BytesIO(bytes(blob))))


def test_gzip_trailing_garbage() -> None:
    blob = gzip.compress(DATA) + b"garbage!"
    with pytest.raises(ImageError, match="trailing garbage"):
        read_all(dc.open_stream(io.BytesIO(blob)))


def test_gzip_bomb_ratio() -> None:
    bomb = gzip.compress(b"\0" * (16 << 20), compresslevel=9)
    limits = dc.Limits(max_ratio=100, ratio_floor=1 << 20)
    with pytest.raises(ImageError, match="decompression bomb"):
        read_all(dc.open_stream(io.BytesIO(bomb), limits))


def test_max_bytes() -> None:
    s = dc.open_stream(io.BytesIO(gzip.compress(DATA)), dc.Limits(max_bytes=100_000))
    with pytest.raises(ImageError, match="larger than the 100000 byte limit"):
        read_all(s)


@pytest.mark.parametrize("blob", [lzma.compress(b"x"), b"BZh91AY&SY"])
def test_unsupported_compression(blob: bytes) -> None:
    with pytest.raises(ImageError, match="not supported"):
        dc.open_stream(io.BytesIO(blob))


def test_zstd_missing_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_zstd(name: str, *args: Any, **kw: Any) -> Any:
        if name in ("zstandard", "compression"):
            raise ImportError(name)
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_zstd)
    with pytest.raises(ImageError, match="install the 'zstandard'"):
        dc.open_stream(io.BytesIO(b"\x28\xb5\x2f\xfd" + b"\0" * 20))


def test_zstd_roundtrip() -> None:
    zstandard = pytest.importorskip("zstandard")
    blob = zstandard.ZstdCompressor().compress(DATA) + zstandard.ZstdCompressor().compress(b"!")
    s = dc.open_stream(io.BytesIO(blob))
    assert s.compression == dc.ZSTD
    assert read_all(s, 1000) == DATA + b"!"


def test_zstd_bomb() -> None:
    zstandard = pytest.importorskip("zstandard")
    bomb = zstandard.ZstdCompressor(level=3).compress(b"\0" * (64 << 20))
    with pytest.raises(ImageError, match="decompression bomb"):
        read_all(dc.open_stream(io.BytesIO(bomb), dc.Limits(ratio_floor=4 << 20)), 1 << 20)
