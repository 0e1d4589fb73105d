"""Fault injection: die at a named step, as a crash or ``kill -9`` would.

``LAUNCHER_FAULT=<point>`` makes the process that reaches ``point(<point>)``
SIGKILL itself there — no ``finally``, no undo, no flush — so tests can prove
that whatever a dead CLI or monitor leaves behind is still listed
consistently by ``ps`` and removed completely by ``rm -f``/``system prune``.
The variable is read once; an unset variable costs one comparison per point.
Points are named ``<process>.<step>``; tests/integration/cli/test_faults.py
lists them all.
"""

from __future__ import annotations

import os

_WANTED = os.environ.get("LAUNCHER_FAULT")


def point(name: str) -> None:
    """SIGKILL this process here when LAUNCHER_FAULT names ``name``."""
    if _WANTED is not None and name == _WANTED:
        os.kill(os.getpid(), 9)
