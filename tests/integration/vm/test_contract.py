"""The same lifecycle contract against the native backend and the VM backend:
same flags, same output, same exit codes. Each case runs on both and the
results are checked against the same expectations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.vm.conftest import Vm

LAUNCHER = str(Path(sys.executable).with_name("launcher"))
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(params=["native", pytest.param("vm", marks=[pytest.mark.vm, pytest.mark.slow])])
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Run]:
    if request.param == "vm":
        v: Vm = request.getfixturevalue("vm")
        yield v.vm
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHER_")}
    root = tmp_path / "root"

    def native(*argv: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run([LAUNCHER, "--root", str(root), *argv], env=env,
                              capture_output=True, text=True, timeout=120, check=False,
                              **kw)  # type: ignore[call-overload]

    yield native
    ids = native("ps", "-a", "-q").stdout.split()
    if ids:
        native("rm", "-f", *ids)


def test_run_flags_output_and_exit_code(cli: Run) -> None:
    res = cli("run", "--rm", "--network", "none", "-e", "A=from-env", "-w", "/tmp", "-u",
              "1000:1000", "--hostname", "box", "busybox", "sh", "-c",
              'echo "$A $(pwd) $(id -u):$(id -g) $(hostname)"; echo to-stderr >&2; exit 3')
    assert (res.returncode, res.stdout) == (3, "from-env /tmp 1000:1000 box\n")
    assert res.stderr == "to-stderr\n"


def test_detached_lifecycle(cli: Run) -> None:
    name = f"contract-{os.getpid()}"
    res = cli("run", "-d", "--network", "none", "--name", name, "busybox", "sh", "-c",
              "echo started; exec sleep 600")
    assert res.returncode == 0 and len(res.stdout.strip()) == 64, res.stderr
    row = json.loads(cli("ps", "--filter", f"name={name}", "--format", "json").stdout)
    assert (row["Names"], row["State"]) == (name, "running")
    assert cli("exec", name, "echo", "in", "it").stdout == "in it\n"
    assert cli("exec", name, "sh", "-c", "exit 4").returncode == 4
    assert cli("logs", name).stdout == "started\n"
    assert cli("stop", "-t", "0", name).returncode == 0
    assert cli("wait", name).stdout.strip() == "137"
    row = json.loads(cli("ps", "-a", "--filter", f"name={name}", "--format", "json").stdout)
    assert row["State"] == "exited"
    assert cli("rm", name).returncode == 0
    assert cli("ps", "-a", "--filter", f"name={name}", "-q").stdout == ""


def test_errors_are_one_line_125(cli: Run) -> None:
    for argv in (["run", "--rm", "--memory", "lots", "busybox"],
                 ["run", "--rm", "--pull", "never", "no/such:image"],
                 ["run", "--rm", "--bogus-flag", "busybox"]):
        res = cli(*argv)
        assert res.returncode == 125, (argv, res.stderr)
        assert res.stderr.count("\n") == 1 and res.stderr.startswith("launcher: "), res.stderr
    res = cli("rm", "no-such-container")
    assert res.returncode != 0 and "no-such-container" in res.stderr
