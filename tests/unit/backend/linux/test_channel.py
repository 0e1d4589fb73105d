import os

import pytest

from launcher.backend.linux.channel import Channel, error_from
from launcher.errors import ExecFailure, RuntimeFailure


def test_messages_cross_and_split_correctly() -> None:
    a, b = Channel.pair()
    b.send("pid", 42)
    b.send("ready", None)
    b.send("note", {"x": "line\nbreak"})
    assert a.recv() == ("pid", 42)
    assert a.expect("ready") is None
    assert a.recv() == ("note", {"x": "line\nbreak"})
    b.close()
    assert a.recv() == ("eof", None)
    a.close()


def test_error_message_raises() -> None:
    a, b = Channel.pair()
    b.send("error", ["exec: nope", 127])
    with pytest.raises(ExecFailure) as e:
        a.expect("ready")
    assert e.value.exit_code == 127
    b.send("other", 1)
    with pytest.raises(RuntimeFailure, match="expected 'ready'"):
        a.expect("ready")
    a.close()
    b.close()


def test_error_from_plain() -> None:
    assert isinstance(error_from(["boom", 0]), RuntimeFailure)
    assert not isinstance(error_from(["boom", 0]), ExecFailure)


def test_fds_are_cloexec() -> None:
    a, b = Channel.pair()
    for fd in (a.rfd, a.wfd, b.rfd, b.wfd):
        assert not os.get_inheritable(fd)
    a.close()
    b.close()
