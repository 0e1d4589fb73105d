"""main.run_cli: routing, exit codes, one-line errors, --debug."""

from __future__ import annotations

import re

import pytest

from launcher import __version__
from launcher.cli import main, options
from launcher.cli.optspec import CommandSpec
from launcher.errors import ExecFailure, NotFoundError, RuntimeFailure

from .conftest import FakeEngine


def _flag_in(name: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


def test_version(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    assert main.run_cli(["--version"]) == 0
    assert capsys.readouterr().out == f"launcher {__version__}\n"


def test_main_exits_with_the_code(engine: FakeEngine) -> None:
    engine.exit_code = 42
    with pytest.raises(SystemExit) as stop:
        main.main(["run", "busybox"])
    assert stop.value.code == 42


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (NotFoundError("image busybox not found"), 125),
        (RuntimeFailure("pivot_root: EPERM"), 125),
        (ExecFailure("exec: nope: not found", 127), 127),
        (ExecFailure("exec: /etc: permission denied"), 126),
    ],
)
def test_launcher_errors_print_one_line(
    error: Exception, code: int, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.error = error
    assert main.run_cli(["run", "busybox"]) == code
    assert capsys.readouterr().err == f"launcher: {error}\n"


def test_multiline_message_is_one_line(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.error = NotFoundError("first\nsecond")
    assert main.run_cli(["run", "busybox"]) == 125
    assert capsys.readouterr().err == "launcher: first second\n"


def test_ctrl_c_exits_130(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    engine.error = KeyboardInterrupt()
    assert main.run_cli(["run", "busybox"]) == 130


def test_unknown_flag_is_125_and_one_line(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main.run_cli(["run", "--foo", "busybox"]) == 125
    assert capsys.readouterr().err == "launcher: unknown flag: --foo\n"
    assert main.run_cli(["--foo", "run", "busybox"]) == 125  # via typer, same wording
    assert capsys.readouterr().err == "launcher: unknown flag: --foo\n"
    assert main.run_cli(["system", "info", "--foo"]) == 125
    assert capsys.readouterr().err == "launcher: unknown flag: --foo\n"
    assert main.run_cli(["nosuch"]) == 125
    err = capsys.readouterr().err
    assert err.startswith("launcher: ") and err.count("\n") == 1 and "nosuch" in err


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_prints_traceback_and_timings(
    how: str,
    engine: FakeEngine,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = ["run", "busybox"]
    if how == "flag":
        argv = ["--debug", *argv]
    else:
        monkeypatch.setenv("LAUNCHER_DEBUG", "1")
    engine.PHASES = [("start", 0.0), ("spec", 0.001)]  # type: ignore[attr-defined]
    assert main.run_cli(argv) == 0
    err = capsys.readouterr().err
    assert "launcher: debug: spec: +1.00 ms" in err
    assert "launcher: debug: command total:" in err
    engine.error = NotFoundError("no image")
    assert main.run_cli(argv) == 125
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith("launcher: no image\n")


def test_run_help_goes_to_typer_but_not_after_the_image(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main.run_cli(["run", "--rm", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage" in out and engine.runs == []
    assert main.run_cli(["run", "busybox", "--help"]) == 0
    assert engine.runs[0][1].command == ["--help"]


def test_no_command_shows_help(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    assert main.run_cli([]) == 0
    assert "Usage" in capsys.readouterr().out
    assert main.run_cli(["--debug"]) == 0
    assert "Usage" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "spec"),
    [
        (["--help"], options.GLOBAL),
        (["-h"], options.GLOBAL),
        (["run", "--help"], options.RUN),
        (["import", "-h"], options.IMPORT),
    ],
)
def test_help_lists_every_option(
    argv: list[str],
    spec: CommandSpec,
    engine: FakeEngine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main.run_cli(argv) == 0
    out = capsys.readouterr().out
    for opt in spec.options:
        for name in opt.names:
            assert _flag_in(name, out), (name, out)
        assert opt.help.split("(")[0].strip() in " ".join(out.split())
    for arg in spec.args:
        assert arg.metavar in out
    if spec is options.GLOBAL:
        for command in ("run", "import", "system", "version"):
            assert _flag_in(command, out)


def test_run_dash_h_is_the_hostname(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    assert main.run_cli(["run", "-h"]) == 125
    assert capsys.readouterr().err == "launcher: flag needs an argument: -h\n"


def test_import_prints_the_id(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    assert main.run_cli(["--root", "/tmp/x", "import", "rootfs.tar", "app:1"]) == 0
    assert capsys.readouterr().out == "sha256:" + "0" * 64 + "\n"
    paths, source, ref = engine.imports[0]
    assert (paths.storage, source, ref) == ("/tmp/x/storage", "rootfs.tar", "app:1")


def test_root_from_environment(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAUNCHER_ROOT", "/tmp/envroot")
    assert main.run_cli(["run", "busybox"]) == 0
    assert engine.runs[0][0].storage == "/tmp/envroot/storage"


def test_shell_completion_goes_to_typer(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_LAUNCHER_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "launcher run --mem")
    monkeypatch.setenv("COMP_CWORD", "2")
    with pytest.raises(SystemExit) as stop:
        main.run_cli(["run", "--mem"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.split() == ["--memory"]
    assert engine.runs == []
