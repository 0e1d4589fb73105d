"""``run -d``: a monitor keeps the container, its output goes to a log, its exit is recorded."""

from __future__ import annotations

import json
import os
import time

from .conftest import Cli


def wait_for(cli: Cli, name: str, state: str, timeout: float = 30) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        rows = [json.loads(line) for line in cli.run("ps", "-a", "--format", "json").stdout
                .splitlines()]
        row = next((r for r in rows if r["Names"] == name), None)
        if row is not None and row["State"] == state:
            return row
        assert time.monotonic() < deadline, f"{name} never became {state}: {rows}"
        time.sleep(0.05)


def test_detached_run_logs_and_exit_code(cli: Cli) -> None:
    res = cli.run("run", "-d", "--name", "bg", "busybox", "sh", "-c",
                  "echo out; echo err >&2; exit 7")
    assert res.returncode == 0, res.stderr
    cid = res.stdout.strip()
    assert len(cid) == 64 and res.stderr == ""
    row = wait_for(cli, "bg", "exited")
    assert row["ID"] == cid[:12] and row["Status"].startswith("Exited (7)")
    logs = cli.run("logs", "bg")
    assert (logs.returncode, logs.stdout, logs.stderr) == (0, "out\n", "err\n")
    stamped = cli.run("logs", "-t", "--tail", "1", cid[:8])
    assert stamped.stderr.endswith("Z err\n") and stamped.stdout == ""
    assert cli.run("rm", "bg").returncode == 0


def test_follow_ends_when_the_container_does(cli: Cli) -> None:
    res = cli.run("run", "-d", "--name", "f", "busybox", "sh", "-c",
                  "for i in 1 2 3; do echo $i; sleep 0.2; done")
    assert res.returncode == 0, res.stderr
    follow = cli.run("logs", "-f", "f", timeout=30)
    assert (follow.returncode, follow.stdout) == (0, "1\n2\n3\n")
    assert cli.run("rm", "f").returncode == 0


def test_detached_rm_removes_itself(cli: Cli) -> None:
    res = cli.run("run", "-d", "--rm", "--name", "gone", "busybox", "true")
    assert res.returncode == 0, res.stderr
    deadline = time.monotonic() + 30
    while cli.run("ps", "-aq").stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cli.run("ps", "-aq").stdout == ""
    assert os.listdir(cli.root / "storage" / "containers") == []


def test_exec_failure_is_reported_and_leaves_nothing(cli: Cli) -> None:
    res = cli.run("run", "-d", "--name", "bad", "busybox", "no-such-command")
    assert res.returncode == 127
    assert res.stdout == "" and "no-such-command" in res.stderr
    assert res.stderr.count("\n") == 1
    assert cli.run("ps", "-aq").stdout == ""
    assert cli.run("run", "--rm", "--name", "bad", "busybox", "true").returncode == 0


def test_rm_force_of_a_running_detached_container(cli: Cli) -> None:
    assert cli.run("run", "-d", "--name", "sl", "busybox", "sleep", "60").returncode == 0
    wait_for(cli, "sl", "running")
    assert cli.run("rm", "sl").returncode == 125
    assert cli.run("rm", "-f", "sl").returncode == 0
    assert cli.run("ps", "-aq").stdout == ""
    assert cli.running_ids() == []
