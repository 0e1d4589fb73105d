"""The CLIs' processes: collect garbage rarely, and leave quickly once done."""

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


GC_THRESHOLD = 20_000  # net allocations between young collections (CPython's: 700)


def rare_gc() -> None:
    """Collect cycles every ~20,000 net allocations rather than every 700: a
    container start allocates ~10,000 (mostly while importing), which cost ~12
    young and one middle collection, ~1.5 ms of a ~35 ms start, and a start
    that allocated a little more (the seccomp filter's rules) paid for one more.
    Processes that live on (a container's monitor, ``logs -f``) still collect;
    cycles are rare in launcher's code. Only for the CLIs' top level."""
    import gc

    gc.set_threshold(GC_THRESHOLD, 10, 10)

