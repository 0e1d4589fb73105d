"""--log-level, LAUNCHER_LOG_LEVEL and launcher.toml as ``run_cli`` layers them; the file's
backend and host as the dispatcher reads them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher import log, settings
from launcher.cli import main
from launcher.paths import Paths

from .conftest import FakeEngine


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for env in ("LAUNCHER_LOG_LEVEL", "LAUNCHER_BACKEND", "LAUNCHER_HOST",
                "LAUNCHER_DEFAULT_NETWORK"):
        monkeypatch.delenv(env, raising=False)
    settings.reset_cache()
    yield
    settings.reset_cache()
    log.set_level("warning")


def config(root: Path, text: str) -> None:
    (root / "config").mkdir(exist_ok=True)
    (root / "config" / "launcher.toml").write_text(text)


@pytest.mark.parametrize("how", ["flag", "env"])
def test_an_invalid_level_exits_125_with_one_line(
    how: str, engine: FakeEngine, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = ["run", "busybox"]
    if how == "flag":
        argv = ["--log-level", "nope", *argv]
    else:
        monkeypatch.setenv("LAUNCHER_LOG_LEVEL", "nope")
    assert main.run_cli(argv) == 125
    assert capsys.readouterr().err == (
        "launcher: invalid log level 'nope': expected debug, info, warning, error\n")
    assert engine.runs == []


def test_a_valid_level_is_accepted_and_set(engine: FakeEngine,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main.run_cli(["--log-level", "debug", "run", "busybox"]) == 0
    assert log.level() == log.DEBUG and len(engine.runs) == 1
    assert main.run_cli(["--log-level=error", "run", "busybox"]) == 0
    assert log.level() == log.ERROR
    assert capsys.readouterr().err == ""


def test_debug_means_the_debug_level(engine: FakeEngine) -> None:
    assert main.run_cli(["--debug", "--log-level", "error", "run", "busybox"]) == 0
    assert log.level() == log.DEBUG


def test_the_file_level_applies_without_flag_or_env(
    tmp_path: Path, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    config(tmp_path, 'log_level = "error"\n')
    root = ["--root", str(tmp_path)]
    assert main.run_cli([*root, "run", "busybox"]) == 0
    assert log.level() == log.ERROR
    monkeypatch.setenv("LAUNCHER_LOG_LEVEL", "info")  # env beats the file
    assert main.run_cli([*root, "run", "busybox"]) == 0
    assert log.level() == log.INFO
    assert main.run_cli([*root, "--log-level", "debug", "run", "busybox"]) == 0  # flag beats env
    assert log.level() == log.DEBUG


def test_a_broken_file_is_one_line_naming_it(
    tmp_path: Path, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    config(tmp_path, 'log_levle = "info"\n')
    assert main.run_cli(["--root", str(tmp_path), "run", "busybox"]) == 125
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{tmp_path}/config/launcher.toml: unknown setting 'log_levle'" in err
    assert engine.runs == []


def test_backend_and_host_come_from_the_file(
    tmp_path: Path, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from launcher.vm import forward

    calls: list[tuple[Paths, list[str], str | None]] = []
    monkeypatch.setattr(forward, "execute",
                        lambda paths, argv, host=None: calls.append((paths, argv, host)) or 0)
    root = ["--root", str(tmp_path)]
    config(tmp_path, 'host = "ssh://me@box"\n')
    assert main.run_cli([*root, "ps"]) == 0
    assert calls[-1][1:] == (["ps"], "ssh://me@box")
    assert main.run_cli([*root, "--host", "", "run", "busybox"]) == 0  # "" flag: this host
    assert len(calls) == 1 and len(engine.runs) == 1
    settings.reset_cache()
    config(tmp_path, 'backend = "vm"\n')
    assert main.run_cli([*root, "run", "busybox"]) == 0
    assert calls[-1][1:] == (["run", "busybox"], None)
    monkeypatch.setenv("LAUNCHER_BACKEND", "native")  # env beats the file
    assert main.run_cli([*root, "run", "busybox"]) == 0
    assert len(calls) == 2 and len(engine.runs) == 2


def test_local_commands_do_not_read_the_file(
    tmp_path: Path, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    config(tmp_path, "not toml at all\n")
    assert main.run_cli(["--root", str(tmp_path), "version"]) == 0
    assert capsys.readouterr().err == ""
