"""The CLI on macOS and Windows, simulated in a fresh interpreter on this host.

``sys.platform`` is switched before launcher is imported, and launcher's own
imports of the Linux-only modules (fcntl, termios, resource, ctypes, pyroute2)
fail. Third-party libraries are left to import as they would on that platform,
except on "win32", where typer/rich are loaded before the switch (their
Windows console layer needs kernel32, which this host cannot provide).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from launcher import __version__

REPO = Path(__file__).resolve().parents[3]
PLATFORMS = ["darwin", "win32"]

SIMULATE = r"""
import importlib.abc
import sys
import sysconfig

sysconfig.get_config_vars()  # cache now: its lookup is keyed by sys.platform
platform = sys.argv.pop(1)
if platform == "win32":
    import pydantic, rich.console, typer, typer.main, typer.rich_utils  # noqa: E401
BLOCKED = {"fcntl", "termios", "resource", "ctypes", "_ctypes", "pyroute2"}


def importer():
    frame = sys._getframe(2)
    while frame is not None and "importlib" in frame.f_code.co_filename:
        frame = frame.f_back
    return frame.f_globals.get("__name__", "") if frame is not None else ""


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED and importer().split(".")[0] == "launcher":
            raise ModuleNotFoundError(f"No module named {name!r} on {platform}", name=name)
        return None


for loaded in [m for m in sys.modules if m.split(".")[0] in BLOCKED]:
    del sys.modules[loaded]
sys.meta_path.insert(0, Blocker())
sys.platform = platform
if sys.argv[1:] == ["--selfcheck"]:  # does the blocker bite launcher's imports?
    try:
        exec("import fcntl", {"__name__": "launcher.selfcheck"})
    except ModuleNotFoundError:
        sys.exit(0)
    sys.exit(1)

import launcher
from launcher.cli.main import run_cli

sys.exit(run_cli(sys.argv[1:]))
"""


def simulate(platform: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAUNCHER_", "_LAUNCHER"))}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-c", SIMULATE, platform, *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


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
        (["version"], f"version  {__version__}\n"),
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
    assert json.loads(done.stdout)["os"] == {"darwin": "darwin", "win32": "windows"}[platform]


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
