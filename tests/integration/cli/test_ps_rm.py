"""``ps`` and ``rm``: status derived from the live process, removal leaves nothing."""

from __future__ import annotations

import json
import os
import time

from .conftest import Cli


def ps(cli: Cli, *args: str) -> list[dict[str, str]]:
    res = cli.run("ps", "--format", "json", *args)
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def test_exited_container_is_listed_then_removed(cli: Cli) -> None:
    assert cli.run("run", "--name", "gone", "busybox", "sh", "-c", "exit 3").returncode == 3
    assert ps(cli) == []
    (row,) = ps(cli, "-a")
    assert (row["Names"], row["State"], row["Image"]) == ("gone", "exited", "busybox")
    assert row["Status"].startswith("Exited (3) ")
    table = cli.run("ps", "-a").stdout.splitlines()
    assert table[0].split()[:3] == ["CONTAINER", "ID", "IMAGE"] and "gone" in table[1]
    assert cli.run("ps", "-aq").stdout == row["ID"] + "\n"
    res = cli.run("rm", "gone")
    assert (res.returncode, res.stdout) == (0, "gone\n")
    assert ps(cli, "-a") == []
    assert os.listdir(cli.root / "storage" / "containers") == []
    again = cli.run("run", "--rm", "--name", "gone", "busybox", "true")  # the name is free
    assert again.returncode == 0, again.stderr


def test_running_container_needs_force(cli: Cli) -> None:
    proc = cli.start("run", "--name", "busy", "busybox", "sleep", "60")
    try:
        deadline = time.monotonic() + 20
        while not ps(cli) and time.monotonic() < deadline:
            time.sleep(0.05)
        (row,) = ps(cli)
        assert row["State"] == "running" and row["Status"].startswith("Up ")
        refused = cli.run("rm", row["ID"][:6])  # an id prefix works too
        assert refused.returncode == 125
        assert "container is running" in refused.stderr and refused.stderr.count("\n") == 1
        forced = cli.run("rm", "-f", "busy")
        assert forced.returncode == 0, forced.stderr
        assert proc.wait(timeout=20) == 137  # the attached CLI saw its container killed
    finally:
        proc.kill()
        proc.communicate()
    assert ps(cli, "-a") == []
    assert cli.running_ids() == []


def test_rm_errors(cli: Cli) -> None:
    res = cli.run("rm", "nope")
    assert (res.returncode, res.stderr) == (125, "launcher: No such container: nope\n")


def test_corrupt_record_names_the_file(cli: Cli) -> None:
    assert cli.run("run", "--name", "bad", "busybox", "true").returncode == 0
    assert len(ps(cli, "-a")) == 1
    bundle = cli.root / "storage" / "containers"
    (cid,) = os.listdir(bundle)
    (bundle / cid / "container.json").write_text("{trunc")
    res = cli.run("ps", "-a")
    assert res.returncode == 0
    assert str(bundle / cid / "container.json") in res.stderr and "rm -f" in res.stderr
    assert cli.run("rm", "-f", cid).returncode == 0
    assert os.listdir(bundle) == []


def test_system_prune_removes_stopped_containers(cli: Cli) -> None:
    assert cli.run("run", "--name", "old", "busybox", "true").returncode == 0
    res = cli.run("system", "prune", "-f")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("Deleted Containers:\n")
    assert ps(cli, "-a") == []
    assert cli.run("run", "--rm", "--name", "old", "busybox", "true").returncode == 0


def test_ps_filters(cli: Cli) -> None:
    assert cli.run("run", "--name", "fa", "-l", "tier=web", "busybox", "true").returncode == 0
    assert cli.run("run", "--name", "fb", "busybox", "sh", "-c", "exit 2").returncode == 2
    assert [r["Names"] for r in ps(cli, "-a", "-f", "exited=2")] == ["fb"]
    assert [r["Names"] for r in ps(cli, "-a", "-f", "label=tier=web")] == ["fa"]
    assert [r["Names"] for r in ps(cli, "-f", "status=exited", "-f", "name=fa")] == ["fa"]
    assert ps(cli, "-f", "label=tier") == []  # not running: -a is needed
    bad = cli.run("ps", "-f", "bogus=1")
    assert bad.returncode == 125 and "invalid filter" in bad.stderr
    assert cli.run("rm", "fa", "fb").returncode == 0


def test_container_prune_removes_the_stopped_ones(cli: Cli) -> None:
    assert cli.run("run", "--name", "done", "busybox", "true").returncode == 0
    up = cli.run("run", "-d", "--name", "up", "busybox", "sleep", "60")
    assert up.returncode == 0, up.stderr
    try:
        res = cli.run("container", "prune", "-f")
        assert res.returncode == 0, res.stderr
        lines = res.stdout.splitlines()
        assert lines[0] == "Deleted Containers:" and len(lines[1]) == 64
        assert lines[-1] == "Total reclaimed space: 0B"
        assert [r["Names"] for r in ps(cli, "-a")] == ["up"]
        again = cli.run("container", "prune", "-f")
        assert again.stdout == "Total reclaimed space: 0B\n"
    finally:
        cli.run("rm", "-f", "up")
