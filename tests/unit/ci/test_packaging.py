"""``python -m build`` makes an sdist and a wheel with the version from
launcher/__init__.py, and the wheel installs into a fresh virtualenv (what
``pipx install`` does) with working console scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from launcher import __version__

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build", reason="pip install -e '.[test]'")
    out = tmp_path_factory.mktemp("dist")
    res = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "WARNING" not in res.stdout + res.stderr  # e.g. deprecated pyproject fields
    return out


def test_sdist_and_wheel_carry_the_one_version(dist: Path) -> None:
    wheel = dist / f"launcher-{__version__}-py3-none-any.whl"
    sdist = dist / f"launcher-{__version__}.tar.gz"
    assert wheel.exists() and sdist.exists(), sorted(os.listdir(dist))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = z.read(f"launcher-{__version__}.dist-info/METADATA").decode()
        entry = z.read(f"launcher-{__version__}.dist-info/entry_points.txt").decode()
    assert f"Version: {__version__}" in meta and "License-Expression: Apache-2.0" in meta
    assert {"launcher/__init__.py", "launcher/cli/main.py", "launcher/runtime/main.py"} <= names
    assert not any(n.startswith(("tests/", "provision/")) for n in names)
    for script in ("launcher = launcher.cli.main:main",
                   "launcher-runtime = launcher.runtime.main:main"):
        assert script in entry
    with tarfile.open(sdist) as t:
        members = {m.split("/", 1)[1] for m in t.getnames() if "/" in m}
    for needed in ("pyproject.toml", "README.md", "action.yml", "provision/build.py",
                   "vm-images/manifest.json", "scripts/setup.sh", "tests/conftest.py"):
        assert needed in members, needed


def test_the_wheel_installs_into_a_fresh_venv(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    wheel = dist / f"launcher-{__version__}-py3-none-any.whl"
    res = subprocess.run([str(bindir / "python"), "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check", str(wheel)],
                         capture_output=True, text=True, timeout=600, check=False)
    if res.returncode != 0 and "No matching distribution" in res.stderr:
        pytest.skip("the package index is not reachable for the dependencies")
    assert res.returncode == 0, res.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHER_")}
    env["LAUNCHER_ROOT"] = str(tmp_path / "root")
    out = subprocess.run([str(bindir / "launcher"), "--version"], capture_output=True,
                         text=True, timeout=120, check=True, env=env).stdout
    assert out == f"launcher {__version__}\n"
    out = subprocess.run([str(bindir / "launcher"), "version", "--format", "json"],
                         capture_output=True, text=True, timeout=120, check=True, env=env).stdout
    assert json.loads(out)["Client"]["Version"] == __version__
    out = subprocess.run([str(bindir / "launcher-runtime"), "--version"], capture_output=True,
                         text=True, timeout=120, check=True, env=env).stdout
    assert __version__ in out


def test_pipx_install(dist: Path, tmp_path: Path) -> None:
    """``pipx install launcher`` (here: the wheel just built) gives working
    ``launcher`` and ``launcher-runtime`` commands in pipx's bin directory."""
    pytest.importorskip("pipx", reason="pip install -e '.[test]'")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAUNCHER_", "PIPX_"))}
    env.update(PIPX_HOME=str(tmp_path / "home"), PIPX_BIN_DIR=str(tmp_path / "bin"),
               PIPX_MAN_DIR=str(tmp_path / "man"), LAUNCHER_ROOT=str(tmp_path / "root"))
    wheel = dist / f"launcher-{__version__}-py3-none-any.whl"
    res = subprocess.run([sys.executable, "-m", "pipx", "install", str(wheel)],
                         capture_output=True, text=True, timeout=600, check=False, env=env)
    if res.returncode != 0 and "No matching distribution" in res.stdout + res.stderr:
        pytest.skip("the package index is not reachable for the dependencies")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    for command in ("launcher", "launcher-runtime"):
        out = subprocess.run([str(tmp_path / "bin" / command), "--version"],
                             capture_output=True, text=True, timeout=120, check=True, env=env)
        assert __version__ in out.stdout

