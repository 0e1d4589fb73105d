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
        argv, env = guest.read_request(fd)
        assert argv[-1] == "echo $HOME; rm -rf /"  # an argument, never a shell line
        assert env == {"TERM": "xterm", "LC_ALL": "C"}
        assert os.read(fd, 100) == b"STDIN DATA"  # the command's own stdin is untouched
    finally:
        os.close(fd)


@pytest.mark.parametrize("data", [b"", b"not json\n", b'{"argv": "ls"}\n',
                                  b'{"argv": [1]}\n', b'{"argv": [], "env": {"A": 1}}\n'])
def test_bad_requests(data: bytes) -> None:
    fd = _fd(data)
    try:
        with pytest.raises(ValueError):
            guest.read_request(fd)
    finally:
        os.close(fd)
