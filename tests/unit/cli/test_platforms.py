"""The CLI on macOS and Windows, simulated in a fresh interpreter on this host
(tests/unit/portable/sim.py)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from launcher import __version__
from tests.unit.portable.sim import simulate

PLATFORMS = ["darwin", "win32"]


def _has_core() -> bool:
    return all(
        importlib.util.find_spec(m) is not None
        for m in ("launcher.engine", "launcher.backend.select")
    )


needs_core = pytest.mark.skipif(
    not _has_core(), reason="launcher.engine / launcher.backend.select not written yet"
)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_simulation_blocks_linux_modules(platform: str) -> None:
    assert simulate(platform, "--selfcheck").returncode == 0


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--help"], "Usage: launcher [OPTIONS] COMMAND"),
        (["run", "--help"], "--memory"),
        (["--version"], f"launcher {__version__}\n"),
        (["version"], "Client.Version "),
    ],
)
def test_help_and_version(platform: str, argv: list[str], expected: str) -> None:
    done = simulate(platform, *argv)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert expected in done.stdout


@pytest.mark.parametrize("platform", PLATFORMS)
def test_version_reports_the_simulated_os(platform: str) -> None:
    done = simulate(platform, "version", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["Client"]["OS/Arch"].split("/")[0] == {"darwin": "darwin",
                                                        "win32": "windows"}[platform]
    assert data["Backend"]["Name"] == "vm"  # no Linux kernel: the machine's guest


@needs_core
@pytest.mark.parametrize("platform", PLATFORMS)
def test_system_info(platform: str, tmp_path: Path) -> None:
    done = simulate(platform, "--root", str(tmp_path), "system", "info", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert isinstance(json.loads(done.stdout), dict)


@needs_core
@pytest.mark.parametrize("platform", PLATFORMS)
def test_run_goes_to_the_vm_backend(platform: str, tmp_path: Path) -> None:
    """No Linux kernel: `run` needs a machine; with no published image reachable
    and no way to build one here, a one-line error and no half-made machine."""
    done = simulate(platform, "--root", str(tmp_path), "run", "busybox", "true")
    assert done.returncode == 125, done.stderr
    lines = done.stderr.splitlines()
    assert lines[-1].startswith("launcher: ") and "--image" in lines[-1], done.stderr
    assert lines[:-1] == ["launcher: creating machine default (first use)"], done.stderr
    machines = tmp_path / "storage" / "machines"
    assert not machines.exists() or os.listdir(machines) == []
    done = simulate(platform, "--root", str(tmp_path), "machine", "ls", "--format", "json")
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
