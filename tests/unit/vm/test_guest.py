import os

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
        op, argv, env = guest.read_request(fd)
        assert op == "cli"
        assert argv[-1] == "echo $HOME; rm -rf /"  # an argument, never a shell line
        assert env == {"TERM": "xterm", "LC_ALL": "C"}
        assert os.read(fd, 100) == b"STDIN DATA"  # the command's own stdin is untouched
    finally:
        os.close(fd)


@pytest.mark.parametrize("data", [b"", b"not json\n", b'{"argv": "ls"}\n',
                                  b'{"argv": [1]}\n', b'{"argv": [], "env": {"A": 1}}\n',
                                  b'{"op": "shell", "argv": []}\n'])
def test_bad_requests(data: bytes) -> None:
    fd = _fd(data)
    try:
        with pytest.raises(ValueError):
            guest.read_request(fd)
    finally:
        os.close(fd)


def test_the_ports_op_needs_no_argv() -> None:
    fd = _fd(b'{"op": "ports"}\n')
    try:
        assert guest.read_request(fd) == ("ports", [], {})
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
