"""The container start path stays light: ``launcher run`` loads no typer, click or rich.

Checked in a fresh interpreter (this process has typer loaded already), with a
fake ``launcher.engine`` installed before launcher is imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
# typer & co., and the stdlib modules the start-path rules forbid (STYLE/common rules)
FORBIDDEN = {
    "typer", "click", "rich", "pydantic", "shellingham",
    "dataclasses", "typing", "json", "re", "enum", "socket", "signal", "inspect",
    "logging", "subprocess", "shutil", "tempfile", "pathlib", "datetime",
}  # fmt: skip

PROBE = """
import sys
before = set(sys.modules)
engine = type(sys)("launcher.engine")
calls = []
engine.run_container = lambda paths, req: calls.append(req) or 0
engine.import_image = lambda paths, source, ref: "sha256:" + "0" * 64
sys.modules["launcher.engine"] = engine
from launcher.cli.main import run_cli
code = run_cli(sys.argv[1:])
assert code == 0, code
print(" ".join(sorted(set(sys.modules) - before - {"launcher.engine"})))
"""


def _new_modules(tmp_path: Path, *argv: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAUNCHER_", "_LAUNCHER"))}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, "--root", str(tmp_path), *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--rm", "-it", "-e", "A=1", "-m", "64m", "--cpus", "0.5", "busybox", "true"],
        ["import", "rootfs.tar", "app:1"],
    ],
    ids=lambda a: a[0],
)
def test_hot_commands_import_nothing_heavy(tmp_path: Path, argv: list[str]) -> None:
    loaded = _new_modules(tmp_path, *argv)
    assert any(m.startswith("launcher.cli") for m in loaded)
    heavy = {m for m in loaded if m.split(".")[0] in FORBIDDEN}
    assert not heavy, f"the fast path imported {sorted(heavy)}"


def test_the_probe_sees_typer_when_it_is_used(tmp_path: Path) -> None:
    """The check above can fail: help does go through typer."""
    loaded = _new_modules(tmp_path, "run", "--help")
    assert "typer" in loaded
