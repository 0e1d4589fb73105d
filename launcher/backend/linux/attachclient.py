"""``launcher attach``: the client side of a monitor's attach socket.

``attach`` checks that the container runs, connects to ``attach.sock`` in its
bundle (protocol: attachserver.py) and copies: the container's output to our
stdout/stderr; with its stdin open, our stdin to it — in raw mode when that is
a terminal, watching for the detach keys; with a tty, our terminal's size at
once and on every SIGWINCH; without one, the signals we get (``--sig-proxy``).
It ends with the container's exit code, or 0 when the user detached.

When our stdin ends, a container without a tty gets EOF on its stdin (Docker
does that only for ``run -i`` without ``-d``; there ``echo x | docker attach``
leaves the container's stdin open and waits). ``--no-stdin`` sends nothing.
"""

from __future__ import annotations

import os

from launcher.backend.linux.attachserver import (
    CLOSE_STDIN,
    EXIT,
    HELLO,
    RESIZE,
    SIGNAL,
    STDERR,
    STDIN,
    STDOUT,
    frame,
    socket_path,
    split_frames,
)
from launcher.errors import ConflictError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket

    from launcher.paths import Paths

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
PROXIED = (1, 2, 3, 10, 12, 14, 15)  # HUP INT QUIT USR1 USR2 ALRM TERM
WINCH = 28
PENDING_MAX = 1 << 20  # input queued for the monitor before we stop reading stdin
STOPPED = "You cannot attach to a stopped container, start it first"


def parse_detach_keys(text: str) -> bytes:
    """Docker's ``--detach-keys``: comma-separated keys, each one ASCII character
    or ``ctrl-X`` with X one of a-z @ [ \\ ] ^ _. ValueError names a bad one."""
    keys = bytearray()
    for key in text.split(","):
        if len(key) == 1 and key.isascii():
            keys.append(ord(key))
        elif len(key) == 6 and key[:5].lower() == "ctrl-" and key[5].lower() in _CTRL:
            keys.append(ord(key[5].upper()) - 64)  # ctrl-a = 1 ... ctrl-_ = 31, ctrl-@ = 0
        else:
            raise ValueError(f"unknown key {key!r}: want a character or ctrl-<a-z@[\\]^_>")
    return bytes(keys)


_CTRL = frozenset("abcdefghijklmnopqrstuvwxyz@[\\]^_")


class DetachMatcher:
    """Docker's escape proxy: input passes through, except that bytes matching the
    start of the detach keys are held back; completed, they detach; broken,
    they are passed on."""

    __slots__ = ("held", "keys")

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = bytearray()

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to send on, whether the keys were completed)."""
        if not self.keys or (not self.held and self.keys[0] not in data):
            return data, False
        out = bytearray()
        for byte in data:
            if byte != self.keys[len(self.held)]:
                out += self.held
                self.held.clear()
                if byte != self.keys[0]:
                    out.append(byte)
                    continue
            self.held.append(byte)
            if len(self.held) == len(self.keys):
                self.held.clear()
                return bytes(out), True
        return bytes(out), False


def attach(paths: Paths, ref: str, *, stdin: bool, sig_proxy: bool, keys: bytes) -> int:
    """Attach to container ``ref``; its exit code, or 0 once detached."""
    from launcher.backend.linux import containers
    from launcher.backend.select import require_native

    require_native()
    c = containers.find(paths, ref)
    if c.status == "paused":
        raise ConflictError("You cannot attach to a paused container, unpause it first")
    if c.status == "restarting":
        raise ConflictError("You cannot attach to a restarting container, wait until it is "
                            "running")
    if not c.running:
        raise ConflictError(STOPPED)
    sock = connect(c.record.bundle)
    try:
        code, detached = Session(sock, (0, 1, 2), stdin, sig_proxy, keys).run()
    finally:
        sock.close()
    if detached:
        return 0
    if code is None:  # the monitor went away before telling: the record knows
        from launcher import containerlife

        code = containerlife.wait(paths, c.id)
    return code


def connect(bundle: str) -> socket.socket:
    import socket

    try:
        dirfd = os.open(bundle, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConflictError(STOPPED) from None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(socket_path(dirfd))
    except ConnectionRefusedError:  # its monitor is gone
        sock.close()
        raise ConflictError(STOPPED) from None
    except FileNotFoundError:
        sock.close()
        raise ConflictError("cannot attach: the container has no attach socket (only "
                            "containers run with -d can be attached)") from None
    finally:
        os.close(dirfd)
    return sock


class Session:
    """One attachment: ``run()`` → (exit code or None, whether detached)."""

    __slots__ = ("code", "fds", "keys", "pending", "rbuf", "sig_proxy", "sock", "stdin",
                 "tty", "wake")

    def __init__(self, sock: socket.socket, fds: tuple[int, int, int], stdin: bool,
                 sig_proxy: bool, keys: bytes) -> None:
        self.sock = sock
        self.fds = fds  # (stdin, stdout, stderr)
        self.stdin = stdin  # read our stdin (until its EOF)
        self.sig_proxy = sig_proxy
        self.keys = DetachMatcher(keys)
        self.tty = False
        self.code: int | None = None
        self.pending = bytearray()  # frames for the monitor
        self.rbuf = bytearray()
        self.wake = -1

    def run(self) -> tuple[int | None, bool]:
        import termios

        hello = self._hello()
        if hello is None or self.code is not None:  # gone, or it ended already
            return self.code, False
        self.tty, self.stdin = hello[0] == 1, self.stdin and hello[1] == 1
        raw = self.tty and self.stdin
        if raw and not os.isatty(self.fds[0]):  # as Docker: a pty's input comes from a terminal
            from launcher.errors import UsageError

            raise UsageError("the input device is not a TTY (use --no-stdin)")
        saved = termios.tcgetattr(self.fds[0]) if raw else None
        try:
            if saved is not None:
                import tty

                tty.setraw(self.fds[0], termios.TCSANOW)  # TCSANOW: keep typed-ahead input
            return self._with_signals()
        finally:
            if saved is not None:
                termios.tcsetattr(self.fds[0], termios.TCSADRAIN, saved)

    def _hello(self) -> bytes | None:
        while True:
            try:
                data = self.sock.recv(4096)
            except ConnectionResetError:
                data = b""
            if not data:
                return None  # the monitor closed before this run started: it has ended
            self.rbuf += data
            frames = split_frames(self.rbuf)
            if frames:
                kind, payload = frames[0]
                if kind != HELLO or len(payload) < 2:
                    raise ConflictError("cannot attach: the monitor spoke out of turn")
                self._handle(frames[1:])
                return payload

    def _with_signals(self) -> tuple[int | None, bool]:
        """SIGWINCH (tty) or the proxied signals (no tty) wake the loop through a pipe."""
        import signal

        sigs = [WINCH] if self.tty else list(PROXIED) if self.sig_proxy else []
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        old = {sig: signal.signal(sig, lambda _s, _f: None) for sig in sigs}
        old_wake = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        self.wake = r
        self.sock.setblocking(False)
        try:
            if self.tty:
                self._resize()
            return self._loop()
        finally:
            signal.set_wakeup_fd(old_wake)
            for sig, handler in old.items():
                signal.signal(sig, handler)
            os.close(r)
            os.close(w)

    def _resize(self) -> None:
        import fcntl
        import struct

        from launcher.backend.linux.console import TIOCGWINSZ

        for fd in (self.fds[1], self.fds[0]):  # Docker sizes by the output's terminal
            if os.isatty(fd):
                rows, cols = struct.unpack("HHHH", fcntl.ioctl(fd, TIOCGWINSZ, b"\0" * 8))[:2]
                if rows and cols:
                    self.pending += frame(RESIZE, struct.pack(">HH", rows, cols))
                return

    def _loop(self) -> tuple[int | None, bool]:
        import select

        sock = self.sock.fileno()
        while True:
            rlist = [sock, self.wake]
            if self.stdin and len(self.pending) < PENDING_MAX:
                rlist.append(self.fds[0])
            ready, writable, _ = select.select(rlist, [sock] if self.pending else [], [])
            if self.wake in ready:
                self._signals(os.read(self.wake, 256))
            if sock in writable:
                try:
                    del self.pending[:self.sock.send(self.pending)]
                except BlockingIOError:
                    pass
                except OSError:  # EPIPE, ECONNRESET: the monitor is gone
                    return self.code, False
            if self.fds[0] in ready and self._input():
                return None, True
            try:
                if sock in ready and not self._output():
                    return self.code, False
            except BrokenPipeError:  # our stdout was closed (`attach c | head -1`)
                return None, True

    def _signals(self, numbers: bytes) -> None:
        for sig in numbers:
            if sig == WINCH and self.tty:
                self._resize()
            elif sig in PROXIED and self.sig_proxy and not self.tty:
                self.pending += frame(SIGNAL, bytes((sig,)))

    def _input(self) -> bool:
        """Our stdin → the monitor; True when the detach keys were typed."""
        data = os.read(self.fds[0], 65536)
        if not data:
            self.stdin = False
            if not self.tty:
                self.pending += frame(CLOSE_STDIN)
            return False
        data, detach = self.keys.feed(data)
        if data:
            self.pending += frame(STDIN, data)
        if detach:
            try:
                self.sock.setblocking(True)  # what was typed before the keys still goes
                self.sock.sendall(self.pending)
            except OSError:
                pass  # the monitor went away meanwhile: detached all the same
        return detach

    def _output(self) -> bool:
        """The monitor → our stdout/stderr; False when it is done."""
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return True
        except ConnectionResetError:
            data = b""
        if not data:
            return False
        self.rbuf += data
        return self._handle(split_frames(self.rbuf))

    def _handle(self, frames: list[tuple[bytes, bytes]]) -> bool:
        for kind, payload in frames:
            if kind in (STDOUT, STDERR):
                _write_all(self.fds[2] if kind == STDERR else self.fds[1], payload)
            elif kind == EXIT and len(payload) == 4:
                self.code = int.from_bytes(payload, "big", signed=True)
                return False
        return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
