"""``launcher run``: output and exit codes as Docker gives them, one-line errors."""

from __future__ import annotations

import pytest

from .conftest import Cli

pytestmark = pytest.mark.root


def assert_one_line_error(stderr: str, *needles: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {stderr!r}"
    assert lines[0].startswith("launcher: "), stderr
    for needle in needles:
        assert needle in lines[0], stderr


def test_hello_world(cli: Cli) -> None:
    res = cli.run("run", "--rm", "busybox", "echo", "hi")
    assert (res.returncode, res.stdout, res.stderr) == (0, "hi\n", "")


@pytest.mark.parametrize("code", [0, 1, 3])
def test_exit_code_passes_through(cli: Cli, code: int) -> None:
    res = cli.run("run", "--rm", "busybox", "sh", "-c", f"exit {code}")
    assert (res.returncode, res.stderr) == (code, "")


def test_missing_command_is_127(cli: Cli) -> None:
    res = cli.run("run", "--rm", "busybox", "nosuchcommand")
    assert res.returncode == 127
    # Docker: exec: "nosuchcommand": executable file not found in $PATH
    assert_one_line_error(res.stderr, '"nosuchcommand"', "executable file not found in $PATH")


def test_missing_absolute_path_is_127(cli: Cli) -> None:
    res = cli.run("run", "--rm", "busybox", "/no/such/file")
    assert res.returncode == 127
    assert_one_line_error(res.stderr, "/no/such/file", "no such file or directory")


def test_not_executable_is_126(cli: Cli) -> None:
    res = cli.run("run", "--rm", "busybox", "/etc/passwd")
    assert res.returncode == 126
    assert_one_line_error(res.stderr, "/etc/passwd", "ermission denied")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--bogus", "busybox", "true"), "unknown flag: --bogus"),
        (("--pull", "never", "nope:1", "true"), "nope:1"),
        (("--memory", "x", "busybox", "true"), '"-m, --memory"'),
        (("--cpus", "zero", "busybox", "true"), '"--cpus"'),
        (("--network", "bad/net", "busybox", "true"), '"--network, --net"'),
        (("-u", "1:2:3", "busybox", "true"), '"-u, --user"'),
        (("-w", "relative", "busybox", "true"), '"-w, --workdir"'),
        ((), '"run" requires at least 1 argument'),
    ],
    ids=[
        "unknown-flag",
        "unknown-image",
        "bad-memory",
        "bad-cpus",
        "bad-network",
        "bad-user",
        "relative-workdir",
        "no-image",
    ],
)
def test_launcher_errors_are_125(cli: Cli, args: tuple[str, ...], needle: str) -> None:
    res = cli.run("run", "--rm", *args)
    assert res.returncode == 125
    assert res.stdout == ""
    assert_one_line_error(res.stderr, needle)


def test_unknown_user_name_is_125(cli: Cli) -> None:
    res = cli.run("run", "--rm", "-u", "nosuchuser", "busybox", "true")
    assert res.returncode == 125
    assert_one_line_error(res.stderr, "nosuchuser")


def test_debug_prints_phase_timings(cli: Cli) -> None:
    res = cli.run("--debug", "run", "--rm", "busybox", "true")
    assert res.returncode == 0
    debug = [line for line in res.stderr.splitlines() if "debug:" in line]
    assert len(debug) >= 2, res.stderr
    assert any("total" in line for line in debug), res.stderr


def test_run_without_rm_keeps_only_the_bundle(cli: Cli) -> None:
    """Without --rm the container's files stay (for a later ``rm``); nothing runs,
    no cgroup or mount stays. The bundle is removed here by hand."""
    import shutil

    containers = cli.root / "storage" / "containers"
    before = set(containers.iterdir()) if containers.exists() else set()
    res = cli.run("run", "busybox", "true")
    assert res.returncode == 0, res.stderr
    kept = set(containers.iterdir()) - before
    assert len(kept) == 1
    assert cli.running_ids() == []
    for path in kept:
        shutil.rmtree(path)


def test_fast_path_imports_no_typer(cli: Cli) -> None:
    import subprocess
    import sys

    argv = [sys.executable, "-X", "importtime", "-m", "launcher", *cli.argv()[1:]]
    res = subprocess.run(
        [*argv, "run", "--rm", "busybox", "true"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    modules = {
        line.rsplit("|", 1)[-1].strip()
        for line in res.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "launcher.cli.main" in modules
    heavy = {m for m in modules if m.split(".")[0] in ("typer", "click", "rich", "dataclasses")}
    assert not heavy, sorted(heavy)


def test_failure_inside_container_setup_is_125(cli: Cli) -> None:
    """Fails after the cgroup and mounts exist (chdir in container init): one
    line, exit 125, and (the fixture checks) nothing left behind."""
    res = cli.run("run", "--rm", "-w", "/etc/passwd", "busybox", "true")
    assert res.returncode == 125
    assert_one_line_error(res.stderr, "/etc/passwd")
    assert "not a directory" in res.stderr.lower()
