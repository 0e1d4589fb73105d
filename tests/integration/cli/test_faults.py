"""The fault-injection sweep: a CLI or monitor killed (SIGKILL, via
``LAUNCHER_FAULT``) at each step of create and of rm leaves a state that
``ps`` lists consistently, and ``rm -f`` + ``system prune`` then leave no
cgroup, mount, state file, name or process behind."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.integration.cli.conftest import Cli

pytestmark = pytest.mark.root

SLEEP = "3131"  # a marker: `sleep 3131` is one of ours
STATUSES = {"created", "running", "paused", "restarting", "exited", "dead"}
# Steps of `run` in the CLI itself, then those of the runtime's create (in the
# CLI when attached, in the monitor with -d), then the CLI's own after create.
RUN_POINTS = ["run.bundle", "run.name", "run.spec", "run.record"]
CREATE_POINTS = ["create.state", "create.cgroup", "create.forked", "create.ready"]
ATTACHED = [*RUN_POINTS, *CREATE_POINTS, "run.created", "run.started"]
DETACHED = [*RUN_POINTS, *CREATE_POINTS, "run.detach", "monitor.started"]
RM_POINTS = ["rm.runtime", "rm.rootfs", "rm.names"]


def _ours(root: str) -> list[int]:
    """Processes of this test: its containers' commands, monitors and CLIs."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if SLEEP.encode() in argv or root.encode() in argv:
            found.append(int(entry))
    return found


def _consistent_ps(cli: Cli) -> list[tuple[str, str]]:
    """``ps -a`` works and lists every container with a known status: (id, status)."""
    res = cli.run("ps", "-a", "--no-trunc", "--format", "json")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    for row in rows:
        assert row["State"] in STATUSES, res.stdout
    return [(row["ID"], row["State"]) for row in rows]


def _clean_up_and_check(cli: Cli, name: str) -> None:
    for cid, _status in _consistent_ps(cli):
        res = cli.run("rm", "-f", cid)
        assert res.returncode == 0, res.stderr
    res = cli.run("system", "prune", "-f")
    assert res.returncode == 0, res.stderr
    assert cli.run("ps", "-aq").stdout == ""
    deadline = time.monotonic() + 5
    while _ours(str(cli.root)) and time.monotonic() < deadline:
        time.sleep(0.05)  # a killed container's last processes being reaped
    assert _ours(str(cli.root)) == []
    # The name is free again (a stale claim is taken over).
    res = cli.run("run", "--rm", "--name", name, "busybox", "true")
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("point", ATTACHED)
def test_attached_run_killed_at_each_step(cli: Cli, point: str) -> None:
    # The container may outlive its killed CLI holding its stdout: no pipes.
    code = subprocess.run(cli.argv("run", "--name", "victim", "busybox", "sleep", SLEEP),
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=20, check=False,
                          env={**os.environ, "LAUNCHER_FAULT": point}).returncode
    assert code == -9
    _clean_up_and_check(cli, "victim")


@pytest.mark.parametrize("point", DETACHED)
def test_detached_run_killed_at_each_step(cli: Cli, point: str) -> None:
    res = cli.run("run", "-d", "--name", "victim", "busybox", "sleep", SLEEP,
                  env={"LAUNCHER_FAULT": point}, timeout=20)
    if point.startswith("run."):
        assert res.returncode == -9, (res.returncode, res.stderr)
    elif point == "monitor.started":  # after its report: the container runs on
        assert res.returncode == 0, res.stderr
        assert dict(_consistent_ps(cli))[res.stdout.strip()] == "running"
    else:  # the monitor died: the CLI reports it and rolls back
        assert res.returncode == 125, (res.returncode, res.stdout, res.stderr)
        assert "monitor exited without starting the container" in res.stderr
    _clean_up_and_check(cli, "victim")


@pytest.mark.parametrize("point", RM_POINTS)
def test_rm_killed_at_each_step(cli: Cli, point: str) -> None:
    res = cli.run("run", "-d", "--name", "victim", "busybox", "sleep", SLEEP)
    assert res.returncode == 0, res.stderr
    res = cli.run("rm", "-f", "victim", env={"LAUNCHER_FAULT": point})
    assert res.returncode == -9, (res.returncode, res.stderr)
    _clean_up_and_check(cli, "victim")


def test_monitor_killed_while_the_container_runs(cli: Cli) -> None:
    """A dead monitor: the container runs on, shown as running, and once it
    is gone shown as exited, never as running."""
    cid = cli.run("run", "-d", "busybox", "sleep", SLEEP).stdout.strip()
    monitors = [p for p in _ours(str(cli.root)) if _is_monitor(p, cid)]
    assert len(monitors) == 1
    os.kill(monitors[0], 9)
    assert dict(_consistent_ps(cli))[cid] == "running"
    assert cli.run("kill", cid).returncode == 0
    deadline = time.monotonic() + 5
    while dict(_consistent_ps(cli))[cid] != "exited" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dict(_consistent_ps(cli))[cid] == "exited"
    _clean_up_and_check(cli, "victim")


def _is_monitor(pid: int, cid: str) -> bool:
    """The monitor is a fork of the `run -d` CLI, in a session of its own."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return b"run" in argv and int(fields[3]) == pid  # session id == pid
