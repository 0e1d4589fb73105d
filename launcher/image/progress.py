"""What a pull or push tells the user while it works.

Three reporters behind one small interface: ``NullReporter`` (``-q`` and the
API), ``LineReporter`` (plain lines, as ``docker pull`` prints when stderr is
not a terminal: CI logs stay readable) and ``RichReporter`` (a live progress
bar per layer on a terminal; rich is imported only then). Workers call them
from several threads: every reporter is thread-safe.
"""

from __future__ import annotations

import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol, TextIO

    class Reporter(Protocol):
        def status(self, message: str) -> None: ...
        def warn(self, message: str) -> None: ...
        def start(self, digest: str, size: int) -> None: ...
        def advance(self, digest: str, nbytes: int) -> None: ...
        def layer(self, digest: str, state: str) -> None: ...
        def close(self) -> None: ...


def short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


class NullReporter:
    __slots__ = ()

    def status(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    def start(self, digest: str, size: int) -> None:
        pass

    def advance(self, digest: str, nbytes: int) -> None:
        pass

    def layer(self, digest: str, state: str) -> None:
        pass

    def close(self) -> None:
        pass


class LineReporter:
    """One line per event; byte counts are not printed (they would flood a log)."""

    __slots__ = ("_lock", "out")

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr
        self._lock = threading.Lock()

    def _line(self, text: str) -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def status(self, message: str) -> None:
        self._line(message)

    def warn(self, message: str) -> None:
        self._line(f"WARNING: {message}")

    def start(self, digest: str, size: int) -> None:
        self._line(f"{short(digest)}: Pulling fs layer")

    def advance(self, digest: str, nbytes: int) -> None:
        pass

    def layer(self, digest: str, state: str) -> None:
        self._line(f"{short(digest)}: {state}")

    def close(self) -> None:
        pass


class RichReporter:
    """A progress bar per layer on the terminal (stderr)."""

    __slots__ = ("_lock", "_progress", "_tasks")

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TransferSpeedColumn,
        )

        self._progress: Any = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._tasks: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._progress.start()

    def status(self, message: str) -> None:
        self._progress.console.print(message, markup=False, highlight=False)

    def warn(self, message: str) -> None:
        self._progress.console.print(f"WARNING: {message}", markup=False, style="yellow")

    def start(self, digest: str, size: int) -> None:
        with self._lock:
            self._tasks[digest] = self._progress.add_task(f"{short(digest)}: Downloading",
                                                          total=size)

    def advance(self, digest: str, nbytes: int) -> None:
        task = self._tasks.get(digest)
        if task is not None:
            self._progress.advance(task, nbytes)

    def layer(self, digest: str, state: str) -> None:
        with self._lock:
            task = self._tasks.get(digest)
            if task is None:
                self._tasks[digest] = self._progress.add_task(f"{short(digest)}: {state}",
                                                              total=None)
            else:
                self._progress.update(task, description=f"{short(digest)}: {state}")

    def close(self) -> None:
        self._progress.stop()


def for_terminal(quiet: bool, stream: TextIO | None = None) -> Reporter:
    """The reporter a command line wants: none with ``-q``, bars on a tty, else lines."""
    if quiet:
        return NullReporter()
    out = stream or sys.stderr
    isatty = getattr(out, "isatty", None)
    if stream is None and isatty is not None and isatty():
        return RichReporter()
    return LineReporter(out)
