"""``launcher run -t``: the user's terminal ⇄ the container's pty master."""

from __future__ import annotations

import os

from launcher.backend.linux import procinfo
from launcher.backend.linux.forward import WINCH


def proxy(sock_fd: int, pid: int, interactive: bool) -> int:
    """Copy bytes both ways until the container exits; its exit code."""
    import _signal  # type: ignore[import-not-found]
    import fcntl
    import select
    import termios
    import tty

    from launcher.backend.linux.console import TIOCGWINSZ, TIOCSWINSZ, receive_master

    master = receive_master(sock_fd)
    stdin_tty = interactive and os.isatty(0)
    saved = termios.tcgetattr(0) if stdin_tty else None

    def resize(_sig: int = 0, _frame: object = None) -> None:
        if os.isatty(0):
            try:
                fcntl.ioctl(master, TIOCSWINSZ, fcntl.ioctl(0, TIOCGWINSZ, b"\0" * 8))
            except OSError:
                pass

    resize()
    old = _signal.signal(WINCH, resize)
    try:
        if saved is not None:
            tty.setraw(0)
        _pump(master, interactive, select)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        _signal.signal(WINCH, old)
        os.close(master)
    return procinfo.wait_exit(pid)


def _pump(master: int, interactive: bool, select: object) -> None:
    sel = select.select  # type: ignore[attr-defined]
    watch = [master, 0] if interactive else [master]
    while True:
        try:
            ready, _, _ = sel(watch, [], [])
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            continue
        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the container closed its side
                return
            if not data:
                return
            os.write(1, data)
        if 0 in ready:
            data = os.read(0, 65536)
            if not data:
                watch = [master]
                continue
            os.write(master, data)
