import pytest

from launcher.cli import fastparse
from launcher.errors import UsageError
from launcher.runtime import main as rt_main
from launcher.runtime.options import COMMANDS, GLOBAL


def _parse(name: str, argv: list[str]) -> dict[str, object]:
    p = fastparse.parse(COMMANDS[name], argv)
    v = dict(p.values)
    v.update(p.positionals(COMMANDS[name]))
    return v


def test_podman_create_line() -> None:
    v = _parse("create", ["--bundle", "/b", "--pid-file", "/p", "--console-socket", "/s", "id1"])
    assert (v["bundle"], v["pid_file"], v["console_socket"], v["id"]) == ("/b", "/p", "/s", "id1")


def test_exec_keeps_command_flags() -> None:
    v = _parse("exec", ["--pid-file", "/p", "-t", "id", "ls", "-l", "--all"])
    assert v["id"] == "id" and v["command"] == ["ls", "-l", "--all"] and v["tty"] is True


def test_kill_signal_optional() -> None:
    assert _parse("kill", ["id"])["signal"] == []
    assert _parse("kill", ["--all", "id", "KILL"])["signal"] == ["KILL"]


def test_global_options_stop_at_command() -> None:
    p = fastparse.parse(GLOBAL, ["--root", "/r", "--log-format", "json", "state", "x"])
    assert p.values["root"] == "/r" and p.args == ["state", "x"]


def test_unknown_flag() -> None:
    with pytest.raises(UsageError, match="unknown flag"):
        _parse("delete", ["--nope", "x"])


def test_errors_are_one_line_and_logged(tmp_path, capfd) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "log.json"
    code = rt_main.run(["--root", str(tmp_path), "--log", str(log), "--log-format", "json",
                        "state", "nope"])
    assert code == 1
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "nope" in err
    import json

    rec = json.loads(log.read_text())
    assert rec["level"] == "error" and "nope" in rec["msg"]


def test_help_and_version(capfd) -> None:  # type: ignore[no-untyped-def]
    assert rt_main.run(["--help"]) == 0
    assert "create" in capfd.readouterr().out
    assert rt_main.run(["--version"]) == 0
    assert "launcher-runtime version" in capfd.readouterr().out
    assert rt_main.run(["exec", "--help"]) == 0
    assert "--process" in capfd.readouterr().out


def test_features_json(capfd) -> None:  # type: ignore[no-untyped-def]
    import json

    assert rt_main.run(["features"]) == 0
    f = json.loads(capfd.readouterr().out)
    assert "pid" in f["linux"]["namespaces"] and "CAP_KILL" in f["linux"]["capabilities"]
