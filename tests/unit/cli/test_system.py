from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from launcher import __version__
from launcher.cli import main

from .conftest import FakeEngine


def test_system_info_json(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    assert main.run_cli(["--root", "/tmp/si", "system", "info", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["backend"] == "fake"
    assert data["paths"] == {"storage": "/tmp/si/storage", "state": "/tmp/si/state"}


def test_system_info_table(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    assert main.run_cli(["--root", "/tmp/si", "system", "info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split() == ["host.os", "linux"] for line in lines)
    assert any(line.split() == ["paths.storage", "/tmp/si/storage"] for line in lines)


def test_bad_format(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    assert main.run_cli(["system", "info", "-f", "yaml"]) == 125
    err = capsys.readouterr().err
    assert err == (
        'launcher: invalid argument "yaml" for "-f, --format" flag: must be one of: table, json\n'
    )


def test_version_command(engine: FakeEngine, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAUNCHER_BACKEND", "native")  # what this test looks at, on any host
    assert main.run_cli(["version", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["Client"]["Version"] == __version__
    assert set(data["Client"]) == {"Version", "Python", "OS/Arch"}
    assert data["Backend"]["Name"] == "native" and "Kernel" in data["Backend"]
    assert "Guest" not in data
    assert main.run_cli(["version"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split() == ["Client.Version", __version__]


def test_group_without_subcommand_shows_help(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main.run_cli(["system"]) == 0
    out, err = capsys.readouterr()
    assert "info" in out and err == ""


def test_version_on_the_vm_backend_reports_the_guest(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from launcher import versions
    from launcher.paths import Paths
    from launcher.vm import machine as machine_mod

    paths = Paths(str(tmp_path / "s"), str(tmp_path / "t"), str(tmp_path / "c"))
    m = machine_mod.Machine(paths, "default")
    m.image_dir = str(tmp_path / "img")
    os.makedirs(m.image_dir)
    os.makedirs(m.run_dir)
    (Path(m.image_dir) / "image.json").write_text(
        '{"arch": "x86_64", "kernel_version": "6.1.0-old", "launcher_version": "0.0.9"}')
    monkeypatch.setattr(machine_mod.Machine, "load", classmethod(lambda cls, p, n: m))
    monkeypatch.setattr(machine_mod, "status", lambda _m: ("stopped", ""))
    report = versions.report(paths, True)
    assert report["Backend"]["Name"] == "vm" and report["Backend"]["State"] == "stopped"
    assert report["Guest"] == {"Version": "0.0.9", "Kernel": "6.1.0-old", "Arch": "x86_64"}
    (Path(m.run_dir) / "guest.json").write_text('{"Version": "0.1.0", "Kernel": "6.1.0-26"}')
    (Path(m.run_dir) / "accel").write_text("tcg\n")
    monkeypatch.setattr(machine_mod, "status", lambda _m: ("running", "pid 1"))
    report = versions.report(paths, True)
    assert report["Guest"]["Version"] == "0.1.0" and report["Guest"]["Kernel"] == "6.1.0-26"
    assert report["Backend"]["Accelerator"] == "tcg"
