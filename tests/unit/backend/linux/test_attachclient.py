"""``launcher attach``'s client: detach keys, and a session against a scripted monitor."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import struct
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from launcher.backend.linux.attachclient import (
    DetachMatcher,
    Session,
    attach,
    parse_detach_keys,
)
from launcher.backend.linux.attachserver import frame, split_frames
from launcher.backend.linux.record import ContainerRecord
from launcher.errors import ConflictError, UsageError
from launcher.paths import Paths


@pytest.mark.parametrize(("text", "keys"), [
    ("ctrl-p,ctrl-q", b"\x10\x11"),
    ("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", bytes([0, 27, 28, 29, 30, 31])),
    ("a,CTRL-A,ctrl-Z", b"a\x01\x1a"),
    ("x", b"x"),
])
def test_detach_keys_as_docker_reads_them(text: str, keys: bytes) -> None:
    assert parse_detach_keys(text) == keys


@pytest.mark.parametrize("text", ["ctrl-1", "ctrl-", "ab", "é", "", "ctrl-pp", "a,,b"])
def test_bad_detach_keys(text: str) -> None:
    with pytest.raises(ValueError):
        parse_detach_keys(text)


def test_matcher_passes_input_and_detects_the_keys_across_reads() -> None:
    m = DetachMatcher(b"\x10\x11")
    assert m.feed(b"plain") == (b"plain", False)
    assert m.feed(b"ab\x10") == (b"ab", False)  # held: may be the start of the keys
    assert m.feed(b"\x11rest") == (b"", True)


def test_matcher_gives_back_a_broken_sequence() -> None:
    m = DetachMatcher(b"\x10\x11")
    assert m.feed(b"\x10x") == (b"\x10x", False)
    assert m.feed(b"\x10\x10\x11") == (b"\x10", True)  # the second ctrl-p starts it anew


class Monitor:
    """The far end of a socketpair, scripted in a thread: ``script(sock)``."""

    def __init__(self, hello: bytes, script: Callable[[socket.socket], None]) -> None:
        self.client, self.sock = socket.socketpair()
        self.sock.sendall(frame(b"h", hello))
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, args=(script,))
        self.thread.start()

    def _main(self, script: Callable[[socket.socket], None]) -> None:
        try:
            script(self.sock)
        except BaseException as exc:
            self.error = exc
        finally:
            self.sock.close()

    def join(self) -> None:
        self.thread.join(30)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


def read_frames(sock: socket.socket, until: bytes) -> list[tuple[bytes, bytes]]:
    buf, got = bytearray(), list[tuple[bytes, bytes]]()
    while not got or got[-1][0] != until:
        data = sock.recv(65536)
        assert data, f"closed before {until!r}: {got}"
        buf += data
        got += split_frames(buf)
    return got


def exit_with(code: int) -> bytes:
    return frame(b"x", code.to_bytes(4, "big", signed=True))


class Fds:
    """Pipes standing in for the client's stdin, stdout and stderr."""

    def __init__(self, stdin: bytes | None = None) -> None:
        self.in_r, self.in_w = os.pipe()
        self.out_r, self.out_w = os.pipe()
        self.err_r, self.err_w = os.pipe()
        if stdin is not None:
            os.write(self.in_w, stdin)
            os.close(self.in_w)
            self.in_w = -1

    def triple(self) -> tuple[int, int, int]:
        return self.in_r, self.out_w, self.err_w

    def output(self) -> tuple[bytes, bytes]:
        os.close(self.out_w)
        os.close(self.err_w)
        with os.fdopen(self.out_r, "rb") as out, os.fdopen(self.err_r, "rb") as err:
            return out.read(), err.read()

    def close(self) -> None:
        for fd in (self.in_r, self.in_w):
            if fd >= 0:
                os.close(fd)


@pytest.fixture
def fds() -> Iterator[Callable[..., Fds]]:
    made: list[Fds] = []

    def make(stdin: bytes | None = None) -> Fds:
        made.append(Fds(stdin))
        return made[-1]

    yield make
    for f in made:
        f.close()


def test_output_is_copied_and_the_exit_code_returned(fds: Callable[..., Fds]) -> None:
    io = fds()

    def script(sock: socket.socket) -> None:
        sock.sendall(frame(b"o", b"out\n") + frame(b"e", b"err\n") + exit_with(7))

    mon = Monitor(b"\0\0", script)
    code = Session(mon.client, io.triple(), True, True, b"\x10\x11").run()
    mon.join()
    mon.client.close()
    assert code == (7, False)
    assert io.output() == (b"out\n", b"err\n")


def test_stdin_is_sent_then_closed_at_its_end(fds: Callable[..., Fds]) -> None:
    io = fds(stdin=b"hello\n")
    seen: list[tuple[bytes, bytes]] = []

    def script(sock: socket.socket) -> None:
        seen.extend(read_frames(sock, b"c"))
        sock.sendall(frame(b"o", b"hello\n") + exit_with(0))

    mon = Monitor(b"\0\1", script)
    assert Session(mon.client, io.triple(), True, True, b"\x10\x11").run() == (0, False)
    mon.join()
    mon.client.close()
    assert b"".join(p for k, p in seen if k == b"i") == b"hello\n"
    assert io.output()[0] == b"hello\n"


def test_no_stdin_sends_nothing(fds: Callable[..., Fds]) -> None:
    io = fds(stdin=b"ignored")
    seen: list[bytes] = []

    def script(sock: socket.socket) -> None:
        sock.sendall(exit_with(1))
        while data := sock.recv(4096):
            seen.append(data)

    mon = Monitor(b"\0\1", script)
    assert Session(mon.client, io.triple(), False, True, b"\x10\x11").run() == (1, False)
    mon.client.close()
    mon.join()
    assert seen == []


def test_detach_keys_end_the_session_after_what_was_typed(fds: Callable[..., Fds]) -> None:
    io = fds(stdin=b"ls\x10\x11more")
    seen: list[tuple[bytes, bytes]] = []

    def script(sock: socket.socket) -> None:
        buf = bytearray()
        while data := sock.recv(4096):
            buf += data
        seen.extend(split_frames(buf))

    mon = Monitor(b"\0\1", script)  # no tty: the keys work all the same (as Docker's)
    assert Session(mon.client, io.triple(), True, True, b"\x10\x11").run() == (None, True)
    mon.client.close()
    mon.join()
    assert seen == [(b"i", b"ls")]


def test_a_monitor_that_goes_away_gives_no_code(fds: Callable[..., Fds]) -> None:
    io = fds()
    mon = Monitor(b"\0\0", lambda sock: None)
    assert Session(mon.client, io.triple(), True, True, b"\x10\x11").run() == (None, False)
    mon.join()
    mon.client.close()


def test_signals_are_proxied_without_a_tty(fds: Callable[..., Fds]) -> None:
    io = fds()
    seen: list[tuple[bytes, bytes]] = []

    def script(sock: socket.socket) -> None:
        while signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL:
            time.sleep(0.01)  # until the session proxies it
        os.kill(os.getpid(), signal.SIGUSR1)
        seen.extend(read_frames(sock, b"s"))
        sock.sendall(exit_with(0))

    mon = Monitor(b"\0\0", script)
    assert Session(mon.client, io.triple(), True, True, b"\x10\x11").run() == (0, False)
    mon.join()
    mon.client.close()
    assert seen[-1] == (b"s", bytes([signal.SIGUSR1]))
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL  # restored


def test_the_terminal_size_is_sent_at_once_and_on_sigwinch(fds: Callable[..., Fds]) -> None:
    io = fds()
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    seen: list[tuple[bytes, bytes]] = []

    def script(sock: socket.socket) -> None:
        seen.extend(read_frames(sock, b"r"))
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
        os.kill(os.getpid(), signal.SIGWINCH)
        seen.extend(read_frames(sock, b"r"))
        sock.sendall(exit_with(0))

    mon = Monitor(b"\1\0", script)  # a tty, no stdin: no raw mode
    try:
        result = Session(mon.client, (io.in_r, slave, io.err_w), True, True, b"").run()
    finally:
        os.close(master)
        os.close(slave)
    mon.join()
    mon.client.close()
    assert result == (0, False)
    assert [p for k, p in seen if k == b"r"] == [struct.pack(">HH", 30, 100),
                                                 struct.pack(">HH", 50, 120)]


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="the native backend's attach (elsewhere: forwarded to a machine)")
def test_attaching_to_a_stopped_container_is_refused(tmp_path: Path) -> None:
    paths = Paths.from_root(str(tmp_path))
    bundle = tmp_path / "storage" / "containers" / ("a" * 64)
    bundle.mkdir(parents=True)
    rec = ContainerRecord("a" * 64, str(bundle))
    rec.started_at, rec.exit_code = "2024-01-01T00:00:00Z", 0
    rec.save()
    with pytest.raises(ConflictError, match="stopped container"):
        attach(paths, "aaaa", stdin=True, sig_proxy=True, keys=b"\x10\x11")


def test_a_tty_with_stdin_wants_a_terminal(fds: Callable[..., Fds]) -> None:
    io = fds()
    mon = Monitor(b"\1\1", lambda sock: None)
    with pytest.raises(UsageError, match="not a TTY"):
        Session(mon.client, io.triple(), True, True, b"\x10\x11").run()
    mon.join()
    mon.client.close()
