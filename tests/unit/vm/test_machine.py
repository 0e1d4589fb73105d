from __future__ import annotations

import os

import pytest

from launcher.errors import NotFoundError, UsageError
from launcher.paths import Paths
from launcher.vm import machine
from launcher.vm.machine import Machine


@pytest.mark.parametrize("name", ["", "-x", "a/b", "a b", "x" * 41, ".."])
def test_bad_names(paths: Paths, name: str) -> None:
    with pytest.raises(UsageError):
        Machine(paths, name)


def test_unknown_and_half_made_machines(paths: Paths) -> None:
    with pytest.raises(NotFoundError):
        Machine.load(paths, "nope")
    m = Machine(paths, "half")
    os.makedirs(m.dir)
    loaded = Machine.load(paths, "half")  # a directory without its record
    assert machine.status(loaded)[0] == "broken"
    assert "init did not finish" in machine.status(loaded)[1]
    assert machine.list_names(paths) == ["half"]


def test_record_round_trip_and_missing_files(paths: Paths, tmp_path: object) -> None:
    m = Machine(paths, "dev")
    os.makedirs(m.dir)
    m.cpus, m.shares, m.image_dir = 3, ["/home/me"], str(tmp_path)
    m.save()
    again = Machine.load(paths, "dev")
    assert (again.cpus, again.shares) == (3, ["/home/me"])
    state, why = machine.status(again)
    assert state == "broken" and "disk is missing" in why


def test_banner_ready_needs_ssh(paths: Paths) -> None:
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def answer(greeting: bytes) -> None:
        conn, _ = srv.accept()
        conn.sendall(greeting)
        conn.close()

    t = threading.Thread(target=answer, args=(b"HTTP/1.0 200\r\n",))
    t.start()
    assert not machine.banner_ready(port, 2.0)
    t.join()
    t = threading.Thread(target=answer, args=(b"SSH-2.0-OpenSSH_9.2\r\n",))
    t.start()
    assert machine.banner_ready(port, 2.0)
    t.join()
    srv.close()
