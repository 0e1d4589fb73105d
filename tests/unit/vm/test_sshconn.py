"""The SSH client against an in-process paramiko server: the pinned host key is
the only one accepted, and exit codes and signals come back as a shell's."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
from paramiko.common import cMSG_CHANNEL_REQUEST

from launcher.vm import sshconn


class _Server(paramiko.ServerInterface):
    def __init__(self, allowed: paramiko.PKey, outcome: tuple[str, object]) -> None:
        self.allowed, self.outcome = allowed, outcome

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = username == "root" and key.asbytes() == self.allowed.asbytes()
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        threading.Thread(target=self._answer, args=(channel,), daemon=True).start()
        return True

    def _answer(self, chan: paramiko.Channel) -> None:
        import time

        time.sleep(0.2)  # after paramiko has acknowledged the exec request, as sshd does
        chan.sendall(b"x" * 300000)  # more than a window: the client must drain first
        kind, value = self.outcome
        if kind == "status":
            chan.send_exit_status(int(value))  # type: ignore[call-overload]
        else:
            m = paramiko.Message()
            m.add_byte(cMSG_CHANNEL_REQUEST)
            m.add_int(chan.remote_chanid)
            m.add_string("exit-signal")
            m.add_boolean(False)
            m.add_string(str(value))
            m.add_boolean(False)
            m.add_string("")
            m.add_string("")
            chan.transport._send_user_message(m)  # type: ignore[union-attr]
        chan.shutdown_write()
        chan.close()


def _keypair(tmp: Path, name: str) -> tuple[Path, str, paramiko.PKey]:
    private, public = sshconn.generate_keypair()
    path = tmp / name
    path.write_bytes(private)
    path.chmod(0o600)
    return path, public, paramiko.Ed25519Key.from_private_key_file(str(path))


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, tuple[Path, str, paramiko.PKey]]:
    return {n: _keypair(tmp_path, n) for n in ("host", "client", "other")}


def _serve(keys: dict[str, tuple[Path, str, paramiko.PKey]],
           outcome: tuple[str, object]) -> Iterator[int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def run() -> None:
        conn, _ = srv.accept()
        t = paramiko.Transport(conn)
        t.add_server_key(keys["host"][2])
        try:
            t.start_server(server=_Server(keys["client"][2], outcome))
            while t.is_active():
                t.join(0.1)
        except Exception:
            pass

    threading.Thread(target=run, daemon=True).start()
    yield srv.getsockname()[1]
    srv.close()


@pytest.mark.parametrize(("outcome", "code"), [(("status", 0), 0), (("status", 3), 3),
                                               (("signal", "KILL"), 137),
                                               (("signal", "TERM"), 143)])
def test_exit_codes_and_signals(keys: dict[str, tuple[Path, str, paramiko.PKey]],
                                outcome: tuple[str, object], code: int) -> None:
    for port in _serve(keys, outcome):
        client = sshconn.connect("127.0.0.1", port, "root", str(keys["client"][0]),
                                 keys["host"][1])
        try:
            chan = sshconn.open_session(client, "anything", None)
            got = b""
            while True:
                data = chan.recv(65536)
                if not data:
                    break
                got += data
            assert len(got) == 300000
            assert sshconn.exit_code(chan) == code
        finally:
            client.close()


def test_a_different_host_key_is_refused(keys: dict[str, tuple[Path, str, paramiko.PKey]]
                                         ) -> None:
    for port in _serve(keys, ("status", 0)):
        with pytest.raises(sshconn.HostKeyMismatch, match="does not match the pinned key"):
            sshconn.connect("127.0.0.1", port, "root", str(keys["client"][0]),
                            keys["other"][1])
