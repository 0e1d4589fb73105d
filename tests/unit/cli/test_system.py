from __future__ import annotations

import json

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


def test_version_command(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
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
