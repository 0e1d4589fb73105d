"""Content digests: ``sha256:`` + 64 lowercase hex, checked before any path use.

Only sha256 is accepted (SECURITY.md rule 6): every digest that names a file
in the store goes through :func:`hex_of` first, so a digest can never carry
``/``, ``..`` or anything but 64 lowercase hex digits into a path.
"""

from __future__ import annotations

from launcher.errors import ImageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    class Reader(Protocol):
        """Anything with ``read(n)``: files, sockets' makefile, our stream wrappers."""

        def read(self, n: int = -1, /) -> bytes: ...

    class _Hash(Protocol):
        def update(self, data: bytes, /) -> None: ...
        def hexdigest(self) -> str: ...


PREFIX = "sha256:"
HEX_LEN = 64
_HEX = frozenset("0123456789abcdef")


def is_hex(text: str) -> bool:
    """True for exactly 64 lowercase hex digits."""
    return len(text) == HEX_LEN and _HEX.issuperset(text)


def is_valid(digest: str) -> bool:
    return digest.startswith(PREFIX) and is_hex(digest[len(PREFIX) :])


def validate(digest: object, what: str = "digest") -> str:
    """Return ``digest`` if it is ``sha256:<64 lowercase hex>``; else ImageError."""
    if not isinstance(digest, str) or not is_valid(digest):
        shown = repr(digest)[:100]
        raise ImageError(f"invalid {what} {shown}: want sha256: followed by 64 lowercase hex")
    return digest


def hex_of(digest: object, what: str = "digest") -> str:
    """The 64-hex part of a validated digest: the only form used in store paths."""
    return validate(digest, what)[len(PREFIX) :]


def from_hex(hexpart: str) -> str:
    return validate(PREFIX + hexpart)


def _new() -> _Hash:
    import hashlib

    return hashlib.sha256()


def of_bytes(data: bytes) -> str:
    h = _new()
    h.update(data)
    return PREFIX + h.hexdigest()


class Hasher:
    """sha256 plus a byte count, fed incrementally."""

    __slots__ = ("_h", "size")

    def __init__(self) -> None:
        self._h = _new()
        self.size = 0

    def update(self, data: bytes) -> None:
        self._h.update(data)
        self.size += len(data)

    def digest(self) -> str:
        return PREFIX + self._h.hexdigest()


class HashingReader:
    """A reader that hashes (and counts) every byte read through it."""

    __slots__ = ("_inner", "hasher")

    def __init__(self, inner: Reader) -> None:
        self._inner = inner
        self.hasher = Hasher()

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        if data:
            self.hasher.update(data)
        return data

    def drain(self, chunk: int = 1 << 20) -> None:
        """Read (and hash) everything left."""
        while self.read(chunk):
            pass

    def digest(self) -> str:
        return self.hasher.digest()


class TeeReader:
    """A reader that passes every byte read to ``sink`` (e.g. a blob writer)."""

    __slots__ = ("_inner", "_sink")

    def __init__(self, inner: Reader, sink: Callable[[bytes], object]) -> None:
        self._inner = inner
        self._sink = sink

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        if data:
            self._sink(data)
        return data
