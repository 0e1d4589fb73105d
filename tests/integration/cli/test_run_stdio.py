"""``launcher run`` stdin and terminals: /dev/null without -i, piped with -i, a pty with -t."""

from __future__ import annotations

import pytest

from .conftest import Cli, run_in_pty

pytestmark = pytest.mark.root


def test_stdin_is_dev_null_without_i(cli: Cli) -> None:
    # Given data on its stdin, the CLI must not pass it on: cat sees EOF at once.
    # stdin is the null device (char 1,3), whichever mount it was opened from.
    script = "cat; stat -L -c %F,%t,%T /proc/self/fd/0"
    res = cli.run("run", "--rm", "busybox", "sh", "-c", script, input="should not arrive\n")
    assert (res.returncode, res.stdout) == (0, "character special file,1,3\n"), res.stderr


def test_stdin_piped_with_i(cli: Cli) -> None:
    res = cli.run("run", "-i", "--rm", "busybox", "cat", input="data\n")
    assert (res.returncode, res.stdout) == (0, "data\n"), res.stderr


def test_large_stdin_with_i(cli: Cli) -> None:
    data = "x" * 1_000_000 + "\n"
    res = cli.run("run", "-i", "--rm", "busybox", "wc", "-c", input=data)
    assert (res.returncode, res.stdout.strip()) == (0, str(len(data))), res.stderr


def test_no_tty_without_t(cli: Cli) -> None:
    res = cli.run("run", "--rm", "busybox", "sh", "-c", "tty")
    assert (res.returncode, res.stdout) == (1, "not a tty\n")


def test_tty(cli: Cli) -> None:
    res = run_in_pty(
        cli.argv("run", "--rm", "-t", "busybox", "sh", "-c", 'tty; echo "$TERM"; exit 4')
    )
    lines = res.output.decode().split()
    assert res.returncode == 4, res.output
    assert lines[0].startswith("/dev/pts/"), res.output
    assert lines[1] == "xterm"


def test_interactive_tty_shell_exit_code(cli: Cli) -> None:
    res = run_in_pty(cli.argv("run", "--rm", "-it", "busybox", "sh"), send=b"exit 5\n", after=b"# ")
    assert res.returncode == 5, res.output


def test_interactive_tty_round_trip(cli: Cli) -> None:
    res = run_in_pty(
        cli.argv("run", "--rm", "-it", "busybox", "sh"),
        send=b"echo a$((40+2))b; exit\n",
        after=b"# ",
    )
    assert res.returncode == 0, res.output
    assert b"a42b" in res.output


def test_tty_without_a_terminal_on_stdin(cli: Cli) -> None:
    """``-t`` alone needs no terminal on the caller's side."""
    res = cli.run("run", "--rm", "-t", "busybox", "tty")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("/dev/pts/"), res.stdout
