"""``launcher exec`` into detached containers."""

from __future__ import annotations

from .conftest import Cli
from .test_run_detached import wait_for


def test_exec_exit_codes_env_workdir_user_stdin(cli: Cli) -> None:
    assert cli.run("run", "-d", "--name", "e", "busybox", "sleep", "60").returncode == 0
    wait_for(cli, "e", "running")
    res = cli.run("exec", "e", "sh", "-c", "echo hi; exit 5")
    assert (res.returncode, res.stdout) == (5, "hi\n")
    res = cli.run("exec", "-e", "FOO=bar", "-w", "/tmp", "-u", "nobody", "e", "sh", "-c",
                  'echo "$FOO $(id -u) $(pwd)"')
    assert (res.returncode, res.stdout) == (0, "bar 65534 /tmp\n"), res.stderr
    piped = cli.run("exec", "-i", "e", "cat", input="through stdin\n")
    assert piped.stdout == "through stdin\n"
    closed = cli.run("exec", "e", "cat", input="ignored\n")  # without -i: stdin is empty
    assert (closed.returncode, closed.stdout) == (0, "")
    missing = cli.run("exec", "e", "no-such-command")
    assert missing.returncode == 127 and missing.stderr.count("\n") == 1
    assert cli.run("exec", "e", "/etc/passwd").returncode == 126
    assert cli.run("exec", "-d", "e", "sleep", "30").returncode == 0
    top = cli.run("top", "e").stdout
    assert "sleep 30" in top
    assert cli.run("rm", "-f", "e").returncode == 0


def test_exec_refuses_stopped_and_paused(cli: Cli) -> None:
    assert cli.run("run", "--name", "x", "busybox", "true").returncode == 0
    res = cli.run("exec", "x", "true")
    assert res.returncode == 125 and "is not running" in res.stderr
    assert cli.run("run", "-d", "--name", "y", "busybox", "sleep", "60").returncode == 0
    wait_for(cli, "y", "running")
    assert cli.run("pause", "y").returncode == 0
    paused = cli.run("exec", "y", "true")
    assert paused.returncode == 125 and "paused" in paused.stderr
    assert cli.run("rm", "-f", "x", "y").returncode == 0
