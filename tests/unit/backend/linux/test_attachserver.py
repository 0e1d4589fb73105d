"""The monitor's attach server, driven through real sockets and pipes (no root)."""

from __future__ import annotations

import fcntl
import os
import socket
import stat
import struct
import subprocess
import termios
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.backend.linux import attachserver as srv
from launcher.backend.linux.attachserver import AttachServer, Streams, frame, split_frames


class FakeLog:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {"stdout": b"", "stderr": b""}
        self.flushed: list[str] = []

    def write(self, stream: str, data: bytes) -> None:
        self.data[stream] += data

    def flush(self, stream: str | None = None) -> None:
        self.flushed.append(stream or "")


class Run:
    """A server run in a thread: ``serve`` until the test closes the output
    writers, then ``finish(code)``."""

    def __init__(self, server: AttachServer, streams: Streams, code: int = 0) -> None:
        self.log = FakeLog()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, args=(server, streams, code))
        self.thread.start()

    def _main(self, server: AttachServer, streams: Streams, code: int) -> None:
        try:
            server.serve(streams, self.log)  # type: ignore[arg-type]
            server.finish(code)
        except BaseException as exc:  # reported by join()
            self.error = exc

    def join(self) -> None:
        self.thread.join(30)
        assert not self.thread.is_alive(), "the server hung"
        if self.error is not None:
            raise self.error


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AttachServer]:
    s = AttachServer(str(tmp_path))
    yield s
    s.close()


def connect(bundle: Path) -> socket.socket:
    dirfd = os.open(bundle, os.O_PATH | os.O_DIRECTORY)
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(srv.socket_path(dirfd))
    finally:
        os.close(dirfd)
    sock.settimeout(30)
    return sock


def frames_until(sock: socket.socket, kind: bytes) -> list[tuple[bytes, bytes]]:
    """Frames read from ``sock`` up to and including the first of ``kind``."""
    buf, got = bytearray(), list[tuple[bytes, bytes]]()
    while not got or got[-1][0] != kind:
        data = sock.recv(65536)
        assert data, f"connection closed before a {kind!r} frame; got {got}"
        buf += data
        got += split_frames(buf)
    return got


def piped(stdin: bool = True) -> tuple[Streams, dict[str, int]]:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if stdin else (-1, -1)
    return Streams(0, {out_r: "stdout", err_r: "stderr"}, in_w), {
        "out": out_w, "err": err_w, "in": in_r}


def end(ends: dict[str, int]) -> None:
    os.close(ends["out"])
    os.close(ends["err"])


def test_frames_round_trip_and_split_where_they_end() -> None:
    buf = bytearray(frame(b"o", b"abc") + frame(b"c") + frame(b"i", b"xyz")[:6])
    assert split_frames(buf) == [(b"o", b"abc"), (b"c", b"")]
    assert bytes(buf) == frame(b"i", b"xyz")[:6]
    buf += frame(b"i", b"xyz")[6:]
    assert split_frames(buf) == [(b"i", b"xyz")] and not buf


def test_an_oversized_frame_is_refused() -> None:
    with pytest.raises(ValueError):
        split_frames(bytearray(b"i" + (srv.MAX_FRAME + 1).to_bytes(4, "big")))


def test_socket_is_private_and_removed_on_close(tmp_path: Path) -> None:
    s = AttachServer(str(tmp_path))
    mode = os.stat(tmp_path / srv.SOCKET_NAME).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    s.close()
    assert not (tmp_path / srv.SOCKET_NAME).exists()


def test_a_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(tmp_path / srv.SOCKET_NAME))
    stale.close()  # its file stays, as after a monitor was killed
    s = AttachServer(str(tmp_path))
    connect(tmp_path).close()
    s.close()


def test_output_goes_to_every_client_and_the_log(server: AttachServer, tmp_path: Path) -> None:
    streams, ends = piped(stdin=False)
    a, b = connect(tmp_path), connect(tmp_path)
    run = Run(server, streams, code=7)
    assert frames_until(a, b"h") == [(b"h", b"\0\0")]  # no tty, no stdin
    assert frames_until(b, b"h") == [(b"h", b"\0\0")]
    os.write(ends["out"], b"out\n")
    os.write(ends["err"], b"err\n")
    end(ends)
    run.join()
    for sock in (a, b):
        got = frames_until(sock, b"x")
        assert (b"o", b"out\n") in got and (b"e", b"err\n") in got
        assert got[-1] == (b"x", (7).to_bytes(4, "big", signed=True))
        assert sock.recv(1) == b""  # closed after the exit frame
    assert run.log.data == {"stdout": b"out\n", "stderr": b"err\n"}


def test_input_reaches_stdin_and_close_gives_eof(server: AttachServer, tmp_path: Path) -> None:
    streams, ends = piped()
    client = connect(tmp_path)
    run = Run(server, streams)
    assert frames_until(client, b"h") == [(b"h", b"\0\1")]
    client.sendall(frame(b"i", b"hello ") + frame(b"i", b"there") + frame(b"c"))
    with os.fdopen(ends["in"], "rb") as reader:
        assert reader.read() == b"hello there"  # to EOF: the write end was closed
    client.sendall(frame(b"i", b"late"))  # dropped: stdin is closed
    end(ends)
    run.join()


def test_later_clients_learn_that_stdin_is_closed(server: AttachServer,
                                                  tmp_path: Path) -> None:
    streams, ends = piped()
    first = connect(tmp_path)
    run = Run(server, streams)
    frames_until(first, b"h")
    first.sendall(frame(b"c"))
    os.read(ends["in"], 1)  # EOF: the close was handled
    assert frames_until(connect(tmp_path), b"h") == [(b"h", b"\0\0")]
    os.close(ends["in"])
    end(ends)
    run.join()


def test_a_vanished_client_does_not_stop_the_server(server: AttachServer,
                                                   tmp_path: Path) -> None:
    streams, ends = piped()
    gone = connect(tmp_path)
    gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stays = connect(tmp_path)
    run = Run(server, streams)
    frames_until(gone, b"h")
    frames_until(stays, b"h")
    gone.close()  # with linger 0: a reset, as when a client is killed
    for _ in range(20):
        os.write(ends["out"], b"x" * 10000)
    stays.sendall(frame(b"i", b"ping"))
    assert os.read(ends["in"], 4) == b"ping"
    end(ends)
    got = frames_until(stays, b"x")
    run.join()
    assert sum(len(p) for k, p in got if k == b"o") == 200000
    os.close(ends["in"])


def test_a_slow_client_is_dropped_and_the_others_get_everything(server: AttachServer,
                                                                tmp_path: Path) -> None:
    streams, ends = piped(stdin=False)
    slow = connect(tmp_path)  # never reads
    fast = connect(tmp_path)
    run = Run(server, streams)
    frames_until(fast, b"h")
    total = srv.OUT_MAX * 2
    received = bytearray()
    reader = threading.Thread(target=lambda: received.extend(
        b"".join(p for k, p in frames_until(fast, b"x") if k == b"o")))
    reader.start()
    chunk = b"y" * 65536
    for _ in range(total // len(chunk)):
        os.write(ends["out"], chunk)  # would block for good if the server waited for `slow`
    end(ends)
    run.join()
    reader.join(30)
    assert len(received) == total
    slow.settimeout(30)
    got = 0
    while data := slow.recv(1 << 20):  # ends (dropped) without the whole output
        got += len(data)
    assert got < total


def test_a_client_sending_garbage_is_dropped(server: AttachServer, tmp_path: Path) -> None:
    streams, ends = piped()
    bad = connect(tmp_path)
    run = Run(server, streams)
    frames_until(bad, b"h")
    bad.sendall(b"i\xff\xff\xff\xff")
    assert bad.recv(1) == b""
    end(ends)
    run.join()
    os.close(ends["in"])


def test_unknown_frames_are_ignored(server: AttachServer, tmp_path: Path) -> None:
    streams, ends = piped()
    client = connect(tmp_path)
    run = Run(server, streams)
    frames_until(client, b"h")
    client.sendall(frame(b"?", b"future") + frame(b"i", b"ok"))
    assert os.read(ends["in"], 2) == b"ok"
    end(ends)
    run.join()
    os.close(ends["in"])


def test_signal_frames_reach_the_container_process(server: AttachServer,
                                                   tmp_path: Path) -> None:
    child = subprocess.Popen(["sleep", "60"])
    streams, ends = piped(stdin=False)
    streams.pid = child.pid
    client = connect(tmp_path)
    run = Run(server, streams)
    frames_until(client, b"h")
    client.sendall(frame(b"s", bytes([15])))
    assert child.wait(30) == -15
    end(ends)
    run.join()


def test_resize_sets_the_pty_size_and_output_is_stdout(server: AttachServer,
                                                       tmp_path: Path) -> None:
    master, slave = os.openpty()
    streams = Streams(0, {master: "stdout"}, master, master)
    client = connect(tmp_path)
    run = Run(server, streams, code=3)
    assert frames_until(client, b"h") == [(b"h", b"\1\1")]
    client.sendall(frame(b"r", struct.pack(">HH", 50, 132)) + frame(b"i", b"typed\n"))
    assert os.read(slave, 100) == b"typed\n"
    rows, cols = struct.unpack("HHHH", fcntl.ioctl(slave, termios.TIOCGWINSZ, b"\0" * 8))[:2]
    assert (rows, cols) == (50, 132)
    os.write(slave, b"shown\n")
    shown = b""
    while b"shown" not in shown:
        shown += b"".join(p for _, p in frames_until(client, b"o"))
    assert shown == b"typed\r\nshown\r\n"  # echo on, ONLCR: as a terminal prints
    os.close(slave)  # the container's side is gone: EIO on the master ends the run
    run.join()
    assert frames_until(client, b"x")[-1] == (b"x", (3).to_bytes(4, "big"))
    assert b"shown\r\n" in run.log.data["stdout"]


def test_the_socket_outlives_a_run(server: AttachServer, tmp_path: Path) -> None:
    for code in (1, 2):
        streams, ends = piped(stdin=False)
        client = connect(tmp_path)
        run = Run(server, streams, code=code)
        frames_until(client, b"h")
        end(ends)
        run.join()
        assert frames_until(client, b"x")[-1][1] == code.to_bytes(4, "big")
