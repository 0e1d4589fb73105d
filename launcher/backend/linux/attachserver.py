"""The attach server in a detached container's monitor (``launcher attach``).

The monitor listens on ``attach.sock`` in the bundle (the socket 0600, the
bundle 0700) for as long as it lives, restarts included. Any number of
clients may attach: the container's output goes to every one of them (and to
the log), input from any of them goes to the container's stdin — a pipe the
monitor holds open (``run -d -i``: no EOF while nobody is attached) or the pty
(``-t``). One selector loop, every fd non-blocking: a client that vanishes
(EPIPE, ECONNRESET) is dropped, and one that falls ``OUT_MAX`` bytes behind is
disconnected rather than let it stall the container.

Protocol: frames of ``TYPE`` (1 byte), ``LENGTH`` (4 bytes, big-endian), payload.

monitor → client
  ``h``  hello, always first: 2 bytes, tty (0/1) and stdin accepted (0/1)
  ``o``  container stdout (with a tty: all the pty printed)
  ``e``  container stderr (never with a tty)
  ``x``  the container exited: its code, 4 bytes signed; then the monitor closes
client → monitor
  ``i``  bytes for the container's stdin (dropped when it has none open)
  ``r``  resize the pty: rows, cols, 2 bytes unsigned each (ignored without a tty)
  ``c``  close the container's stdin once what was sent is written (not a pty)
  ``s``  send the container's process a signal: 1 byte, its number (sig-proxy)

Unknown types are ignored. A client detaches by closing the connection. One
that connects between two runs of a ``--restart`` container waits in the
listen backlog for the next run; every client of a run gets its exit frame.
"""

from __future__ import annotations

import _socket  # the C module under `socket`, which costs ~10 ms of enum imports
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import selectors
    from typing import Protocol

    class LogWriter(Protocol):
        """Where output goes: logfile.LogWriter, or nothing (--log-driver none)."""

        def write(self, stream: str, data: bytes, now: float | None = None) -> None: ...
        def flush(self, stream: str | None = None, now: float | None = None) -> None: ...

SOCKET_NAME = "attach.sock"
HEADER = 5
MAX_FRAME = 1 << 20  # a larger frame is a broken client
OUT_MAX = 4 << 20  # output a client may lag behind before it is disconnected
IN_MAX = 1 << 20  # input held for a container not reading it before clients are not read
DRAIN_SECONDS = 5.0  # at exit, how long clients get to take what is queued for them
HELLO, STDOUT, STDERR, EXIT = b"h", b"o", b"e", b"x"
STDIN, RESIZE, CLOSE_STDIN, SIGNAL = b"i", b"r", b"c", b"s"
_R, _W = 1, 2  # selectors.EVENT_READ, EVENT_WRITE (the module is imported once serving)


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    return kind + len(payload).to_bytes(4, "big") + payload


def split_frames(buf: bytearray) -> list[tuple[bytes, bytes]]:
    """Take the complete frames off the front of ``buf``; ValueError for an oversized one."""
    out = []
    while len(buf) >= HEADER:
        size = int.from_bytes(buf[1:HEADER], "big")
        if size > MAX_FRAME:
            raise ValueError(f"attach frame of {size} bytes")
        if len(buf) < HEADER + size:
            break
        out.append((bytes(buf[:1]), bytes(buf[HEADER:HEADER + size])))
        del buf[:HEADER + size]
    return out


def socket_path(dirfd: int) -> str:
    """The socket's address through an fd to the bundle: sun_path holds only 108
    bytes, and a bundle's path need not fit."""
    return f"/proc/self/fd/{dirfd}/{SOCKET_NAME}"


class Streams:
    """One run's container side: its output fds (→ stream name), where its input
    goes (a pipe's write end or the pty master; -1: none), its pty master (-1: no
    tty) and its pid. The server closes them all at the end of the run."""

    __slots__ = ("closing", "master", "outputs", "pid", "stdin")

    def __init__(self, pid: int, outputs: dict[int, str], stdin: int = -1,
                 master: int = -1) -> None:
        self.pid = pid
        self.outputs = outputs
        self.stdin = stdin
        self.master = master
        self.closing = False  # a client asked to close stdin once the input is written

    def fds(self) -> set[int]:
        return {*self.outputs, self.stdin, self.master} - {-1}


class _Client:
    __slots__ = ("rbuf", "sock", "wbuf")

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.rbuf = bytearray()
        self.wbuf = bytearray()


class AttachServer:
    """The listening socket and the attached clients; see the module docstring."""

    __slots__ = ("_clients", "_dirfd", "_inbuf", "_listener", "_sel", "_streams")

    def __init__(self, bundle: str) -> None:
        self._dirfd = os.open(bundle, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            try:
                os.unlink(SOCKET_NAME, dir_fd=self._dirfd)  # a previous monitor's
            except FileNotFoundError:
                pass
            self._listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            old = os.umask(0o177)  # the socket file is born 0600
            try:
                self._listener.bind(socket_path(self._dirfd))
            finally:
                os.umask(old)
            self._listener.listen(16)
            self._listener.setblocking(False)
        except BaseException:
            os.close(self._dirfd)
            raise
        self._clients: dict[int, _Client] = {}
        self._inbuf = bytearray()
        self._sel: selectors.BaseSelector | None = None
        self._streams = Streams(0, {})

    def serve(self, streams: Streams, log: LogWriter) -> None:
        """Copy output to the log and the clients, and input to the container,
        until every output fd is at EOF (the container is gone)."""
        import selectors

        if self._sel is None:
            self._sel = selectors.DefaultSelector()
        self._streams, self._inbuf = streams, bytearray()
        for fd in streams.fds():
            os.set_blocking(fd, False)
        while streams.outputs:
            self._sync(draining=False)
            for key, events in self._sel.select():
                self._ready(int(key.fd), events, log)

    def finish(self, code: int) -> None:
        """Send every client the exit frame, give them ``DRAIN_SECONDS`` to take
        what is queued, close them and the run's fds."""
        import time

        for client in list(self._clients.values()):
            client.wbuf += frame(EXIT, code.to_bytes(4, "big", signed=True))
            self._flush(client)
        deadline = time.monotonic() + DRAIN_SECONDS
        while self._sel is not None and any(c.wbuf for c in self._clients.values()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._sync(draining=True)
            for key, _events in self._sel.select(left):
                if key.fd in self._clients:
                    self._flush(self._clients[key.fd])
        for client in list(self._clients.values()):
            self._drop(client)
        for fd in self._streams.fds():
            self._close(fd)
        self._streams = Streams(0, {})

    def close(self) -> None:
        """Stop listening and remove the socket file; nobody can attach any more."""
        for client in list(self._clients.values()):
            self._drop(client)
        if self._sel is not None:
            self._sel.close()
            self._sel = None
        self._listener.close()
        try:
            os.unlink(SOCKET_NAME, dir_fd=self._dirfd)
        except OSError:
            pass  # the bundle is gone (--rm, rm -f)
        os.close(self._dirfd)

    def _sync(self, draining: bool) -> None:
        """Register each fd for what it waits for now."""
        assert self._sel is not None
        s = self._streams
        want: dict[int, int] = {}
        if not draining:
            want[self._listener.fileno()] = _R
            want.update(dict.fromkeys(s.outputs, _R))
            if s.stdin >= 0 and self._inbuf:
                want[s.stdin] = want.get(s.stdin, 0) | _W
        reading = not draining and len(self._inbuf) < IN_MAX  # else: back-pressure
        for fd, client in self._clients.items():
            mask = (_R if reading else 0) | (_W if client.wbuf else 0)
            if mask:
                want[fd] = mask
        have = {key.fd: key.events for key in self._sel.get_map().values()}
        for fd in have.keys() - want.keys():
            self._sel.unregister(fd)
        for fd, mask in want.items():
            if fd not in have:
                self._sel.register(fd, mask)
            elif have[fd] != mask:
                self._sel.modify(fd, mask)

    def _ready(self, fd: int, events: int, log: LogWriter) -> None:
        # Every handler tolerates a stale event: an fd may have been closed and
        # its number reused earlier in the same batch.
        s = self._streams
        if fd == self._listener.fileno():
            self._accept()
            return
        if events & _W and fd == s.stdin:
            self._feed_stdin()
        if events & _R and fd in s.outputs:
            self._output(fd, log)
        if fd in self._clients and events & _W:
            self._flush(self._clients[fd])
        if fd in self._clients and events & _R:  # (still there: the flush may drop it)
            self._receive(self._clients[fd])

    def _accept(self) -> None:
        try:
            fd, _addr = self._listener._accept()  # type: ignore[attr-defined]
        except OSError:  # EAGAIN: another event took it; ECONNABORTED, EMFILE
            return
        sock = _socket.socket(fileno=fd)
        sock.setblocking(False)
        cred = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
        if int.from_bytes(cred[4:8], sys.byteorder) not in (0, os.geteuid()):
            sock.close()  # the 0700 bundle already keeps others out: belt and braces
            return
        client = _Client(sock)
        self._clients[fd] = client
        s = self._streams
        client.wbuf += frame(HELLO, bytes((s.master >= 0, s.stdin >= 0 and not s.closing)))
        self._flush(client)

    def _output(self, fd: int, log: LogWriter) -> None:
        s = self._streams
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: the last holder of the pty's other side closed it
            data = b""
        name = s.outputs[fd]
        if data:
            log.write(name, data)
            self._broadcast(frame(STDERR if name == "stderr" else STDOUT, data))
            return
        log.flush(name)
        del s.outputs[fd]
        if fd == s.stdin:
            s.stdin = -1  # the pty is gone: no more input either
        if fd == s.master:
            s.master = -1
        self._close(fd)

    def _broadcast(self, data: bytes) -> None:
        for client in list(self._clients.values()):
            if len(client.wbuf) + len(data) > OUT_MAX:
                self._drop(client)  # too slow: the container must not wait for it
                continue
            client.wbuf += data
            self._flush(client)

    def _flush(self, client: _Client) -> None:
        try:
            n = client.sock.send(client.wbuf, _socket.MSG_NOSIGNAL)
        except BlockingIOError:
            return
        except OSError:  # EPIPE, ECONNRESET: it went away
            self._drop(client)
            return
        del client.wbuf[:n]

    def _receive(self, client: _Client) -> None:
        try:
            data = client.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # detached (or gone)
            self._drop(client)
            return
        client.rbuf += data
        try:
            frames = split_frames(client.rbuf)
        except ValueError:
            self._drop(client)
            return
        for kind, payload in frames:
            self._command(kind, payload)

    def _command(self, kind: bytes, payload: bytes) -> None:
        s = self._streams
        if kind == STDIN:
            if s.stdin >= 0 and not s.closing:
                self._inbuf += payload
                self._feed_stdin()
        elif kind == RESIZE and len(payload) == 4 and s.master >= 0:
            rows, cols = int.from_bytes(payload[:2], "big"), int.from_bytes(payload[2:], "big")
            _resize(s.master, rows, cols)
        elif kind == CLOSE_STDIN and s.stdin >= 0 and s.master < 0:
            s.closing = True
            self._feed_stdin()
        elif kind == SIGNAL and len(payload) == 1 and 0 < payload[0] < 65 and s.pid > 0:
            try:
                os.kill(s.pid, payload[0])  # our child, not yet reaped: never a recycled pid
            except OSError:
                pass

    def _feed_stdin(self) -> None:
        s = self._streams
        while self._inbuf and s.stdin >= 0:
            try:
                n = os.write(s.stdin, self._inbuf[:65536])
            except BlockingIOError:
                return
            except OSError:  # EPIPE: nobody reads the container's stdin any more
                self._inbuf.clear()
                self._stdin_done()
                return
            del self._inbuf[:n]
        if s.closing and s.stdin >= 0:
            self._stdin_done()

    def _stdin_done(self) -> None:
        s = self._streams
        if s.stdin != s.master:  # the pty's master also carries the output
            self._close(s.stdin)
        s.stdin = -1

    def _drop(self, client: _Client) -> None:
        fd = client.sock.fileno()
        if self._sel is not None and fd in self._sel.get_map():
            self._sel.unregister(fd)
        self._clients.pop(fd, None)
        client.sock.close()

    def _close(self, fd: int) -> None:
        """Close one of the run's fds, unregistered first: its number may come back."""
        if self._sel is not None and fd in self._sel.get_map():
            self._sel.unregister(fd)
        os.close(fd)


def _resize(master: int, rows: int, cols: int) -> None:
    import fcntl
    import struct

    from launcher.backend.linux.console import TIOCSWINSZ

    try:
        fcntl.ioctl(master, TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    except OSError:
        pass
