"""The host agent's sessions against an in-process SSH server: a spare guest
command started ahead serves the next request, a new spare follows, and
requests with a terminal (or a dead spare) get a channel of their own."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from launcher import fastjson
from launcher.backend.linux.attachserver import frame, split_frames
from launcher.paths import Paths
from launcher.vm import agent, agentsync, portsync, sshconn
from launcher.vm.machine import Machine


class _Guest(paramiko.ServerInterface):
    """Each exec is one 'guest command': it reads the request line, then answers
    with its own sequence number and the argv, as launcher.vm.guest would run it."""

    def __init__(self, allowed: paramiko.PKey) -> None:
        self.allowed = allowed
        self.execs: list[paramiko.Channel] = []
        self.ptys = 0

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = key.asbytes() == self.allowed.asbytes()
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED

    def check_channel_pty_request(self, *args: object) -> bool:
        self.ptys += 1
        return True

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self.execs.append(channel)
        seq = len(self.execs)
        threading.Thread(target=self._run, args=(channel, seq), daemon=True).start()
        return True

    def _run(self, chan: paramiko.Channel, seq: int) -> None:
        try:
            self._answer(chan, seq)
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the test is over and the transport closed under a spare

    def _answer(self, chan: paramiko.Channel, seq: int) -> None:
        line = b""
        while not line.endswith(b"\n"):
            ch = chan.recv(1)
            if not ch:  # no request ever came: a spare that was not needed
                chan.send_exit_status(0)
                chan.close()
                return
            line += ch
        doc = fastjson.loads(line)
        if doc.get("op") == "ports":
            chan.sendall(b'[["tcp", 8080], ["udp", 53]]\n')
            chan.send_exit_status(0)
            chan.close()
            return
        argv = doc["argv"]
        chan.sendall(f"exec {seq}: {' '.join(argv)}\n".encode())
        chan.send_exit_status(7 if argv == ["fail"] else 0)
        chan.shutdown_write()
        chan.close()


@pytest.fixture
def transport(tmp_path: Path) -> Iterator[tuple[paramiko.Transport, _Guest]]:
    host_priv, host_pub = sshconn.generate_keypair()
    client_priv, _ = sshconn.generate_keypair()
    (tmp_path / "host").write_bytes(host_priv)
    (tmp_path / "client").write_bytes(client_priv)
    (tmp_path / "client").chmod(0o600)
    client_key = paramiko.Ed25519Key.from_private_key_file(str(tmp_path / "client"))
    guest = _Guest(client_key)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        t = paramiko.Transport(conn)
        t.add_server_key(paramiko.Ed25519Key.from_private_key_file(str(tmp_path / "host")))
        t.start_server(server=guest)
        while t.is_active():
            t.join(0.1)

    threading.Thread(target=serve, daemon=True).start()
    client = sshconn.connect("127.0.0.1", srv.getsockname()[1], "root",
                             str(tmp_path / "client"), host_pub, 10.0)
    t = client.get_transport()
    assert t is not None
    yield t, guest
    client.close()
    srv.close()


def _request(t: paramiko.Transport, spare: agent.Spare | None, argv: list[str],
             pty: bool = False) -> tuple[int, bytes]:
    ours, theirs = socket.socketpair()
    req = {"argv": argv, "env": {}, "pty": ["xterm", 80, 24] if pty else None}
    ours.sendall(frame(agent.REQUEST, fastjson.dumps(req).encode()) + frame(agent.CLOSE_STDIN))
    worker = threading.Thread(target=agent._session, args=(t, theirs, "guest", spare))
    worker.start()
    buf, out = bytearray(), b""
    while True:
        chunk = ours.recv(65536)
        assert chunk, "the agent closed without an exit code"
        buf += chunk
        for kind, payload in split_frames(buf):
            if kind == agent.STDOUT:
                out += payload
            elif kind == agent.EXIT:
                worker.join(10)
                ours.close()
                return int.from_bytes(payload, "big", signed=True), out


def _wait(pred: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_spare_serves_the_next_request_and_is_replaced(
        transport: tuple[paramiko.Transport, _Guest]) -> None:
    t, guest = transport
    spare = agent.Spare(t, "guest")
    spare.refill()
    assert len(guest.execs) == 1  # started before any request
    assert _request(t, spare, ["ps"]) == (0, b"exec 1: ps\n")  # the spare, no new exec
    _wait(lambda: spare.ready is not None)  # a new spare follows at once
    assert _request(t, spare, ["fail"]) == (7, b"exec 2: fail\n")
    _wait(lambda: spare.ready is not None)
    assert len(guest.execs) == 3


def test_a_terminal_gets_its_own_channel(transport: tuple[paramiko.Transport, _Guest]) -> None:
    t, guest = transport
    spare = agent.Spare(t, "guest")
    spare.refill()
    kept = spare.ready
    assert _request(t, spare, ["run", "-it"], pty=True) == (0, b"exec 2: run -it\n")
    assert guest.ptys == 1 and kept is not None and spare.ready is kept  # kept for later


def test_a_dead_spare_is_not_used(transport: tuple[paramiko.Transport, _Guest]) -> None:
    t, guest = transport
    spare = agent.Spare(t, "guest")
    spare.refill()
    assert spare.ready is not None
    spare.ready.shutdown_write()  # the guest command sees EOF and exits, as if it died
    _wait(lambda: spare.ready is not None and spare.ready.exit_status_ready())
    code, out = _request(t, spare, ["ps"])
    assert code == 0 and out.endswith(b": ps\n") and not out.startswith(b"exec 1:")
    _wait(lambda: len(guest.execs) == 3)  # a fresh channel, and a fresh spare


def test_the_syncer_asks_the_guest_and_forwards_what_it_publishes(
        transport: tuple[paramiko.Transport, _Guest], paths: Paths,
        monkeypatch: pytest.MonkeyPatch) -> None:
    t, _ = transport
    made: list[tuple[str, str, int, bool]] = []
    monkeypatch.setattr(portsync, "_hostfwd", lambda m, proto, ip, hp, gp, add:
                        made.append((proto, ip, hp, add)))
    m = Machine(paths, "default")
    os.makedirs(m.run_dir)
    spare = agent.Spare(t, "guest")
    spare.refill()
    syncer = agentsync.Syncer(m, t, "guest")
    assert syncer.sync() == []
    assert made == [("tcp", "0.0.0.0", 8080, True), ("udp", "0.0.0.0", 53, True)]
    ours, theirs = socket.socketpair()  # the CLI's ``s`` frame: the same, on demand
    ours.sendall(frame(agent.SYNC))
    agent._session(t, theirs, "guest", spare, syncer)
    assert ours.recv(100) == frame(agent.EXIT, bytes(4))
    ours.close()


def test_only_commands_that_may_change_published_ports_sync(paths: Paths) -> None:
    m = Machine(paths, "default")
    os.makedirs(m.run_dir)
    syncer = agentsync.Syncer(m, None, "guest")  # type: ignore[arg-type]
    assert not syncer.relevant(["run", "--rm", "busybox", "true"])  # the hot path: no query
    assert not syncer.relevant(["ps", "-a"])
    assert syncer.relevant(["run", "-d", "-p", "8080:80", "busybox"])
    assert syncer.relevant(["run", "-dP", "busybox"])
    assert syncer.relevant(["start", "web"])
    portsync.add(m, "tcp", "0.0.0.0", 8080, lambda *a: None)
    assert syncer.relevant(["rm", "-f", "web"])  # a forward exists: it may have gone
    assert not syncer.relevant(["logs", "web"])


def _serve_once(t: paramiko.Transport, srv: socket.socket, token: str | None) -> threading.Thread:
    def accept() -> None:
        conn, _ = srv.accept()
        agent._session(t, conn, "guest", None, None, token)

    worker = threading.Thread(target=accept, daemon=True)
    worker.start()
    return worker


def test_windows_transport_loopback_tcp_with_a_token(
        transport: tuple[paramiko.Transport, _Guest], tmp_path: Path) -> None:
    """What a Windows host uses (no UNIX sockets there): the CLI finds port and
    token in agent.addr, relays stdin from a thread, and gets the exit code."""
    from launcher.vm import agentclient

    t, _guest = transport
    srv, addr_file, token = agent.listen(str(tmp_path), tcp=True)
    try:
        assert token is not None and oct(os.stat(addr_file).st_mode & 0o777) == "0o600"
        doc = fastjson.loads(Path(addr_file).read_bytes())
        assert doc == {"port": srv.getsockname()[1], "token": token}
        worker = _serve_once(t, srv, token)
        sock = agentclient._connect(str(tmp_path), tcp=True)
        assert sock is not None
        req = {"argv": ["ps"], "env": {}, "pty": None}
        sock.sendall(frame(agent.REQUEST, fastjson.dumps(req).encode()))
        r, w = os.pipe()
        os.close(w)  # stdin at EOF: the pump thread sends close-stdin
        out_r, out_w = os.pipe()
        saved = os.dup(1)
        os.dup2(out_w, 1)
        try:
            code = agentclient._relay(sock, r, threaded=True)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(out_w)
        assert code == 0 and os.read(out_r, 1000) == b"exec 1: ps\n"
        worker.join(10)
        sock.close()
        os.close(r)
        os.close(out_r)
    finally:
        srv.close()


def test_a_wrong_token_runs_nothing(transport: tuple[paramiko.Transport, _Guest],
                                    tmp_path: Path) -> None:
    t, guest = transport
    srv, _, token = agent.listen(str(tmp_path), tcp=True)
    try:
        worker = _serve_once(t, srv, token)
        sock = socket.create_connection(srv.getsockname())
        req = {"argv": ["ps"], "env": {}, "pty": None}
        sock.sendall(frame(agent.AUTH, b"0" * 64) + frame(agent.REQUEST,
                                                            fastjson.dumps(req).encode()))
        assert sock.recv(100) == b""  # closed, nothing answered
        worker.join(10)
        assert guest.execs == []
        sock.close()
    finally:
        srv.close()


def test_no_addr_file_no_connection(tmp_path: Path) -> None:
    from launcher.vm import agentclient

    assert agentclient._connect(str(tmp_path), tcp=True) is None
    (tmp_path / agent.ADDR_FILE).write_text("{garbage")
    assert agentclient._connect(str(tmp_path), tcp=True) is None


def test_ctrl_c_on_the_host_becomes_a_signal_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client: a KeyboardInterrupt while relaying sends SIGINT on; the third
    one leaves. The agent: a signal frame reaches the session's signal sender."""
    from launcher.vm import agentclient

    ours, theirs = socket.socketpair()
    calls = {"n": 0}
    real = agentclient._receive_frames

    def interrupted(sock: socket.socket, stdin: int | None, relay: object) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return real(sock, stdin, relay)  # type: ignore[arg-type]

    monkeypatch.setattr(agentclient, "_receive_frames", interrupted)
    theirs.sendall(frame(agent.EXIT, (130).to_bytes(4, "big", signed=True)))
    assert agentclient._receive(ours, None) == 130
    kind, payload = split_frames(bytearray(theirs.recv(100)))[0]
    assert (kind, payload) == (agent.SIGNAL, b"\x02")

    def always(sock: socket.socket, stdin: int | None, relay: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(agentclient, "_receive_frames", always)
    with pytest.raises(KeyboardInterrupt):
        agentclient._receive(ours, None)
    ours.close()
    theirs.close()
    got: list[int] = []
    assert agent._from_client(None, agent.SIGNAL, b"\x02", got.append)  # type: ignore[arg-type]
    _wait(lambda: got == [2])


def test_the_clock_is_pushed_after_a_jump_or_now_and_then() -> None:
    assert not agent.clock_due(100.0, 100.5, 30.0)
    assert agent.clock_due(100.0, 100.0 + agent.CLOCK_JUMP + 1, 30.0)  # the host slept
    assert agent.clock_due(100.0, 100.0 - agent.CLOCK_JUMP - 1, 30.0)  # set back
    assert agent.clock_due(100.0, 100.0, agent.CLOCK_EVERY + 1)


def test_the_clock_push_sets_utc_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    monkeypatch.setattr(agent, "_quietly", lambda transport, command: sent.append(command))
    monkeypatch.setattr(agent.time, "time", lambda: 1234567890.7)
    agent.push_clock(None)  # type: ignore[arg-type]
    assert sent == ["busybox date -u -s @1234567890 >/dev/null"]


def test_a_new_connection_pushes_the_clock_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    monkeypatch.setattr(agent, "push_clock", lambda transport: sent.append("push"))

    class Gone:
        def is_active(self) -> bool:
            return False

    agent._clock_loop(Gone())  # type: ignore[arg-type]
    assert sent == ["push"]
