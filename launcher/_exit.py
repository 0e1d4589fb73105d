"""Leave the process quickly once a command has finished."""

from __future__ import annotations

import os
import sys


def fast_exit(code: int) -> None:
    """Flush stdio and ``os._exit``: skips interpreter finalization (module
    teardown, GC of every object: several ms with the modules a container
    start loads). Only for the CLIs' top level, after all work is done."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
