import os
from pathlib import Path

import pytest

from launcher.vm import guest


def _fd(data: bytes) -> int:
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    return r


def test_reads_exactly_one_line_and_filters_env() -> None:
    fd = _fd(b'{"argv": ["run", "--rm", "busybox", "sh", "-c", "echo $HOME; rm -rf /"], '
             b'"env": {"TERM": "xterm", "LD_PRELOAD": "/x.so", "LC_ALL": "C"}}\nSTDIN DATA')
    try:
        req = guest.read_request(fd)
        op, argv, env = req.op, req.argv, req.env
        assert op == "cli" and req.stage is None
        assert argv[-1] == "echo $HOME; rm -rf /"  # an argument, never a shell line
        assert env == {"TERM": "xterm", "LC_ALL": "C"}
        assert os.read(fd, 100) == b"STDIN DATA"  # the command's own stdin is untouched
    finally:
        os.close(fd)


@pytest.mark.parametrize("data", [b"", b"not json\n", b'{"argv": "ls"}\n',
                                  b'{"argv": [1]}\n', b'{"argv": [], "env": {"A": 1}}\n',
                                  b'{"op": "shell", "argv": []}\n',
                                  b'{"argv": ["cp", "a", "c:/"], "stage": {"index": 1, '
                                  b'"name": "..", "suffix": "", "owners": false}}\n',
                                  b'{"argv": ["run", "a"], "stage": {"index": 1, '
                                  b'"name": "a", "suffix": "", "owners": false}}\n'])
def test_bad_requests(data: bytes) -> None:
    fd = _fd(data)
    try:
        with pytest.raises(ValueError):
            guest.read_request(fd)
    finally:
        os.close(fd)


def test_the_update_op_needs_a_digest() -> None:
    fd = _fd(b'{"op": "update", "digest": "' + b"a" * 64 + b'"}\nTARBYTES')
    try:
        req = guest.read_request(fd)
        assert (req.op, req.digest) == ("update", "a" * 64)
        assert os.read(fd, 100) == b"TARBYTES"
    finally:
        os.close(fd)
    fd = _fd(b'{"op": "update"}\n')
    try:
        with pytest.raises(ValueError, match="digest"):
            guest.read_request(fd)
    finally:
        os.close(fd)


def test_the_ports_op_needs_no_argv() -> None:
    fd = _fd(b'{"op": "ports"}\n')
    try:
        req = guest.read_request(fd)
        assert (req.op, req.argv, req.env) == ("ports", [], {})
    finally:
        os.close(fd)


def test_commands_wait_for_the_end_of_the_boot(tmp_path: object,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import threading
    from pathlib import Path

    ready = Path(str(tmp_path)) / "ready"
    threading.Timer(0.1, ready.touch).start()
    guest.wait_ready(str(ready), timeout=10)
    assert ready.exists()
    guest.wait_ready(str(ready.with_name("never")), timeout=0.05)  # goes on, says why
    assert "boot scripts are not done" in capsys.readouterr().err


def _tar_of(tmp: Path, files: dict[str, bytes], top: str = "src") -> int:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.uid, info.mode = len(data), 1234, 0o4755
            tar.addfile(info, io.BytesIO(data))
    path = tmp / "in.tar"
    path.write_bytes(buf.getvalue())
    return os.open(path, os.O_RDONLY)


def test_a_staged_copy_runs_cp_from_a_private_directory_and_removes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_cli(argv: list[str]) -> int:
        staged = argv[1].removesuffix("/.")
        assert Path(staged, "f").read_bytes() == b"data"
        st = os.stat(Path(staged, "f"))
        assert (st.st_uid, st.st_mode & 0o7777) == (0, 0o4755)  # root's, modes kept
        seen.append(argv)
        return 3

    monkeypatch.setattr("launcher.cli.main.run_cli", fake_cli)
    fd = _tar_of(tmp_path, {"src/f": b"data"})
    stage = {"index": 1, "name": "src", "suffix": "/.", "owners": False}
    base = tmp_path / "stage"
    try:
        code = guest.run_staged(["cp", "HOST", "c:/dst"], stage, fd, str(base))
    finally:
        os.close(fd)
    assert code == 3 and seen[0][1].startswith(str(base)) and seen[0][1].endswith("/src/.")
    assert os.listdir(base) == []  # the staging directory went


def test_a_staged_tar_with_anything_else_is_refused(tmp_path: Path) -> None:
    fd = _tar_of(tmp_path, {"src/f": b"x", "other/evil": b"x"})
    stage = {"index": 1, "name": "src", "suffix": "", "owners": True}
    try:
        with pytest.raises(ValueError, match="unexpected entry"):
            guest.run_staged(["cp", "HOST", "c:/"], stage, fd, str(tmp_path / "stage"))
    finally:
        os.close(fd)
    assert os.listdir(tmp_path / "stage") == []


def test_a_session_registers_the_pid_the_agent_signals(tmp_path: Path) -> None:
    sid = "0123456789abcdef" * 2
    fd = _fd(b'{"argv": ["ps"], "env": {}, "session": "' + sid.encode() + b'"}\n')
    try:
        assert guest.read_request(fd).session == sid
    finally:
        os.close(fd)
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    (sessions / ("f" * 32)).write_text("999999999")  # a process long gone
    guest.register_session(sid, str(sessions))
    assert os.listdir(sessions) == [sid]
    assert (sessions / sid).read_text() == str(os.getpid())


@pytest.mark.parametrize("session", ["../../etc/passwd", "ABC", "0" * 31, 42])
def test_a_session_id_is_32_hex_digits(session: object) -> None:
    import json

    fd = _fd(json.dumps({"argv": ["ps"], "env": {}, "session": session}).encode() + b"\n")
    try:
        with pytest.raises(ValueError, match="session"):
            guest.read_request(fd)
    finally:
        os.close(fd)
