"""The CLI's side of the host agent: start it if needed, send one request,
relay stdin/stdout/stderr (a pty in raw mode with resizes), return the exit code.

On Windows the agent listens on loopback TCP (launcher.vm.agent: ``agent.addr``
and a token, sent first), stdin is relayed from a thread (``select`` takes
only sockets there), a terminal is put in raw VT mode through the console API
(launcher.vm.wincon) and its size is polled, as there is no SIGWINCH.

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
    ADDR_FILE,
    AUTH,
    CLOSE_STDIN,
    EXIT,
    FATAL,
    PIDFILE,
    REQUEST,
    RESIZE,
    SIGNAL,
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


def _connect(run_dir: str, tcp: bool) -> _socket.socket | None:
    """A connection to the agent of ``run_dir``, or None when none answers."""
    if not tcp:
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            s.connect(os.path.join(run_dir, SOCKET))
            return s
        except OSError:
            s.close()
            return None
    from launcher import fastjson

    try:
        with open(os.path.join(run_dir, ADDR_FILE), "rb") as f:
            addr = fastjson.loads(f.read())
        port, token = int(addr["port"]), str(addr["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(frame(AUTH, token.encode()))
        return s
    except OSError:
        s.close()
        return None


def ensure(m: Target) -> _socket.socket:
    """A connection to the target's agent, starting the agent if it is not there."""
    from launcher.vm import hostproc
    from launcher.vm.hostpath import is_windows

    tcp = is_windows()
    sock = _connect(m.run_dir, tcp)
    if sock is not None:
        return sock
    import subprocess

    log_path = os.path.join(m.run_dir, "agent.log")
    log = open(log_path, "ab")  # noqa: SIM115 (handed to the child)
    start = log.tell()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "launcher.vm.agent", *m.agent_args],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                close_fds=True, **hostproc.spawn_flags())
    finally:
        log.close()
    deadline = time.monotonic() + AGENT_START_TIMEOUT
    while time.monotonic() < deadline:
        sock = _connect(m.run_dir, tcp)
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
    from launcher.vm import hostproc

    try:
        with open(os.path.join(m.run_dir, PIDFILE)) as f:
            hostproc.terminate(int(f.read()), False)
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
    from launcher.vm.hostpath import is_windows

    if is_windows():
        return _raw_windows(sock, stdin)
    import signal
    import termios
    import tty

    saved = termios.tcgetattr(stdin)

    def resize(*_: object) -> None:
        _send_size(sock)

    old = signal.signal(signal.SIGWINCH, resize)
    try:
        tty.setraw(stdin)
        return _relay(sock, stdin)
    finally:
        termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        signal.signal(signal.SIGWINCH, old)


def _send_size(sock: _socket.socket) -> None:
    cols, rows = _size()
    sock.sendall(frame(RESIZE, rows.to_bytes(2, "big") + cols.to_bytes(2, "big")))


def _raw_windows(sock: _socket.socket, stdin: int) -> int:
    """The console in raw VT mode; its size polled (Windows has no SIGWINCH)."""
    import threading

    from launcher.vm import wincon

    undo = wincon.raw_vt()
    done = threading.Event()

    def poll() -> None:
        last = _size()
        while not done.wait(0.25):
            if _size() != last:
                last = _size()
                try:
                    _send_size(sock)
                except OSError:
                    return

    threading.Thread(target=poll, daemon=True).start()
    try:
        return _relay(sock, stdin)
    finally:
        done.set()
        undo()


def _relay(sock: _socket.socket, stdin: int | None, threaded: bool | None = None) -> int:
    """Frames from the agent to stdout/stderr until the exit code; ``stdin``'s
    bytes to the agent, by ``select`` with the socket or (Windows, where
    ``select`` takes sockets only) from a thread of their own."""
    from launcher.vm.hostpath import is_windows

    if threaded if threaded is not None else is_windows():
        if stdin is not None:
            import threading

            threading.Thread(target=_stdin_pump, args=(sock, stdin), daemon=True).start()
        return _receive(sock, None)
    return _receive(sock, stdin)


def _stdin_pump(sock: _socket.socket, stdin: int) -> None:
    try:
        while data := os.read(stdin, 65536):
            sock.sendall(frame(STDIN, data))
        sock.sendall(frame(CLOSE_STDIN))
    except OSError:
        pass  # the session ended while we read


SIGINT_NUMBER = 2
INTERRUPTS_TO_GIVE_UP = 3  # the third Ctrl-C leaves even if the guest does not answer


class _Relay:
    """The bytes received but not yet a whole frame, and whether stdin is still
    being read: kept across a Ctrl-C, which interrupts the loop anywhere."""

    __slots__ = ("buf", "reading")

    def __init__(self, reading: bool) -> None:
        self.buf = bytearray()
        self.reading = reading


def _receive(sock: _socket.socket, stdin: int | None) -> int:
    """Relay until the exit code; Ctrl-C (KeyboardInterrupt, on Windows too) goes
    to the guest's command as SIGINT, as Docker's sig-proxy does."""
    relay = _Relay(stdin is not None)
    interrupts = 0
    while True:
        try:
            return _receive_frames(sock, stdin, relay)
        except KeyboardInterrupt:
            interrupts += 1
            if interrupts >= INTERRUPTS_TO_GIVE_UP:
                raise
            sock.sendall(frame(SIGNAL, bytes([SIGINT_NUMBER])))


def _receive_frames(sock: _socket.socket, stdin: int | None, relay: _Relay) -> int:
    import select

    buf = relay.buf
    while True:
        fds = [sock.fileno()] + ([stdin] if relay.reading and stdin is not None else [])
        try:
            ready = select.select(fds, [], [])[0]
        except InterruptedError:
            continue
        if relay.reading and stdin in ready:
            data = os.read(stdin, 65536)
            sock.sendall(frame(STDIN, data) if data else frame(CLOSE_STDIN))
            relay.reading = bool(data)
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
