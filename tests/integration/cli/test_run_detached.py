"""``run -d``: a monitor keeps the container, its output goes to a log, its exit is recorded."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

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


def test_log_cap_under_an_endless_writer(cli: Cli) -> None:
    """--log-opt max-size/max-file hold however much a container writes."""
    line = "x" * 100
    cid = cli.run("run", "-d", "--log-opt", "max-size=4k", "--log-opt", "max-file=2",
                  "busybox", "sh", "-c", f"while :; do echo {line}; done").stdout.strip()
    bundle = cli.root / "storage" / "containers" / cid
    deadline = time.monotonic() + 10
    while not (bundle / "container-log.json.1").exists():
        assert time.monotonic() < deadline, "the log never rotated"
        time.sleep(0.05)
    for _ in range(10):  # it goes on writing; the cap holds throughout
        sizes = [_size(bundle / n) for n in os.listdir(bundle)
                 if n.startswith("container-log.json")]  # one may be mid-rotation
        assert len(sizes) <= 2 and all(s <= 4096 + 512 for s in sizes), sizes
        time.sleep(0.1)
    assert cli.run("kill", cid).returncode == 0  # a still log: --tail is exact
    assert cli.run("wait", cid).stdout == "137\n"
    tail = cli.run("logs", "--tail", "3", cid)
    assert tail.stdout.splitlines() == [line] * 3
    (doc,) = json.loads(cli.run("inspect", cid).stdout)
    assert doc["HostConfig"]["LogConfig"] == {"Type": "json-file",
                                              "Config": {"max-size": "4k", "max-file": "2"}}
    assert cli.run("rm", "-f", cid).returncode == 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def test_log_driver_none(cli: Cli) -> None:
    cid = cli.run("run", "-d", "--log-driver", "none", "busybox", "echo", "hi").stdout.strip()
    assert cli.run("wait", cid).stdout == "0\n"
    res = cli.run("logs", cid)
    assert res.returncode == 125
    assert "does not support reading" in res.stderr
    assert not (cli.root / "storage" / "containers" / cid / "container-log.json").exists()
    assert cli.run("run", "--rm", "--log-opt", "max-size=0", "busybox", "true").returncode == 125
    assert cli.run("rm", cid).returncode == 0
