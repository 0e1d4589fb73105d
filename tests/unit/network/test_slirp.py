import json
import os
import socket
import threading
from pathlib import Path

import pytest

from launcher.errors import ConflictError, RuntimeFailure, UnsupportedError
from launcher.network import bundle as nb
from launcher.network import slirp
from launcher.network.ports import PortMapping


def test_command_joins_the_containers_user_namespace_when_it_has_one() -> None:
    argv = slirp.command("/usr/bin/slirp4netns", 42, "/run/s.sock", 5, 6, own_userns=True)
    assert argv == ["/usr/bin/slirp4netns", "--configure", "--mtu=65520",
                    "--disable-host-loopback", "--api-socket=/run/s.sock", "--ready-fd=5",
                    "--exit-fd=6", "--userns-path=/proc/42/ns/user", "42", "tap0"]
    assert "--userns-path=/proc/42/ns/user" not in slirp.command("s", 42, "a", 5, 6, False)


class FakeApi:
    """A slirp4netns API socket that records requests and answers from a list."""

    def __init__(self, path: str, replies: list[dict[str, object]]) -> None:
        self.requests: list[dict[str, object]] = []
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        self.sock.listen()
        self.replies = replies
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for reply in self.replies:
            conn, _ = self.sock.accept()
            with conn:
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
                self.requests.append(json.loads(data))
                conn.sendall(json.dumps(reply).encode())


def test_add_forwards_sends_one_hostfwd_per_mapping(tmp_path: Path) -> None:
    api = str(tmp_path / "api.sock")
    fake = FakeApi(api, [{"return": {"id": 1}}, {"return": {"id": 2}}])
    slirp.add_forwards(api, [PortMapping("127.0.0.1", 8080, 80),
                             PortMapping("", 5353, 53, "udp")])
    fake.thread.join(5)
    assert [r["arguments"] for r in fake.requests] == [
        {"proto": "tcp", "host_addr": "127.0.0.1", "host_port": 8080,
         "guest_addr": "10.0.2.100", "guest_port": 80},
        {"proto": "udp", "host_addr": "0.0.0.0", "host_port": 5353,
         "guest_addr": "10.0.2.100", "guest_port": 53}]
    assert {r["execute"] for r in fake.requests} == {"add_hostfwd"}


def test_forward_errors(tmp_path: Path) -> None:
    api = str(tmp_path / "api.sock")
    FakeApi(api, [{"error": {"desc": "bad request: add_hostfwd: slirp_add_hostfwd failed"}}])
    with pytest.raises(ConflictError, match=r"cannot publish 0\.0\.0\.0:8080/tcp: bad request"):
        slirp.add_forwards(api, [PortMapping("", 8080, 80)])
    with pytest.raises(UnsupportedError, match="tcp and udp only"):
        slirp.add_forwards(api, [PortMapping("", 8080, 80, "sctp")])
    with pytest.raises(RuntimeFailure, match="slirp4netns API"):
        slirp.add_forwards(str(tmp_path / "missing.sock"), [PortMapping("", 1, 2)])


def test_missing_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(UnsupportedError, match="slirp4netns is not installed"):
        slirp.binary()


def test_the_helper_pid_round_trips_in_network_state() -> None:
    act = nb.Active(10, 20)
    act.helper = (30, 40)
    again = nb.Active.parse(act.to_json(), "x")
    assert again.helper == (30, 40)
    old = act.to_json()
    del old["helper"]
    assert nb.Active.parse(old, "x").helper == (0, 0)


def test_stop_ignores_a_recycled_pid() -> None:
    slirp.stop(os.getpid(), 1)  # our own pid with another start time: not ours to kill
    slirp.stop(0, 0)
