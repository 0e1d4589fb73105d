"""The CLI's side of the host agent: start it if needed, send one request,
relay stdin/stdout/stderr (a pty in raw mode with resizes), return the exit code.

Imports nothing heavy: no paramiko, no typer — the CLI stays a thin relay, so a
forwarded command costs a unix-socket connection plus the guest's own work.
"""

from __future__ import annotations

import _socket
import os
import sys
import time

from launcher.backend.linux.attachserver import frame, split_frames
from launcher.errors import RuntimeFailure
from launcher.vm.agent import (
    CLOSE_STDIN,
    EXIT,
    FATAL,
    PIDFILE,
    REQUEST,
    RESIZE,
    SOCKET,
    STDERR,
    STDIN,
    STDOUT,
    SYNC,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.vm.machine import Machine
    from launcher.vm.target import Target

AGENT_START_TIMEOUT = 30.0


def _connect(path: str) -> _socket.socket | None:
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.connect(path)
        return s
    except OSError:
        s.close()
        return None


def ensure(m: Target) -> _socket.socket:
    """A connection to the target's agent, starting the agent if it is not there."""
    path = os.path.join(m.run_dir, SOCKET)
    sock = _connect(path)
    if sock is not None:
        return sock
    import subprocess

    log_path = os.path.join(m.run_dir, "agent.log")
    log = open(log_path, "ab")  # noqa: SIM115 (handed to the child)
    start = log.tell()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "launcher.vm.agent", *m.agent_args],
                                stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log, start_new_session=True, close_fds=True)
    finally:
        log.close()
    deadline = time.monotonic() + AGENT_START_TIMEOUT
    while time.monotonic() < deadline:
        sock = _connect(path)
        if sock is not None:
            return sock
        if proc.poll() is not None:
            raise RuntimeFailure(_why(log_path, start) or f"the agent for {m.label} exited "
                                 f"(see {log_path})")
        time.sleep(0.02)
    proc.kill()
    raise RuntimeFailure(f"the agent for {m.label} did not start in time")


def _why(log_path: str, start: int) -> str | None:
    """The fatal error the agent just wrote, if it wrote one."""
    try:
        with open(log_path, "rb") as f:
            f.seek(start)
            lines = f.read(65536).decode(errors="replace").splitlines()
    except OSError:
        return None
    fatal = [ln[len(FATAL):] for ln in lines if ln.startswith(FATAL)]
    return fatal[-1] if fatal else None


def stop_agent(m: Machine) -> None:
    import signal

    try:
        with open(os.path.join(m.run_dir, PIDFILE)) as f:
            os.kill(int(f.read()), signal.SIGTERM)
    except (OSError, ValueError):
        pass


def run(m: Target, argv: list[str], env: dict[str, str], *, pty: bool,
        stdin: int | None, stage: dict[str, object] | None = None) -> int:
    """Run ``launcher ARGV`` on the target; its exit code. ``stdin``: an fd to
    send (None: none), ``pty``: a terminal, stdin in raw mode; ``stage``: stdin
    is a tar the guest unpacks first (launcher.vm.hostcopy)."""
    from launcher import fastjson

    sock = ensure(m)
    try:
        size = _size() if pty else None
        req: dict[str, object] = {
            "argv": argv, "env": env,
            "pty": [os.environ.get("TERM", "xterm"), *size] if size else None}
        if stage is not None:
            req["stage"] = stage
        sock.sendall(frame(REQUEST, fastjson.dumps(req).encode()))
        if stdin is None:
            sock.sendall(frame(CLOSE_STDIN))
        if pty and stdin is not None and os.isatty(stdin):
            return _raw(sock, stdin)
        return _relay(sock, stdin)
    finally:
        sock.close()


def sync_forwards(m: Target) -> int:
    """Make the machine's host forwards match its containers' ports now."""
    sock = ensure(m)
    try:
        sock.sendall(frame(SYNC))
        return _relay(sock, None)
    finally:
        sock.close()


def _size() -> tuple[int, int]:
    try:
        s = os.get_terminal_size(sys.stdout.fileno())
        return s.columns, s.lines
    except OSError:
        return 80, 24


def _raw(sock: _socket.socket, stdin: int) -> int:
    import signal
    import termios
    import tty

    saved = termios.tcgetattr(stdin)

    def resize(*_: object) -> None:
        cols, rows = _size()
        sock.sendall(frame(RESIZE, rows.to_bytes(2, "big") + cols.to_bytes(2, "big")))

    old = signal.signal(signal.SIGWINCH, resize)
    try:
        tty.setraw(stdin)
        return _relay(sock, stdin)
    finally:
        termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        signal.signal(signal.SIGWINCH, old)


def _relay(sock: _socket.socket, stdin: int | None) -> int:
    import select

    buf = bytearray()
    reading = stdin is not None
    while True:
        fds = [sock.fileno()] + ([stdin] if reading and stdin is not None else [])
        try:
            ready = select.select(fds, [], [])[0]
        except InterruptedError:
            continue
        if reading and stdin in ready:
            data = os.read(stdin, 65536)
            sock.sendall(frame(STDIN, data) if data else frame(CLOSE_STDIN))
            reading = bool(data)
        if sock.fileno() in ready:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeFailure("the VM agent closed the connection (the machine "
                                     "stopped?)")
            buf += chunk
            for kind, payload in split_frames(buf):
                if kind == STDOUT:
                    _write_all(1, payload)
                elif kind == STDERR:
                    _write_all(2, payload)
                elif kind == EXIT:
                    return int.from_bytes(payload, "big", signed=True)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]
