"""Layer compression, detected by magic bytes and undone in-process.

Nothing from an image (or the host's ``xz``/``zstd`` binaries) is executed
(SECURITY.md rule 3). Every decompressor is driven with bounded output per
call, so a bomb never expands more than one chunk in memory, and a
:class:`Limits` budget caps the total output and the output/input ratio.
"""

from __future__ import annotations

from launcher.errors import ImageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.image.digest import Reader

GZIP = "gzip"
ZSTD = "zstd"
NONE = "none"

CHUNK = 1 << 20
_MAGIC = (
    (b"\x1f\x8b", GZIP),
    (b"\x28\xb5\x2f\xfd", ZSTD),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bzip2"),
)


class Limits:
    """Budgets for one layer. ``max_ratio`` applies once ``ratio_floor`` bytes
    have come out (real layers with a big run of zeros stay below it)."""

    __slots__ = ("max_bytes", "max_entries", "max_name", "max_ratio", "max_seconds", "ratio_floor")

    def __init__(
        self,
        max_entries: int = 1_000_000,
        max_bytes: int = 64 << 30,
        max_ratio: int = 500,
        ratio_floor: int = 128 << 20,
        max_seconds: float = 3600.0,
        max_name: int = 4096,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_ratio = max_ratio
        self.ratio_floor = ratio_floor
        self.max_seconds = max_seconds
        self.max_name = max_name


def sniff(head: bytes) -> str:
    """Compression named by the first bytes: gzip, zstd, none (or xz/bzip2)."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return NONE


class _Counted:
    """The compressed side: replays the sniffed head, then reads the source."""

    __slots__ = ("_head", "_src", "count")

    def __init__(self, src: Reader, head: bytes) -> None:
        self._src = src
        self._head = head
        self.count = 0

    def read(self, n: int = CHUNK) -> bytes:
        if self._head:
            data, self._head = self._head[:n], self._head[n:]
        else:
            data = self._src.read(n)
        self.count += len(data)
        return data


class Stream:
    """Uncompressed bytes of a layer, with the budgets enforced on every read."""

    __slots__ = ("_dec", "_raw", "compression", "limits", "out")

    def __init__(self, raw: _Counted, compression: str, limits: Limits) -> None:
        self._raw = raw
        self.compression = compression
        self.limits = limits
        self.out = 0
        self._dec = _decoder(compression, raw)

    def read(self, n: int = CHUNK) -> bytes:
        if n < 0 or n > CHUNK:
            n = CHUNK
        elif n == 0:
            return b""
        data = self._raw.read(n) if self._dec is None else self._dec.read(n)
        if data:
            self.out += len(data)
            self._check()
        return data

    def _check(self) -> None:
        lim = self.limits
        if self.out > lim.max_bytes:
            raise ImageError(f"layer larger than the {lim.max_bytes} byte limit")
        if self.out > lim.ratio_floor and self.out > lim.max_ratio * max(self._raw.count, 1):
            raise ImageError(
                f"layer expands more than {lim.max_ratio}:1 "
                f"({self._raw.count} -> {self.out} bytes): refusing a decompression bomb"
            )


def open_stream(src: Reader, limits: Limits | None = None) -> Stream:
    """Wrap ``src`` (compressed or not) as a :class:`Stream` of tar bytes."""
    head = b""
    while len(head) < 6:
        more = src.read(CHUNK)
        if not more:
            break
        head += more
    kind = sniff(head)
    if kind not in (GZIP, ZSTD, NONE):
        raise ImageError(f"{kind}-compressed layers are not supported (gzip, zstd or plain tar)")
    return Stream(_Counted(src, head), kind, limits or Limits())


def _decoder(kind: str, raw: _Counted) -> _Inflate | _Zstd | None:
    if kind == GZIP:
        return _Inflate(raw)
    if kind == ZSTD:
        return _Zstd(raw)
    return None


class _Inflate:
    """gzip, including concatenated members (``cat a.gz b.gz``)."""

    __slots__ = ("_d", "_pending", "_raw", "_zlib")

    def __init__(self, raw: _Counted) -> None:
        import zlib

        self._zlib = zlib
        self._raw = raw
        self._d = zlib.decompressobj(wbits=31)
        self._pending = b""

    def read(self, n: int) -> bytes:
        d = self._d
        while True:
            if d.eof:
                rest = d.unused_data or self._raw.read()
                if not rest:
                    return b""
                if not rest.startswith(b"\x1f\x8b"[: len(rest)]):
                    raise ImageError("gzip layer: trailing garbage after the compressed data")
                d = self._d = self._zlib.decompressobj(wbits=31)
                self._pending = rest
            data = self._pending or d.unconsumed_tail or self._raw.read()
            self._pending = b""
            if not data:
                raise ImageError("gzip layer: unexpected end of compressed data")
            try:
                out = d.decompress(data, n)
            except self._zlib.error as exc:
                raise ImageError(f"gzip layer: {exc}") from None
            if out:
                return out


class _Zstd:
    """zstd via ``compression.zstd`` (Python 3.14+) or the ``zstandard`` package."""

    __slots__ = ("_reader",)

    def __init__(self, raw: _Counted) -> None:
        self._reader = _zstd_reader(raw)

    def read(self, n: int) -> bytes:
        try:
            return bytes(self._reader.read(n))
        except ImageError:
            raise
        except Exception as exc:  # the zstd bindings raise their own error types
            raise ImageError(f"zstd layer: {exc}") from None


def _zstd_reader(raw: _Counted) -> Reader:
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]

        return zstd.ZstdFile(raw)  # type: ignore[no-any-return,unused-ignore]
    except ImportError:
        pass
    try:
        import zstandard  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise ImageError(
            "zstd-compressed layer, but no zstd decoder is available: "
            "install the 'zstandard' Python package"
        ) from None
    dctx = zstandard.ZstdDecompressor(max_window_size=1 << 27)
    reader = dctx.stream_reader(
        raw,  # type: ignore[arg-type,unused-ignore]
        read_size=CHUNK,
        read_across_frames=True,
    )
    return reader  # type: ignore[no-any-return,unused-ignore]
