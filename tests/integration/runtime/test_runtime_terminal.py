"""process.terminal for init: the pty master arrives on --console-socket."""

from __future__ import annotations

import os
import socket

import pytest

pytestmark = pytest.mark.root


def read_all(master: int) -> str:
    """Read the pty until the slave side is gone (EIO on Linux)."""
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode()


@pytest.fixture
def console(tmp_path):
    """A listening unix socket: (path, accept → the received master fd)."""
    path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(20)
    received: list[int] = []

    def accept() -> int:
        conn, _ = srv.accept()
        with conn:
            msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
        assert len(fds) == 1, f"no fd received (message {msg!r})"
        received.append(fds[0])
        return fds[0]

    yield path, accept
    srv.close()
    for fd in received:
        os.close(fd)


def test_init_terminal(bundle, rt, console):
    path, accept = console
    bundle.config["process"]["terminal"] = True
    bundle.process["env"].append("TERM=xterm")
    cid = bundle.create("tty; echo term=$TERM; ls /dev/console", "--console-socket", path)
    master = accept()
    assert os.isatty(master)
    rt.ok("start", cid)
    rt.wait_stopped(cid)
    lines = read_all(master).replace("\r", "").splitlines()
    assert lines == ["/dev/pts/0", "term=xterm", "/dev/console"]


def test_init_terminal_console_size(bundle, rt, console):
    path, accept = console
    bundle.config["process"]["terminal"] = True
    bundle.config["process"]["consoleSize"] = {"height": 33, "width": 111}
    cid = bundle.create("stty size", "--console-socket", path)
    master = accept()
    rt.ok("start", cid)
    rt.wait_stopped(cid)
    assert read_all(master).strip() == "33 111"


def test_terminal_without_console_socket_fails(bundle, rt):
    bundle.config["process"]["terminal"] = True
    bundle.set_script("tty")
    bundle.write()
    cid = rt.new_id()
    err = rt.fails("create", "--bundle", str(bundle.path), cid)
    assert "console" in err
    assert rt.leftovers(cid) == []
