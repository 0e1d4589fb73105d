"""``--restart`` policies, run by the container's monitor."""

from __future__ import annotations

import json
import time

from .conftest import Cli
from .test_run_detached import wait_for


def inspect(cli: Cli, name: str) -> dict[str, object]:
    (doc,) = json.loads(cli.run("inspect", name).stdout)
    assert isinstance(doc, dict)
    return doc


def test_on_failure_restarts_up_to_the_limit(cli: Cli) -> None:
    assert cli.run("run", "-d", "--restart", "on-failure:2", "--name", "r", "busybox", "sh",
                   "-c", "echo run; exit 1").returncode == 0
    deadline = time.monotonic() + 30
    while inspect(cli, "r")["RestartCount"] != 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert wait_for(cli, "r", "exited")["Status"].startswith("Exited (1)")
    assert cli.run("logs", "r").stdout == "run\nrun\nrun\n"
    policy = inspect(cli, "r")["HostConfig"]
    assert isinstance(policy, dict)
    assert policy["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert cli.run("rm", "r").returncode == 0


def test_always_restarts_until_stopped(cli: Cli) -> None:
    assert cli.run("run", "-d", "--restart", "always", "--name", "a", "busybox", "sh", "-c",
                   "sleep 0.2").returncode == 0
    deadline = time.monotonic() + 30
    while int(str(inspect(cli, "a")["RestartCount"])) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cli.run("stop", "a").returncode == 0
    count = inspect(cli, "a")["RestartCount"]
    time.sleep(1)
    assert inspect(cli, "a")["RestartCount"] == count  # no restart after a user stop
    assert wait_for(cli, "a", "exited")
    assert cli.run("rm", "a").returncode == 0


def test_restart_conflicts(cli: Cli) -> None:
    res = cli.run("run", "-d", "--rm", "--restart", "always", "busybox", "true")
    assert res.returncode == 125 and "--restart and --rm" in res.stderr
    bad = cli.run("run", "-d", "--restart", "sometimes", "busybox", "true")
    assert bad.returncode == 125 and "--restart" in bad.stderr
