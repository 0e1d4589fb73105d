"""Read a stream ahead in a helper thread, so decompression overlaps file writes.

Unpacking a layer is two kinds of work: inflating + hashing the stream (zlib
and sha256, which release the GIL) and creating files (syscalls, which do
too). In one thread they take turns; with ``Prefetch`` the thread inflates
the next megabytes while the caller writes the previous ones.

The thread is always joined by ``close`` (use it as a context manager): no
thread outlives an unpack, so the process stays safe to fork. An error in the
thread is raised by the caller's next ``read``.
"""

from __future__ import annotations

import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.image.digest import Reader

CHUNK = 1 << 20
DEPTH = 8  # chunks read ahead: bounds memory to DEPTH MiB per stream


class _End:
    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class Prefetch:
    __slots__ = ("_buf", "_done", "_queue", "_stop", "_thread")

    def __init__(self, src: Reader, depth: int = DEPTH, chunk: int = CHUNK) -> None:
        import queue

        self._queue: queue.Queue[bytes | _End] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._buf = b""
        self._done: _End | None = None
        self._thread = threading.Thread(target=self._pump, args=(src, chunk),
                                        name="launcher-prefetch", daemon=True)
        self._thread.start()

    def _pump(self, src: Reader, chunk: int) -> None:
        end = _End(None)
        try:
            while not self._stop.is_set():
                data = src.read(chunk)
                if not data:
                    break
                self._put(data)
        except BaseException as exc:  # handed to the reader, raised there
            end = _End(exc)
        self._put(end)

    def _put(self, item: bytes | _End) -> None:
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, n: int = -1) -> bytes:
        if not self._buf:
            if self._done is not None:
                return self._end()
            item = self._queue.get()
            if isinstance(item, _End):
                self._done = item
                return self._end()
            self._buf = item
        if n < 0 or n >= len(self._buf):
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _end(self) -> bytes:
        assert self._done is not None
        if self._done.error is not None:
            raise self._done.error
        return b""

    def close(self) -> None:
        """Stop the thread (if still reading) and join it."""
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
