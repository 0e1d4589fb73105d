"""``exec``: joining a running container, its process options, fds and a tty."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest

pytestmark = pytest.mark.root


@pytest.fixture
def running(bundle, rt):
    """A running container (``sleep``) with one extra variable in its spec env."""
    bundle.process["env"] = ["PATH=/bin", "FROM_SPEC=1"]
    return bundle.start_sleeper()


def test_exec_joins_the_containers_namespaces(rt, running):
    pid = rt.state(running)["pid"]
    out = rt.ok(
        "exec",
        running,
        "sh",
        "-c",
        "for n in pid mnt uts; do readlink /proc/self/ns/$n; done; hostname",
    )
    *links, name = out.split()
    assert links == [os.readlink(f"/proc/{pid}/ns/{n}") for n in ("pid", "mnt", "uts")]
    assert name == "launcher"


def test_exec_sees_the_container_pids(rt, running):
    out = rt.ok("exec", running, "sh", "-c", "ps -o pid,args | grep -v ps")
    assert "1 sleep 1000" in " ".join(out.split())


def test_exec_env_is_the_spec_plus_flags(rt, running):
    env = rt.ok("exec", "-e", "FROM_CLI=2", running, "env").split()
    assert "FROM_SPEC=1" in env
    assert "FROM_CLI=2" in env


def test_exec_cwd_and_user(rt, running):
    out = rt.ok(
        "exec", "--cwd", "/tmp", "-u", "1000:1001", running, "sh", "-c", "pwd; id -u; id -g"
    )
    assert out.split() == ["/tmp", "1000", "1001"]


def test_exec_process_json(rt, running, tmp_path):
    proc = {"args": ["sh", "-c", "echo $GREETING; pwd; id -u"], "env": ["GREETING=hello"],
            "cwd": "/etc", "user": {"uid": 123, "gid": 123}}  # fmt: skip
    path = tmp_path / "process.json"
    path.write_text(json.dumps(proc))
    assert rt.ok("exec", "--process", str(path), running).split() == ["hello", "/etc", "123"]


@pytest.mark.parametrize("code", [0, 1, 7])
def test_exec_exit_code(rt, running, code):
    res = rt("exec", running, "sh", "-c", f"exit {code}")
    assert res.returncode == code, res


def test_exec_detach_pid_file(rt, running, tmp_path):
    pid_file = tmp_path / "exec.pid"
    rt.ok("exec", "--detach", "--pid-file", str(pid_file), running, "sleep", "999")
    pid = int(pid_file.read_text())
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sleep", b"999"]
    assert pid in json.loads(rt.ok("ps", "--format", "json", running))


def test_exec_into_a_stopped_container_fails(bundle, rt):
    cid = bundle.start_sleeper("true")
    rt.wait_stopped(cid)
    err = rt.fails("exec", cid, "true")
    assert cid in err


def test_exec_has_only_stdio_open(rt, running):
    out = rt.ok("exec", running, "sh", "-c", "ls /proc/$$/fd; true")
    assert out.split() == ["0", "1", "2"]


def test_exec_sees_no_host_mounts(rt, running):
    out = rt.ok("exec", running, "sh", "-c", "grep -c ' /work' /proc/self/mountinfo; true")
    assert out.strip() == "0"


def test_exec_tty_console_socket(rt, running, tmp_path):
    sock_path = str(tmp_path / "c.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
        srv.bind(sock_path)
        srv.listen(1)
        srv.settimeout(20)
        proc = subprocess.Popen(
            rt.argv("exec", "--tty", "--console-socket", sock_path, running, "tty"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            conn, _ = srv.accept()
            with conn:
                _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
            assert len(fds) == 1
            master = fds[0]
            try:
                assert proc.wait(timeout=20) == 0, proc.stderr.read()
                text = read_pty(master)
            finally:
                os.close(master)
        finally:
            proc.kill()
            proc.wait()
    assert text.strip().startswith("/dev/pts/"), text


def read_pty(master: int) -> str:
    """Everything the pty holds; reading past a closed slave gives EIO on Linux."""
    chunks = []
    os.set_blocking(master, False)
    while True:
        try:
            data = os.read(master, 4096)
        except (BlockingIOError, OSError):
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode()
