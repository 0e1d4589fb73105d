"""``tarfile`` as a bounded, forward-only header parser (SECURITY.md rule 2).

:class:`Source` gives ``tarfile`` the ``read/seek/tell`` it needs in mode
``"r:"`` over a non-seekable stream: seeks may only go forward (skipped bytes
are read, so hashes below still see them). We use ``"r:"`` over our own
buffer rather than ``"r|"``: ``tarfile``'s ``_Stream`` re-joins its whole
buffer on every header read (quadratic with a large buffer, slow with a
small one), and its pax reads cannot be bounded from outside.

:class:`Header` (passed as ``tarinfo=``) checks every extension header before
``tarfile`` parses it: size-capped, pax records must tile their block exactly
with no long digit runs (the pax regexes of Python < 3.11.10 backtrack
quadratically, CVE-2024-6232), and GNU sparse files are refused (their maps
make ``tarfile`` read without bound and seek backwards).
"""

from __future__ import annotations

import tarfile

from launcher.errors import ImageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from launcher.image.digest import Reader

BLOCK = 512
CHUNK = 1 << 20
MAX_EXT_HEADER = 256 << 10  # pax / GNU long name payload
MAX_DIGIT_RUN = 256
_EXT_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
_LONG_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
_SPARSE = tarfile.GNUTYPE_SPARSE
_DIGITS_TO_ZERO = bytes(0x30 if 0x30 <= b <= 0x39 else 0x2E for b in range(256))
_LONG_RUN = b"0" * (MAX_DIGIT_RUN + 1)


class Source:
    """Forward-only ``read/seek/tell`` over a stream, with exact-size reads."""

    __slots__ = ("_buf", "_off", "_src", "last", "pos")

    def __init__(self, src: Reader) -> None:
        self._src = src
        self._buf = b""
        self._off = 0
        self.pos = 0
        self.last = b""  # what the latest read returned (end-of-archive check)

    def tell(self) -> int:
        return self.pos

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > max(CHUNK, MAX_EXT_HEADER + BLOCK):
            raise ImageError(f"tar: refusing a single read of {n} bytes")
        buf, off = self._buf, self._off
        avail = len(buf) - off
        if avail >= n:
            out = buf[off : off + n] if (off or n != len(buf)) else buf
            self._off = off + n
        else:
            parts = [buf[off:]]
            got = avail
            while got < n:
                chunk = self._src.read(CHUNK)
                if not chunk:
                    self._buf, self._off = b"", 0
                    break
                need = n - got
                if len(chunk) > need:
                    parts.append(chunk[:need])
                    self._buf, self._off = chunk, need
                    got = n
                else:
                    parts.append(chunk)
                    got += len(chunk)
                    self._buf, self._off = b"", 0
            out = b"".join(parts)
        self.pos += len(out)
        self.last = out
        return out

    def peek(self, n: int) -> bytes:
        """Up to ``n`` bytes ahead, not consumed."""
        have = len(self._buf) - self._off
        if have < n:
            parts = [self._buf[self._off :]]
            while have < n:
                chunk = self._src.read(CHUNK)
                if not chunk:
                    break
                parts.append(chunk)
                have += len(chunk)
            self._buf, self._off = b"".join(parts), 0
        return self._buf[self._off : self._off + n]

    def seek(self, offset: int, whence: int = 0) -> int:
        target = offset if whence == 0 else self.pos + offset if whence == 1 else -1
        if target < self.pos:
            raise ImageError("tar: the archive needs a backward seek (unsupported layout)")
        while self.pos < target:
            if not self.read(min(CHUNK, target - self.pos)):
                break
        return self.pos

    def drain(self) -> None:
        """Consume the rest of the stream (trailing padding still counts for digests)."""
        self._buf, self._off = b"", 0
        while self._src.read(CHUNK):
            pass

    def ended_cleanly(self) -> bool:
        """After ``tarfile`` stopped: was the last block an end marker (or EOF)?"""
        return not self.last.strip(b"\0")


class Header(tarfile.TarInfo):
    """TarInfo that vets extension headers before ``tarfile`` parses them."""

    def _proc_member(self, tf: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type == _SPARSE:
            raise ImageError(f"tar entry {self.name!r}: GNU sparse files are not supported")
        if self.type in _EXT_TYPES or self.type in _LONG_TYPES:
            if not 0 <= self.size <= MAX_EXT_HEADER:
                raise ImageError(f"tar: extension header of {self.size} bytes is too large")
            if self.type in _EXT_TYPES:
                src = tf.fileobj
                if not isinstance(src, Source):  # pragma: no cover - we always pass one
                    raise ImageError("tar: unexpected reader")
                check_pax(src.peek(self.size))
        return super()._proc_member(tf)  # type: ignore[misc,no-any-return]


def check_pax(buf: bytes) -> None:
    """Records ``"<len> <key>=<value>\\n"`` must tile ``buf`` exactly."""
    if _LONG_RUN in buf.translate(_DIGITS_TO_ZERO):
        raise ImageError(f"tar: pax header with a run of more than {MAX_DIGIT_RUN} digits")
    n, pos = len(buf), 0
    while pos < n:
        sp = buf.find(b" ", pos, pos + 21)
        digits = buf[pos:sp] if sp > pos else b""
        if not digits.isdigit():
            raise ImageError("tar: malformed pax header record")
        end = pos + int(digits)
        eq = buf.find(b"=", sp + 1, end)
        if end > n or eq <= sp + 1 or buf[end - 1] != 0x0A:
            raise ImageError("tar: malformed pax header record")
        if buf.startswith(b"GNU.sparse.", sp + 1):
            raise ImageError("tar: GNU sparse files are not supported")
        pos = end


def headers(fileobj: object) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
    """Each member header of the tar read from ``fileobj`` (a :class:`Source` or any
    forward-reading file), with the TarFile to read its data through. Headers are
    not kept (``members`` would grow with every entry)."""
    tf = tarfile.TarFile(
        fileobj=fileobj,  # type: ignore[arg-type]
        mode="r",
        tarinfo=Header,
        encoding="utf-8",
        errors="surrogateescape",
    )
    while (m := tf.next()) is not None:
        tf.members.clear()  # type: ignore[attr-defined]
        yield m, tf
