"""``launcher run`` in the foreground: signals reach the container, deaths by signal
come back as 128+N, and a ``--name`` is held exactly while its container exists."""

from __future__ import annotations

import os
import signal

import pytest

from .conftest import (
    Cli,
    container_init_pid,
    finish,
    only_running_id,
    read_line,
    run_in_pty,
)

pytestmark = pytest.mark.root

# PID 1 ignores signals it has no handler for, so the probes trap them.
TRAPPING = 'trap "exit 42" TERM; echo ready; sleep 100 & wait'


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 42), (signal.SIGINT, 43), (signal.SIGHUP, 44)]
)
def test_signals_are_forwarded(cli: Cli, sig: signal.Signals, code: int) -> None:
    name = sig.name.removeprefix("SIG")
    proc = cli.start(
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        f'trap "exit {code}" {name}; echo ready; sleep 100 & wait',
    )
    assert read_line(proc) == "ready\n"
    proc.send_signal(sig)
    rc, _, err = finish(proc)
    assert rc == code, err


def test_sigterm_forwarded_with_tty(cli: Cli) -> None:
    """``run -t`` forwards signals too (Docker's sig-proxy does, with or without -t)."""
    res = run_in_pty(
        cli.argv("run", "--rm", "-t", "busybox", "sh", "-c", TRAPPING),
        after=b"ready",
        signal=signal.SIGTERM,
    )
    assert res.returncode == 42, res.output


def test_sigkill_of_pid_1_is_137(cli: Cli) -> None:
    proc = cli.start("run", "--rm", "busybox", "sh", "-c", "echo ready; sleep 100; true")
    assert read_line(proc) == "ready\n"
    os.kill(container_init_pid(only_running_id(cli)), signal.SIGKILL)
    rc, _, err = finish(proc)
    assert rc == 137, err


def test_uncaught_signal_from_inside_is_128_plus_n(cli: Cli) -> None:
    # A child of PID 1 (not PID 1 itself) dies of SIGUSR1 (10); sh reports 138.
    res = cli.run("run", "--rm", "busybox", "sh", "-c", "sh -c 'kill -USR1 $$'; exit $?")
    assert res.returncode == 138, res.stderr


def test_name_in_use_then_free_again(cli: Cli) -> None:
    first = cli.start("run", "--rm", "--name", "web", "busybox", "sh", "-c", TRAPPING)
    try:
        assert read_line(first) == "ready\n"
        second = cli.run("run", "--rm", "--name", "web", "busybox", "true")
        assert second.returncode == 125
        assert second.stdout == ""
        lines = second.stderr.splitlines()
        assert len(lines) == 1 and '"web"' in lines[0] and "already in use" in lines[0]
    finally:
        first.send_signal(signal.SIGTERM)
        rc, _, err = finish(first)
    assert rc == 42, err
    again = cli.run("run", "--rm", "--name", "web", "busybox", "true")
    assert again.returncode == 0, again.stderr


def test_name_freed_after_failed_run(cli: Cli) -> None:
    res = cli.run("run", "--rm", "--name", "oops", "busybox", "nosuchcommand")
    assert res.returncode == 127
    again = cli.run("run", "--rm", "--name", "oops", "busybox", "true")
    assert again.returncode == 0, again.stderr


def test_invalid_name_is_125(cli: Cli) -> None:
    res = cli.run("run", "--rm", "--name", "../x", "busybox", "true")
    assert res.returncode == 125
    assert '"--name"' in res.stderr
