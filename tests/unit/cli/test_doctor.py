"""``launcher doctor`` through typer: the table, the JSON shape, the exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from launcher import doctor as core
from launcher.cli import doctor
from launcher.doctor import Check
from launcher.errors import UsageError
from launcher.paths import Paths
from tests.unit.doctor.test_checks import FakeProbe

CHECKS = [
    Check("namespaces", "ok", "all 7 available"),
    Check("subids", "warn", "alice has 0 subordinate uids", "usermod --add-subuids x alice"),
    Check("uidmap", "skip", "root: writes id maps itself"),
    Check("disk", "ok", "80.0 GiB free for /x/storage"),
]


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:  # a group, so `doctor` is a subcommand as under launcher's app
        pass

    doctor.register(app)
    return app


class Fake:
    """Stands in for ``run_checks``: records the Paths it gets, returns ``checks``."""

    def __init__(self) -> None:
        self.checks = list(CHECKS)
        self.calls: list[Paths] = []

    def __call__(self, paths: Paths, probe: object = None) -> list[Check]:
        self.calls.append(paths)
        return self.checks


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Fake:
    monkeypatch.setenv("LAUNCHER_ROOT", str(tmp_path))
    stub = Fake()
    monkeypatch.setattr(core, "run_checks", stub)
    return stub


def test_table(fake: Fake, tmp_path: Path) -> None:
    res = CliRunner().invoke(_app(), ["doctor"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines() == [
        "ok    namespaces  all 7 available",
        "warn  subids      alice has 0 subordinate uids",
        "                  fix: usermod --add-subuids x alice",
        "skip  uidmap      root: writes id maps itself",
        "ok    disk        80.0 GiB free for /x/storage",
        "4 checks: 2 ok, 1 warnings, 0 failed, 1 skipped",
    ]
    assert [p.storage for p in fake.calls] == [str(tmp_path / "storage")]


def test_json(fake: Fake) -> None:
    res = CliRunner().invoke(_app(), ["doctor", "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data == {"checks": [c.to_json() for c in CHECKS], "ok": True}
    assert set(data["checks"][1]) == {"name", "status", "detail", "fix"}


def test_a_failed_check_exits_1(fake: Fake) -> None:
    fake.checks.append(Check("seccomp", "fail", "no libseccomp", "apt-get install libseccomp2"))
    res = CliRunner().invoke(_app(), ["doctor"])
    assert res.exit_code == 1
    assert "fail  seccomp     no libseccomp" in res.output
    assert "fix: apt-get install libseccomp2" in res.output
    res = CliRunner().invoke(_app(), ["doctor", "-f", "json"])
    assert res.exit_code == 1 and json.loads(res.output)["ok"] is False


def test_bad_format(fake: Fake) -> None:
    res = CliRunner().invoke(_app(), ["doctor", "--format", "yaml"])
    assert isinstance(res.exception, UsageError)
    assert "must be one of: table, json" in str(res.exception)
    assert fake.calls == []


def test_real_checks_on_a_fake_mac_without_qemu(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    class Mac(FakeProbe):
        def __init__(self) -> None:
            super().__init__()
            self.plat = "darwin"
            del self.tools["qemu-system-x86_64"]
            self.free = {str(tmp_path): 50 << 30}
            self.present = {str(tmp_path)}

    monkeypatch.setenv("LAUNCHER_ROOT", str(tmp_path))
    monkeypatch.setattr(core, "Probe", Mac)
    res = CliRunner().invoke(_app(), ["doctor"])
    assert res.exit_code == 1, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith("skip  namespaces   not Linux (darwin)")
    assert "fix: brew install qemu" in res.output
    assert lines[-1] == "12 checks: 3 ok, 0 warnings, 1 failed, 8 skipped"
