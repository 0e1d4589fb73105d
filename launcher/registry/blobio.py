"""Blob transfer helpers of ``Registry``: the resumable download, upload bodies."""

from __future__ import annotations

from launcher.errors import ImageError, NotFoundError, RegistryError, UsageError
from launcher.registry.transport import TransportError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from launcher.registry.client import Registry
    from launcher.registry.transport import Reply

BLOB_CHUNK = 1 << 20
REDIRECTS = 5


class Download:
    """One blob download, resumable: ``attempt`` goes on from ``done`` bytes.

    It asks for ``Range: bytes=<done>-``; a server that answers 200 (the
    whole blob) instead of 206 has its first ``done`` bytes skipped. A
    dropped connection, a body cut short of its Content-Length or a 5xx raises
    ``TransportError`` (``fetch_blob`` retries); a blob longer than ``size`` is
    an error before the excess reaches ``write``, and one shorter (a whole
    body, or a 416) is an error without retries."""

    __slots__ = ("digest", "done", "path", "progress", "registry", "repo", "size", "where",
                 "write")

    def __init__(self, registry: Registry, repo: str, digest: str,
                 write: Callable[[bytes], object], size: int | None, offset: int,
                 progress: Callable[[int], object] | None) -> None:
        self.registry = registry
        self.repo = repo
        self.digest = digest
        self.write = write
        self.size = size
        self.done = offset
        self.progress = progress
        self.path = f"/v2/{repo}/blobs/{digest}"
        self.where = f"{registry.domain}/{repo}@{digest}"
        if offset < 0 or (size is not None and offset > size):
            raise UsageError(f"{self.where}: invalid download offset {offset}")

    def attempt(self) -> None:
        headers = {"Range": f"bytes={self.done}-"} if self.done else {}
        scopes = (f"repository:{self.repo}:pull",)
        # Download is the Registry's own helper: it shares its request plumbing.
        reply = self.registry._request("GET", self.path, scopes, headers, redirects=REDIRECTS)
        finished = False
        try:
            skip = self._skip(reply)
            if skip is not None:
                self._stream(reply, skip)
            finished = True
        finally:
            if not finished:
                reply.close()

    def _skip(self, reply: Reply) -> int | None:
        """How many bytes of this body we already have; None: nothing to read."""
        status, size = reply.status, self.size
        if status == 200:
            length = reply.length()
            if size is not None and length is not None and length > size:
                raise RegistryError(f"{self.where}: {length} bytes, more than the "
                                    f"expected {size}")
            return self.done
        if status == 206:
            start = _range_start(reply.header("Content-Range"), self.done)
            if start > self.done:
                raise RegistryError(f"{self.where}: the registry resumed at byte {start}, "
                                    f"not {self.done}")
            return self.done - start
        if status == 416 and size is not None:
            reply.drain()
            if self.done >= size:
                return None
            raise RegistryError(f"{self.where}: the blob ends before byte {self.done + 1} "
                                f"of the expected {size}")
        if status == 404:
            reply.drain()
            raise NotFoundError(f"blob unknown: {self.where}")
        if status >= 500 or status == 429:
            reply.drain()
            raise TransportError(f"{self.where}: HTTP {status}")
        raise self.registry._error(reply, self.where)

    def _stream(self, reply: Reply, skip: int) -> None:
        size, write, progress = self.size, self.write, self.progress
        while True:
            chunk = reply.read(BLOB_CHUNK)
            if not chunk:
                break
            if skip:
                if len(chunk) <= skip:
                    skip -= len(chunk)
                    continue
                chunk, skip = chunk[skip:], 0
            if size is not None and self.done + len(chunk) > size:
                raise RegistryError(f"{self.where}: more than the expected {size} bytes")
            write(chunk)
            self.done += len(chunk)
            if progress is not None:
                progress(len(chunk))
        if skip:  # a 200 shorter than what we already had
            raise TransportError(f"{self.where}: the body ended before byte {self.done}")
        if size is not None and self.done < size:
            if reply.length() is not None:  # the body was whole: the blob is short
                raise RegistryError(f"{self.where}: {self.done} bytes, fewer than the "
                                    f"expected {size}")
            raise TransportError(f"{self.where}: connection closed after {self.done} of "
                                 f"{size} bytes")


def _range_start(content_range: str, default: int) -> int:
    """The first byte of ``Content-Range: bytes <first>-<last>/<total>``."""
    unit, _, spec = content_range.partition(" ")
    first = spec.partition("-")[0]
    if unit.lower() != "bytes" or not first.isdigit():
        return default
    return int(first)


def read_exact(read: Callable[[int], bytes], n: int, offset: int, size: int,
               where: str) -> bytes:
    """``n`` bytes from ``read`` (which may return less per call)."""
    parts: list[bytes] = []
    got = 0
    while got < n:
        chunk = read(n - got)
        if not chunk:
            raise ImageError(f"{where}: the source ended after {offset + got} of {size} bytes")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def stream(read: Callable[[int], bytes], size: int, where: str) -> Iterator[bytes]:
    """A request body of exactly ``size`` bytes from ``read``, a chunk at a time."""
    sent = 0
    while sent < size:
        chunk = read_exact(read, min(BLOB_CHUNK, size - sent), sent, size, where)
        sent += len(chunk)
        yield chunk
