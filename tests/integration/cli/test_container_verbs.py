"""stop, kill, wait, inspect, stats and top on detached containers."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Cli
from .test_run_detached import wait_for

TRAP = 'trap "exit 42" TERM; while true; do sleep 0.1; done'
DEAF = 'trap "" TERM; while true; do sleep 0.1; done'


def test_stop_sends_the_stop_signal_then_wait_reports(cli: Cli) -> None:
    assert cli.run("run", "-d", "--name", "t", "busybox", "sh", "-c", TRAP).returncode == 0
    wait_for(cli, "t", "running")
    res = cli.run("stop", "t")
    assert (res.returncode, res.stdout) == (0, "t\n"), res.stderr
    assert cli.run("wait", "t").stdout == "42\n"
    assert wait_for(cli, "t", "exited")["Status"].startswith("Exited (42)")
    assert cli.run("stop", "t").returncode == 0  # stopping a stopped one succeeds
    assert cli.run("rm", "t").returncode == 0


def test_stop_timeout_escalates_to_sigkill(cli: Cli) -> None:
    assert cli.run("run", "-d", "--name", "deaf", "busybox", "sh", "-c", DEAF).returncode == 0
    wait_for(cli, "deaf", "running")
    assert cli.run("stop", "-t", "1", "deaf").returncode == 0
    assert cli.run("wait", "deaf").stdout == "137\n"
    assert cli.run("rm", "deaf").returncode == 0


def test_kill_with_a_signal_and_errors(cli: Cli) -> None:
    assert cli.run("run", "-d", "--name", "k", "busybox", "sh", "-c", TRAP).returncode == 0
    wait_for(cli, "k", "running")
    assert cli.run("kill", "-s", "TERM", "k").returncode == 0
    assert cli.run("wait", "k").stdout == "42\n"
    again = cli.run("kill", "k")
    assert again.returncode == 125 and "is not running" in again.stderr
    bad = cli.run("kill", "-s", "NOPE", "k")
    assert bad.returncode == 125 and "--signal" in bad.stderr
    assert cli.run("rm", "k").returncode == 0


def test_inspect_top_and_stats(cli: Cli) -> None:
    res = cli.run("run", "-d", "--name", "i", "busybox", "sleep", "60")
    cid = res.stdout.strip()
    wait_for(cli, "i", "running")
    (doc,) = json.loads(cli.run("inspect", "i").stdout)
    assert doc["Id"] == cid and doc["Name"] == "/i" and doc["Path"] == "sleep"
    assert doc["State"]["Running"] is True and doc["State"]["Pid"] > 0
    assert doc["Config"]["Image"] == "busybox"
    top = cli.run("top", "i").stdout.splitlines()
    assert top[0].split()[:2] == ["UID", "PID"] and "sleep 60" in top[1]
    procs = [json.loads(x) for x in cli.run("top", "i", "--format", "json").stdout.splitlines()]
    assert procs[0]["CMD"] == "sleep 60" and procs[0]["UID"] == "root"
    stats = json.loads(cli.run("stats", "--no-stream", "--format", "json", "i").stdout)
    assert stats["Name"] == "i" and stats["PIDs"] == "1" and "/" in stats["MemUsage"]
    image = json.loads(cli.run("inspect", "busybox").stdout)
    assert image[0]["RepoTags"] == ["busybox:latest"]
    missing = cli.run("inspect", "nope")
    assert missing.returncode == 125 and json.loads(missing.stdout) == []
    assert cli.run("rm", "-f", "i").returncode == 0


def test_env_file_labels_stop_signal_and_timeout(cli: Cli, tmp_path: Path) -> None:
    env = tmp_path / "app.env"
    env.write_bytes(b"# settings\r\nA=from file\r\nB=file\r\n\r\n")
    res = cli.run("run", "--rm", "--env-file", str(env), "-e", "B=flag", "busybox", "sh", "-c",
                  'echo "$A|$B"')
    assert (res.returncode, res.stdout) == (0, "from file|flag\n"), res.stderr
    bad = tmp_path / "bad.env"
    bad.write_text("OK=1\nNOT VALID=2\n")
    err = cli.run("run", "--rm", "--env-file", str(bad), "busybox", "true")
    assert err.returncode == 125 and f"{bad}, line 2" in err.stderr
    hup = 'trap "exit 3" HUP; while true; do sleep 0.1; done'
    assert cli.run("run", "-d", "--name", "l", "--label", "tier=web", "--stop-signal", "HUP",
                   "--stop-timeout", "5", "busybox", "sh", "-c", hup).returncode == 0
    wait_for(cli, "l", "running")
    (doc,) = json.loads(cli.run("inspect", "l").stdout)
    assert doc["Config"]["Labels"] == {"tier": "web"} and doc["Config"]["StopSignal"] == "1"
    assert cli.run("stop", "l").returncode == 0
    assert cli.run("wait", "l").stdout == "3\n"  # HUP, not TERM, reached it
    assert cli.run("rm", "l").returncode == 0


def test_pause_unpause_and_rename(cli: Cli) -> None:
    assert cli.run("run", "-d", "--name", "p", "busybox", "sleep", "60").returncode == 0
    wait_for(cli, "p", "running")
    assert cli.run("pause", "p").stdout == "p\n"
    assert wait_for(cli, "p", "paused")["Status"].endswith("(Paused)")
    again = cli.run("pause", "p")
    assert again.returncode == 125 and "paused" in again.stderr
    assert cli.run("unpause", "p").returncode == 0
    wait_for(cli, "p", "running")
    assert cli.run("rename", "p", "q").returncode == 0
    wait_for(cli, "q", "running")
    taken = cli.run("run", "--rm", "--name", "q", "busybox", "true")
    assert taken.returncode == 125 and "already in use" in taken.stderr
    assert cli.run("run", "--rm", "--name", "p", "busybox", "true").returncode == 0  # freed
    assert cli.run("rm", "-f", "q").returncode == 0


def test_init_reaps_orphans_and_forwards_signals(cli: Cli) -> None:
    orphans = ("i=0; while [ $i -lt 2000 ]; do (sleep 0 &); i=$((i+1)); done; sleep 1; "
               "ps -o stat | grep -c Z")
    res = cli.run("run", "--rm", "--init", "busybox", "sh", "-c", orphans, timeout=120)
    assert res.stdout.strip() == "0", (res.stdout, res.stderr)  # all 2000 reaped
    assert cli.run("run", "-d", "--init", "--name", "in", "busybox", "sleep",
                   "60").returncode == 0
    wait_for(cli, "in", "running")
    top = cli.run("top", "in").stdout
    assert "/run/launcher-init" in top
    assert cli.run("stop", "-t", "20", "in").returncode == 0
    assert cli.run("wait", "in").stdout == "143\n"  # sleep got the TERM tini forwarded
    assert cli.run("rm", "in").returncode == 0


def test_oom_kill_is_137_and_reported(cli: Cli) -> None:
    res = cli.run("run", "--name", "oom", "--memory", "32m", "busybox", "tail", "/dev/zero")
    assert res.returncode == 137
    (doc,) = json.loads(cli.run("inspect", "oom").stdout)
    assert doc["State"]["OOMKilled"] is True and doc["State"]["ExitCode"] == 137
    assert cli.run("run", "-d", "--name", "oom-d", "--memory", "32m", "busybox", "tail",
                   "/dev/zero").returncode == 0
    assert cli.run("wait", "oom-d").stdout == "137\n"
    (doc,) = json.loads(cli.run("inspect", "oom-d").stdout)
    assert doc["State"]["OOMKilled"] is True
    fine = cli.run("run", "--name", "fine", "busybox", "true")
    assert fine.returncode == 0
    (doc,) = json.loads(cli.run("inspect", "fine").stdout)
    assert doc["State"]["OOMKilled"] is False
    assert cli.run("rm", "oom", "oom-d", "fine").returncode == 0
