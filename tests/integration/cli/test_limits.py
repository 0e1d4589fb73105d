"""Resource limits apply and are visible: a fork bomb under --pids-limit stays
contained while the host goes on working; --memory and --cpus show in
``stats``/the cgroup; ``stats`` streams until interrupted. (cgroup v1 here;
the v2 files are covered against a fake cgroupfs in the unit tests.)"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.integration.cli.conftest import Cli, container_cgroup

pytestmark = pytest.mark.root

BOMB = "f() { f | f & }; f; sleep 600"


def _pids_current(cid: str) -> int:
    with open(container_cgroup(cid, "pids") + "/pids.current", encoding="ascii") as f:
        return int(f.read())


def test_fork_bomb_stays_inside_its_pids_limit(cli: Cli) -> None:
    cid = cli.run("run", "-d", "--pids-limit", "64", "busybox", "sh", "-c", BOMB).stdout.strip()
    assert len(cid) == 64
    try:
        peak = 0
        for _ in range(20):  # two seconds of bombing
            peak = max(peak, _pids_current(cid))
            time.sleep(0.1)
        assert 32 <= peak <= 64  # it did fork, and no further than the limit
        # The host goes on working: other containers start and run.
        res = cli.run("run", "--rm", "busybox", "echo", "still here")
        assert (res.returncode, res.stdout) == (0, "still here\n")
        (row,) = [json.loads(line) for line in cli.run(
            "stats", "--no-stream", "--format", "json", cid).stdout.splitlines()]
        assert int(row["PIDs"]) <= 64
    finally:
        res = cli.run("rm", "-f", cid)
    assert res.returncode == 0, res.stderr


def test_memory_and_cpu_limits_are_visible(cli: Cli) -> None:
    cid = cli.run("run", "-d", "--memory", "64m", "--cpus", "0.5", "busybox",
                  "sleep", "600").stdout.strip()
    try:
        row = json.loads(cli.run("stats", "--no-stream", "--format", "json", cid).stdout)
        assert row["MemUsage"].endswith("/ 64MiB")
        with open(container_cgroup(cid, "cpu") + "/cpu.cfs_quota_us", encoding="ascii") as f:
            quota = int(f.read())
        with open(container_cgroup(cid, "cpu") + "/cpu.cfs_period_us", encoding="ascii") as f:
            assert quota / int(f.read()) == 0.5
        (doc,) = json.loads(cli.run("inspect", cid).stdout)
        assert doc["State"]["Status"] == "running"
    finally:
        assert cli.run("rm", "-f", cid).returncode == 0


def test_stats_streams_every_running_container(cli: Cli) -> None:
    a = cli.run("run", "-d", "--name", "sa", "busybox", "sleep", "600").stdout.strip()
    b = cli.run("run", "-d", "--name", "sb", "busybox", "sleep", "600").stdout.strip()
    proc = subprocess.Popen(cli.argv("stats", "--format", "json"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        names = [json.loads(proc.stdout.readline())["Name"] for _ in range(4)]
        assert sorted(names) == ["sa", "sa", "sb", "sb"]  # two rounds, both containers
        assert proc.poll() is None  # still streaming
    finally:
        proc.kill()
        proc.wait()
        assert cli.run("rm", "-f", a, b).returncode == 0
