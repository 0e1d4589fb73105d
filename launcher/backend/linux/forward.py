"""Forward the signals a foreground CLI receives to the container's process.

Uses the C module ``_signal`` that :mod:`signal` wraps: importing
:mod:`signal` builds enums (~5 ms) that the start path does not need.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType

FORWARDED = (1, 2, 3, 10, 12, 15, 28)  # HUP INT QUIT USR1 USR2 TERM WINCH
WINCH = 28


class forward_signals:  # used like a function: ``with forward_signals(pid):``
    """Context manager; ``target`` may be set later (when the pid becomes known)."""

    __slots__ = ("_old", "target")

    def __init__(self, target: int | None) -> None:
        self.target = target
        self._old: dict[int, object] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.target:
            try:
                os.kill(self.target, signum)
            except ProcessLookupError:
                pass
        elif signum != WINCH:
            # No container process yet: stop here, and let the callers' undo
            # steps remove what was made so far (a plain SIGTERM would not).
            raise KeyboardInterrupt

    def __enter__(self) -> forward_signals:
        for sig in FORWARDED:
            self._old[sig] = _signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            _signal.signal(sig, old)
