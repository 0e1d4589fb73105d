"""Container names: claimed atomically, and never left claimed by a failed run."""

from __future__ import annotations

import os

from .conftest import Cli


def test_fifty_parallel_runs_with_one_name(cli: Cli) -> None:
    assert cli.run("run", "--rm", "busybox", "true").returncode == 0  # image built once
    procs = [cli.start("run", "--rm", "--name", "x", "busybox", "sleep", "1") for _ in range(50)]
    results = [(p.wait(timeout=120), p.communicate()) for p in procs]
    ok = [r for r in results if r[0] == 0]
    lost = [r for r in results if r[0] != 0]
    assert len(ok) == 1
    assert len(lost) == 49
    for code, (_out, err) in lost:
        assert code == 125
        assert err.startswith('launcher: the container name "x" is already in use')
        assert err.count("\n") == 1
    # --rm: the name is free again
    assert cli.run("run", "--rm", "--name", "x", "busybox", "true").returncode == 0


def test_failed_run_frees_its_name_and_bundle(cli: Cli) -> None:
    res = cli.run("run", "--name", "y", "--workdir", "/proc/x", "busybox", "true")
    assert res.returncode != 0
    names = cli.root / "state" / "names"
    assert not (names / "y").exists()
    containers = cli.root / "storage" / "containers"
    assert not containers.exists() or os.listdir(containers) == []
    ok = cli.run("run", "--rm", "--name", "y", "busybox", "true")
    assert ok.returncode == 0, ok.stderr
