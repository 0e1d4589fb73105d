"""Run pytest with the platform simulated (tests/unit/portable/sim.py's prelude):

    python -m tests.unit.portable.run_simulated darwin|win32 [PYTEST ARGS...]

What scripts/test.sh runs over tests/unit for both platforms, so that code
meant for macOS and Windows hosts is exercised there without fcntl, termios,
resource, ctypes or pyroute2 in launcher's imports (and, for win32, without
the POSIX-only os.O_* flags)."""

from __future__ import annotations

import sys


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("darwin", "win32"):
        sys.stderr.write("usage: run_simulated.py darwin|win32 [PYTEST ARGS...]\n")
        return 2
    import os

    from tests.unit.portable.sim import PRELUDE, WINDOWS_FOLDERS

    if sys.argv[1] == "win32":  # pytest's own Windows console fix-up needs a console
        import _pytest.capture

        for key, value in WINDOWS_FOLDERS.items():
            os.environ.setdefault(key, value)
        _pytest.capture._windowsconsoleio_workaround = lambda stream: None  # type: ignore[attr-defined]
    exec(PRELUDE, {"__name__": "__simulated__"})  # pops the platform from sys.argv
    import pytest

    return int(pytest.main(sys.argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
