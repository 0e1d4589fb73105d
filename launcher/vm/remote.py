"""``machine ssh``: a shell or a command in a machine, over its pinned SSH.

(Forwarded launcher commands go through the host agent instead: agent.py.)
A pty in raw mode with resizes when both ends are terminals; the exit code
as a local process would give it.
"""

from __future__ import annotations

import os
import sys

from launcher.errors import StateError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import paramiko

    from launcher.paths import Paths
    from launcher.vm.machine import Machine



def running_machine(paths: Paths, name: str) -> Machine:
    from launcher.vm.driver import for_machine
    from launcher.vm.machine import Machine

    m = Machine.load(paths, name)
    if for_machine(m).alive(m) is None:
        raise StateError(f"machine {name} is not running (start it with "
                         f"`launcher machine start {name}`)")
    return m


def ssh(paths: Paths, name: str, command: list[str]) -> int:
    """``machine ssh``: a login shell, or COMMAND (joined with spaces for the
    guest's shell, as ssh(1) does)."""
    from launcher.vm import ops, sshconn

    m = running_machine(paths, name)
    client = ops.connect(m)
    try:
        tty = sys.stdin.isatty() and sys.stdout.isatty()
        pty = _pty_size() if tty else None
        line = " ".join(command) if command else "exec /bin/sh -l"
        if not command and not tty:
            line = "exec /bin/sh"
        chan = sshconn.open_session(client, line, pty, {"TERM": os.environ.get("TERM", "")}
                                    if tty else None)
        return _relay(chan, tty)
    finally:
        client.close()


def _pty_size() -> tuple[str, int, int]:
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
        cols, rows = size.columns, size.lines
    except OSError:
        cols, rows = 80, 24
    return os.environ.get("TERM", "xterm"), cols, rows


def _relay(chan: paramiko.Channel, tty: bool) -> int:
    """stdin → channel, channel → stdout/stderr; raw mode and resizes with a pty."""
    from launcher.vm import sshconn

    stdin_fd: int | None = sys.stdin.fileno() if not sys.stdin.closed else None
    if not tty or stdin_fd is None:
        return sshconn.relay(chan, stdin_fd)
    import signal
    import termios
    import tty as ttymod

    saved = termios.tcgetattr(stdin_fd)

    def resize(*_: object) -> None:
        _term, cols, rows = _pty_size()
        chan.resize_pty(width=cols, height=rows)

    old: Any = signal.signal(signal.SIGWINCH, resize)
    try:
        ttymod.setraw(stdin_fd)
        return sshconn.relay(chan, stdin_fd)
    finally:
        termios.tcsetattr(stdin_fd, termios.TCSADRAIN, saved)
        signal.signal(signal.SIGWINCH, old)
