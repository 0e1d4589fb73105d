"""Hundreds of containers through every way in and out, then a count of what
is left: zero cgroups, mounts, processes, runtime state, bundles, names,
volumes and temporary files (the ``cli`` fixture's LeakCheck counts the
first ones again after the test)."""

from __future__ import annotations

import os
import time

import pytest

from tests.integration.cli.conftest import Cli, launcher_cgroups, mounts_mentioning

pytestmark = pytest.mark.root

ROUNDS = 50  # x 4 ways = 200 containers


def _entries(root: str, *sub: str) -> list[str]:
    try:
        return sorted(os.listdir(os.path.join(root, *sub)))
    except FileNotFoundError:
        return []


def _processes_naming(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def test_hundreds_of_containers_leave_nothing(cli: Cli) -> None:
    cgroups_before = launcher_cgroups()
    root = str(cli.root)
    volumes_before = _entries(root, "storage", "volumes")
    for i in range(ROUNDS):
        # attached, removed on exit, with an anonymous volume
        assert cli.run("run", "--rm", "-v", "/data", "busybox", "true").returncode == 0
        # attached and kept, then removed
        res = cli.run("run", "--name", f"kept-{i}", "busybox", "sh", "-c", "exit 3")
        assert res.returncode == 3
        assert cli.run("rm", f"kept-{i}").returncode == 0
        # detached, stopped, removed
        cid = cli.run("run", "-d", "busybox", "sleep", "600").stdout.strip()
        assert cli.run("stop", "-t", "0", cid).returncode == 0
        assert cli.run("rm", "-v", cid).returncode == 0
        # detached --rm: the monitor removes it
        assert cli.run("run", "-d", "--rm", "busybox", "true").returncode == 0
    deadline = time.monotonic() + 10
    while cli.run("ps", "-aq").stdout and time.monotonic() < deadline:
        time.sleep(0.1)  # the last detached --rm monitors finishing
    assert cli.run("ps", "-aq").stdout == ""
    assert launcher_cgroups() - cgroups_before == set()
    assert mounts_mentioning(root) == []
    assert _processes_naming(root) == []
    for sub in (("state", "runtime"), ("storage", "containers"), ("state", "names")):
        assert _entries(root, *sub) == [], sub
    assert _entries(root, "storage", "volumes") == volumes_before
    assert [e for e in _entries(root, "storage", "tmp") if not e.startswith(".")] == []
