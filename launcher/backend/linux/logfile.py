"""Container log files in Docker's ``json-file`` format, with size-capped rotation.

One JSON object per line, exactly what ``docker logs`` reads::

    {"log":"hello\\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}

Output is split at newlines; a partial line that reaches 16 KiB is written as its
own record without a trailing newline (as Docker does), and whatever is left at
:meth:`LogWriter.flush`/:meth:`LogWriter.close` likewise.

Bytes that are not UTF-8 are decoded with ``surrogateescape`` and written as
``\\udcXX`` JSON escapes (the file is pure ASCII, every non-ASCII character is a
``\\uXXXX`` escape).  :func:`read_logs` encodes them back, so output round-trips
byte for byte; Docker's own reader shows them as U+FFFD.  A lone surrogate
outside that range (from a foreign writer) prints as ``?``.

Rotation follows ``--log-opt max-size/max-file``: before a record would take the
file past ``max_size``, ``path`` becomes ``path.1`` (``.1`` → ``.2`` …, the
oldest dropped) and a fresh ``path`` is started, so disk use stays within
``max_size * max_files`` plus one record.  With ``max_files=1`` the file is
truncated instead and never exceeds ``max_size`` (unless a single record is
larger than ``max_size``: a record is never split).

Neither class is thread-safe; the monitor owns one writer per container.
"""

from __future__ import annotations

import os
import time

from launcher import fastjson
from launcher.errors import RuntimeFailure
from launcher.rfc3339 import format_time, parse_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator

PARTIAL_MAX = 16 * 1024  # Docker's copier flushes a line without newline at this size
STREAMS = ("stdout", "stderr")
_BLOCK = 64 * 1024
_NS = 1_000_000_000
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str) -> int:
    """``"10m"`` → 10485760: Docker's log-opt sizes (``k``/``m``/``g`` are KiB/MiB/GiB).

    Accepts an optional ``b``, ``kb``/``kib`` style suffix in any case and a
    decimal number (``"1.5m"``); raises ValueError naming what is wrong.
    """
    s = text.strip().lower()
    for suffix in ("ib", "b"):
        if len(s) > len(suffix) and s.endswith(suffix) and s[-len(suffix) - 1] in "kmg":
            s = s[: -len(suffix)]
            break
    unit = s[-1:] if s[-1:] in "bkmg" else ""
    number = s[: len(s) - len(unit)].strip()
    digits = number.replace(".", "", 1)
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"invalid size {text!r}: want a number with an optional k, m or g unit")
    return int(float(number) * _UNITS[unit])


class LogWriter:
    """Appends records to ``path``, rotating at ``max_size`` (None: never)."""

    __slots__ = ("_fd", "_pending", "_size", "max_files", "max_size", "path")

    def __init__(self, path: str, max_size: int | None, max_files: int = 1) -> None:
        if max_size is not None and max_size < 1:
            raise ValueError(f"log max size must be positive, not {max_size}")
        if max_files < 1:
            raise ValueError(f"log max files must be at least 1, not {max_files}")
        self.path, self.max_size, self.max_files = path, max_size, max_files
        self._pending: dict[str, bytes] = {s: b"" for s in STREAMS}
        self._fd = -1
        self._size = 0
        self._open()

    def _open(self) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            self._fd = os.open(self.path, flags, 0o600)
            st = os.fstat(self._fd)
            if st.st_mode & 0o777 != 0o600:  # a file left by someone else: make it private
                os.fchmod(self._fd, 0o600)
        except OSError as exc:
            raise RuntimeFailure(f"opening log file {self.path}: {exc.strerror}") from exc
        # Appending to an existing log (a restarted container) counts what is there.
        self._size = st.st_size

    def write(self, stream: str, data: bytes, now: float | None = None) -> None:
        """Log ``data`` read from the container's ``stream`` at ``now`` (default: the clock)."""
        if stream not in self._pending:
            raise ValueError(f"unknown log stream {stream!r}")
        buf = self._pending[stream] + data if self._pending[stream] else data
        chunks: list[bytes] = []
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            chunks.append(buf[start:nl + 1])
            start = nl + 1
        while len(buf) - start >= PARTIAL_MAX:
            chunks.append(buf[start:start + PARTIAL_MAX])
            start += PARTIAL_MAX
        self._pending[stream] = buf[start:]
        if chunks:
            self._emit(stream, chunks, now)

    def flush(self, stream: str | None = None, now: float | None = None) -> None:
        """Write out a held partial line (of ``stream``, or of both), e.g. at its EOF."""
        for name in STREAMS if stream is None else (stream,):
            if self._pending.get(name):
                rest, self._pending[name] = self._pending[name], b""
                self._emit(name, [rest], now)

    def close(self) -> None:
        """Flush partial lines and close the file; a second close does nothing."""
        if self._fd < 0:
            return
        try:
            self.flush()
        finally:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _emit(self, stream: str, chunks: list[bytes], now: float | None) -> None:
        ns = time.time_ns() if now is None else round(now * _NS)
        stamp = format_time(ns)
        batch: list[bytes] = []
        batch_size = 0
        for chunk in chunks:
            text = chunk.decode("utf-8", "surrogateescape")
            line = fastjson.dumps({"log": text, "stream": stream, "time": stamp}, compact=True)
            rec = (line + "\n").encode("ascii")
            if self.max_size is not None and self._size + batch_size + len(rec) > self.max_size \
                    and self._size + batch_size > 0:
                self._append(b"".join(batch))
                batch, batch_size = [], 0
                self._rotate()
            batch.append(rec)
            batch_size += len(rec)
        self._append(b"".join(batch))

    def _append(self, data: bytes) -> None:
        if self._fd < 0:
            raise ValueError(f"log file {self.path} is closed")
        view = memoryview(data)
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
                self._size += n
        except OSError as exc:
            raise RuntimeFailure(f"writing log file {self.path}: {exc.strerror}") from exc

    def _rotate(self) -> None:
        try:
            if self.max_files == 1:
                os.ftruncate(self._fd, 0)  # O_APPEND: the next write lands at 0
                self._size = 0
                return
            os.close(self._fd)
            self._fd = -1
            for k in range(self.max_files - 1, 0, -1):
                older = f"{self.path}.{k}"
                try:
                    os.replace(f"{self.path}.{k - 1}" if k > 1 else self.path, older)
                except FileNotFoundError:
                    pass
        except OSError as exc:
            raise RuntimeFailure(f"rotating log file {self.path}: {exc.strerror}") from exc
        self._open()


def read_logs(path: str, *, tail: int | None = None, since: float | None = None,
              timestamps: bool = False, follow: bool = False,
              stop: Callable[[], bool] | None = None, poll: float = 0.1) -> LogReader:
    """Records of ``path`` and its rotated files, oldest first, as (stream, bytes to print).

    ``tail`` keeps the last N records (counted across files, before ``since``
    filters, as Docker does); ``since`` drops records older than that epoch
    time; ``timestamps`` prefixes ``"<time> "``; ``follow`` keeps reading new
    records (across rotations) until ``stop()`` is true and nothing is left.
    Corrupt lines are skipped and counted in the reader's ``corrupt``.
    """
    return LogReader(path, tail, since, timestamps, follow, stop, poll)


def _open_ro(path: str) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RuntimeFailure(f"opening log file {path}: {exc.strerror}") from exc


def _last_line_end(fd: int, size: int) -> int:
    """Offset just past the last newline of ``fd[:size]`` (0 if none)."""
    pos = size
    while pos > 0:
        n = min(_BLOCK, pos)
        pos -= n
        k = os.pread(fd, n, pos).rfind(b"\n")
        if k >= 0:
            return pos + k + 1
    return 0


def _lines_backward(fd: int, end: int) -> Iterator[tuple[bytes, int]]:
    """(line without newline, its offset) of ``fd[:end]``, last first; ``end`` follows a newline."""
    pos, buf = end, b""
    while pos > 0:
        n = min(_BLOCK, pos)
        pos -= n
        block = os.pread(fd, n, pos)
        if len(block) != n:  # truncated under us: stop at what is consistent
            return
        buf = block + buf
        hi = len(buf)
        k = buf.rfind(b"\n", 0, hi - 1)
        while k >= 0:
            yield buf[k + 1:hi - 1], pos + k + 1
            hi = k + 1
            k = buf.rfind(b"\n", 0, hi - 1)
        buf = buf[:hi]
    if buf:
        yield buf[:-1], 0


class LogReader:
    """Iterator of (stream, bytes) over a container's log files; see :func:`read_logs`.

    ``corrupt`` counts lines skipped because they are not a json-file record
    (bad JSON, missing or mistyped fields, an unknown stream, a bad time).  An
    unterminated last line is a record still being written: followed, it is
    awaited; otherwise it is printed if whole and silently left out if not.
    Following a max_files=1 log that is truncated and refilled past the read
    position between two polls loses those records (Docker's reader shares
    this); the first line read there is then counted as corrupt.
    """

    __slots__ = ("_fds", "_gen", "_since_ns", "corrupt", "follow", "path", "poll", "stop",
                 "tail", "timestamps")

    def __init__(self, path: str, tail: int | None, since: float | None, timestamps: bool,
                 follow: bool, stop: Callable[[], bool] | None, poll: float) -> None:
        if tail is not None and tail < 0:
            raise ValueError(f"tail must not be negative, not {tail}")
        self.path, self.tail, self.timestamps = path, tail, timestamps
        self.follow, self.stop, self.poll = follow, stop, poll
        self._since_ns = None if since is None else round(since * _NS)
        self.corrupt = 0
        self._fds: list[int] = []  # open files still to read, oldest first
        self._gen = self._run()

    def __iter__(self) -> LogReader:
        return self

    def __next__(self) -> tuple[str, bytes]:
        return next(self._gen)

    def close(self) -> None:
        """Stop early and close the files (also done when the iteration ends)."""
        self._gen.close()

    def _run(self) -> Generator[tuple[str, bytes], None, None]:
        try:
            self._fds = self._snapshot()
            stopping = False
            while not self._fds:
                if not self.follow or stopping:
                    return
                stopping = self.stop is not None and self.stop()
                time.sleep(self.poll)
                self._fds = self._snapshot()
            idx, offset = self._tail_start() if self.tail is not None else (0, 0)
            for fd in self._fds[:idx]:
                os.close(fd)
            del self._fds[:idx]
            yield from self._forward(offset)
        finally:
            for fd in self._fds:
                os.close(fd)
            self._fds = []

    def _snapshot(self) -> list[int]:
        """Open ``path``, ``path.1``, … newest first (pinning them against a rotation
        meanwhile), drop an inode seen twice, and return them oldest first."""
        fds: list[tuple[int, int]] = []  # (mtime, fd)
        seen: set[tuple[int, int]] = set()
        k = misses = 0
        # A rotation in progress leaves one name missing at a time (the gap moves
        # down as files move up), so only two missing names in a row end the list;
        # scanning upwards then finds every file, since files only move upwards.
        while misses < 2:
            fd = _open_ro(f"{self.path}.{k}" if k else self.path)
            k += 1
            if fd is None:
                misses += 1
                continue
            misses = 0
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) in seen:
                os.close(fd)
            else:
                seen.add((st.st_dev, st.st_ino))
                fds.append((st.st_mtime_ns, fd))
        fds.reverse()
        # Several rotations during the scan could reorder what it saw; a file's last
        # write precedes the next one's first, so mtime restores the order (stable
        # sort: equal times keep the scan's order).
        fds.sort(key=lambda pair: pair[0])
        return [fd for _, fd in fds]

    def _tail_start(self) -> tuple[int, int]:
        """(file index, offset) where the last ``tail`` valid records begin."""
        count = 0
        for i in range(len(self._fds) - 1, -1, -1):
            fd = self._fds[i]
            end = _last_line_end(fd, os.fstat(fd).st_size)
            if self.tail == 0:
                return i, end
            for line, off in _lines_backward(fd, end):
                if _parse(line) is not None:
                    count += 1
                    if count == self.tail:
                        return i, off
        return 0, 0

    def _forward(self, pos: int) -> Iterator[tuple[str, bytes]]:
        fd = self._fds[0]
        buf = b""
        stopping = False
        while True:
            chunk = os.pread(fd, _BLOCK, pos)
            if chunk:
                pos += len(chunk)
                lines = (buf + chunk).split(b"\n")
                buf = lines.pop()
                for line in lines:
                    rec = self._record(line)
                    if rec is not None:
                        yield rec
                continue
            if len(self._fds) > 1:  # a newer file exists: this one is complete
                if buf:
                    rec = self._record(buf)
                    if rec is not None:
                        yield rec
                os.close(self._fds.pop(0))
                fd, pos, buf = self._fds[0], 0, b""
                continue
            if not self.follow or stopping:
                last = _parse(buf) if buf else None
                if last is not None and self._keep(last):
                    yield self._output(last)
                return
            if self._rotated(fd):
                continue  # drain the old file, then move on to the next one
            if os.fstat(fd).st_size < pos:  # truncated (max_files=1): start over
                pos, buf = 0, b""
                continue
            # Look at stop() *before* the last read, so data written before it was
            # set is still read; only then end.
            stopping = self.stop is not None and self.stop()
            if not stopping:
                time.sleep(self.poll)

    def _rotated(self, fd: int) -> bool:
        """If ``path`` is no longer ``fd``'s file, queue the file that followed it."""
        try:
            cur = os.stat(self.path)
        except FileNotFoundError:
            return False  # between the writer's rename and its new file
        st = os.fstat(fd)
        if (cur.st_dev, cur.st_ino) == (st.st_dev, st.st_ino):
            return False
        fds = self._snapshot()
        ids = [(s.st_dev, s.st_ino) for s in map(os.fstat, fds)]
        # Rotation only shifts names, so every file not ours is newer when ours is gone.
        nxt = ids.index((st.st_dev, st.st_ino)) + 1 if (st.st_dev, st.st_ino) in ids else 0
        for i, other in enumerate(fds):
            if i != nxt:
                os.close(other)
        if nxt >= len(fds):
            return False
        self._fds.append(fds[nxt])
        return True

    def _keep(self, rec: tuple[str, bytes, int]) -> bool:
        return self._since_ns is None or rec[2] >= self._since_ns

    def _output(self, rec: tuple[str, bytes, int]) -> tuple[str, bytes]:
        stream, data, ns = rec
        if self.timestamps:
            data = format_time(ns, fixed=True).encode("ascii") + b" " + data
        return stream, data

    def _record(self, line: bytes) -> tuple[str, bytes] | None:
        rec = _parse(line)
        if rec is None:
            self.corrupt += 1
            return None
        return self._output(rec) if self._keep(rec) else None


def _parse(line: bytes) -> tuple[str, bytes, int] | None:
    """(stream, original bytes, time in ns) of one json-file line, or None if corrupt."""
    try:
        obj = fastjson.loads(line)
        log, stream, stamp = obj["log"], obj["stream"], obj["time"]
        if not isinstance(log, str) or stream not in STREAMS or not isinstance(stamp, str):
            return None
        ns = parse_time(stamp)
    except (ValueError, KeyError, TypeError, IndexError, RecursionError):
        return None
    try:
        data = log.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = log.encode("utf-8", "replace")
    return stream, data, ns
