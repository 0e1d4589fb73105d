"""``run -d -t`` / ``-i`` / ``-it`` and ``launcher attach``: through the monitor's socket."""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Iterator

import pytest

from .conftest import CALL_TIMEOUT, Cli, finish, read_line, wait_for
from .test_run_detached import wait_for as wait_state

pytestmark = pytest.mark.root


class Terminal:
    """A pty the test types into; ``start`` runs a process on its slave side
    (stdin, stdout, stderr), as a user's terminal would."""

    def __init__(self, rows: int, cols: int) -> None:
        self.master, self.slave = os.openpty()
        self.resize(rows, cols)

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def start(self, argv: list[str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                start_new_session=True)
        # Typing only once the client has made the terminal raw: a sync point.
        wait_for(lambda: not termios.tcgetattr(self.slave)[3] & termios.ICANON)
        return proc

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def read_until(self, text: bytes) -> bytes:
        out = b""
        deadline = time.monotonic() + CALL_TIMEOUT
        while text not in out:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.master], [], [], max(left, 0))
            if not ready:
                pytest.fail(f"{text!r} never appeared; got {out!r}")
            out += os.read(self.master, 4096)
        return out

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def term() -> Iterator[Terminal]:
    t = Terminal(30, 100)
    yield t
    t.close()


def status(cli: Cli, name: str) -> str:
    rows = [json.loads(line) for line in cli.run("ps", "-a", "--format", "json").stdout
            .splitlines()]
    return str(next(r["State"] for r in rows if r["Names"] == name))


def exit_code(proc: subprocess.Popen[bytes]) -> int:
    try:
        return proc.wait(CALL_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("attach did not exit")


def test_detached_tty_output_goes_to_the_log(cli: Cli) -> None:
    res = cli.run("run", "-d", "-t", "--name", "tl", "busybox", "sh", "-c",
                  "tty; echo out; echo err >&2")
    assert res.returncode == 0, res.stderr
    wait_state(cli, "tl", "exited")
    # A pty has one stream, stdout, and ends lines with \r\n (bytes: text mode folds it).
    logs = subprocess.run(cli.argv("container", "logs", "tl"), capture_output=True,
                          timeout=CALL_TIMEOUT, check=False)
    assert (logs.stdout, logs.stderr) == (b"/dev/pts/0\r\nout\r\nerr\r\n", b"")
    assert cli.run("rm", "tl").returncode == 0


def test_attach_to_an_interactive_shell(cli: Cli, term: Terminal) -> None:
    assert cli.run("run", "-d", "-it", "--name", "sh", "busybox", "sh").returncode == 0
    try:
        piped = cli.run("attach", "sh")  # stdin /dev/null: a pty wants a terminal
        assert piped.returncode == 125 and "not a TTY" in piped.stderr
        attach = term.start(cli.argv("attach", "sh"))
        term.type(b"echo $((40+2))\r")
        term.read_until(b"42\r\n")
        term.type(b"stty size\r")
        term.read_until(b"30 100\r\n")  # the client's size, applied at attach time
        term.resize(50, 120)
        attach.send_signal(signal.SIGWINCH)
        # The resize and the next typed line race inside the client: ask until
        # the new size shows (each round waits for the shell's answer).
        for _ in range(50):
            term.type(b"stty size\r")
            if b"50 120\r\n" in term.read_until(b"\r\n/ # "):
                break
        else:
            pytest.fail("the new window size never reached the container")
        term.type(b"\x10\x11")  # ctrl-p ctrl-q
        assert exit_code(attach) == 0
        assert status(cli, "sh") == "running"

        again = term.start(cli.argv("attach", "sh"))
        term.type(b"exit 3\r")
        assert exit_code(again) == 3
        wait_state(cli, "sh", "exited")
        logs = cli.run("container", "logs", "sh").stdout
        assert "42" in logs and "exit 3" in logs  # the pty's echo and output, both
    finally:
        cli.run("rm", "-f", "sh")


def test_attach_with_piped_stdin(cli: Cli) -> None:
    assert cli.run("run", "-d", "-i", "--name", "cat", "busybox", "cat").returncode == 0
    # Our stdin's end closes the container's: cat ends, and attach with its code.
    res = cli.run("attach", "cat", input="hello\n")
    assert (res.returncode, res.stdout, res.stderr) == (0, "hello\n", "")
    wait_state(cli, "cat", "exited")
    assert cli.run("rm", "cat").returncode == 0


def test_detach_keeps_stdin_open(cli: Cli) -> None:
    assert cli.run("run", "-d", "-i", "--name", "ic", "busybox", "cat").returncode == 0
    try:
        first = cli.run("attach", "--detach-keys", "ctrl-x", "ic", input="abc\n\x18ignored")
        assert first.returncode == 0, first.stderr
        assert status(cli, "ic") == "running"
        second = cli.run("attach", "ic", input="more\n")
        assert (second.returncode, second.stdout) == (0, "more\n")
        assert cli.run("container", "logs", "ic").stdout == "abc\nmore\n"
    finally:
        cli.run("rm", "-f", "ic")


TICKER = 'trap "echo got; exit 5" USR1; while :; do echo tick; sleep 0.1; done'


def test_signals_are_proxied(cli: Cli) -> None:
    assert cli.run("run", "-d", "--name", "sp", "busybox", "sh", "-c", TICKER).returncode == 0
    try:
        attach = cli.start("attach", "sp")
        assert read_line(attach) == "tick\n"  # output flows: the client is in its loop
        attach.send_signal(signal.SIGUSR1)
        code, out, err = finish(attach)
        assert (code, out.splitlines()[-1], err) == (5, "got", "")
    finally:
        cli.run("rm", "-f", "sp")


def test_without_sig_proxy_a_signal_ends_only_the_client(cli: Cli) -> None:
    assert cli.run("run", "-d", "--name", "np", "busybox", "sh", "-c", TICKER).returncode == 0
    try:
        attach = cli.start("attach", "--sig-proxy=false", "np")
        assert read_line(attach) == "tick\n"
        attach.send_signal(signal.SIGINT)
        assert finish(attach)[0] == 130
        assert status(cli, "np") == "running"
    finally:
        cli.run("rm", "-f", "np")


def test_attach_survives_a_restart(cli: Cli) -> None:
    assert cli.run("run", "-d", "--restart", "always", "--name", "rs", "busybox", "sh", "-c",
                   "echo run; sleep 1; exit 2").returncode == 0
    try:
        def restarted() -> bool:
            doc = json.loads(cli.run("inspect", "rs").stdout)[0]
            return bool(doc["RestartCount"]) and doc["State"]["Status"] == "running"

        wait_for(restarted)
        for _ in range(20):  # it may be between two runs (refused: restarting) meanwhile
            res = cli.run("attach", "--no-stdin", "rs")
            if "restarting" not in res.stderr:
                break
        assert res.returncode == 2, res.stderr
    finally:
        cli.run("rm", "-f", "rs")


def test_attach_to_a_stopped_container(cli: Cli) -> None:
    assert cli.run("run", "-d", "--name", "done", "busybox", "true").returncode == 0
    wait_state(cli, "done", "exited")
    res = cli.run("attach", "done")
    assert res.returncode == 125
    assert res.stderr == ("launcher: You cannot attach to a stopped container, "
                          "start it first\n")
    assert cli.run("attach", "no-such").returncode == 125
    assert cli.run("rm", "done").returncode == 0
