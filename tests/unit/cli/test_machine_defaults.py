"""``machine init`` takes its defaults from launcher.toml's ``[machine]`` table;
its flags win; ``system info`` shows where every setting came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from launcher.cli import main


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    from launcher.vm import ops

    calls: list[dict[str, Any]] = []

    class _M:
        name = "default"

    def init(paths: object, name: str, **kw: Any) -> _M:
        calls.append(kw)
        return _M()

    monkeypatch.setattr(ops, "init", init)
    return calls


def test_file_then_flags(tmp_path: Path, recorded: list[dict[str, Any]],
                         capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    (root / "config").mkdir(parents=True)
    (root / "config" / "launcher.toml").write_text(
        '[machine]\ncpus = 4\nmemory = "3g"\ndisk_size = "20g"\n')
    assert main.run_cli(["--root", str(root), "machine", "init", "-v", str(tmp_path)]) == 0
    assert recorded[-1]["cpus"] == 4 and recorded[-1]["memory_mb"] == 3072
    assert recorded[-1]["disk_gb"] == 20
    assert main.run_cli(["--root", str(root), "machine", "init", "--cpus", "1", "-m", "1g",
                         "-v", str(tmp_path)]) == 0
    assert recorded[-1]["cpus"] == 1 and recorded[-1]["memory_mb"] == 1024
    capsys.readouterr()
    assert main.run_cli(["--root", str(root), "system", "info", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["settings"]["machine.cpus"] == {"value": 4, "source": "file"}
    assert info["settings"]["log_level"] == {"value": "warning", "source": "default"}
    assert info["config"] == str(root / "config" / "launcher.toml")


def test_built_in_defaults(tmp_path: Path, recorded: list[dict[str, Any]]) -> None:
    assert main.run_cli(["--root", str(tmp_path / "r"), "machine", "init", "-v",
                         str(tmp_path)]) == 0
    assert recorded[-1]["cpus"] == 2 and recorded[-1]["memory_mb"] == 2048
    assert recorded[-1]["disk_gb"] == 10
