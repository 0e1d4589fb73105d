from __future__ import annotations

import pytest

from launcher.cli import fastparse, options
from launcher.errors import UsageError

RUN, IMPORT, GLOBAL = options.RUN, options.IMPORT, options.GLOBAL


def parse_run(*argv: str) -> fastparse.Parsed:
    return fastparse.parse(RUN, list(argv))


def test_defaults() -> None:
    p = parse_run("busybox")
    assert p.args == ["busybox"]
    assert p.values["remove"] is False
    assert p.values["env"] == []
    assert p.values["memory"] is None
    assert p.values["network"] is None  # the engine picks the default (launcher.toml)
    assert not p.help


def test_forms_of_values() -> None:
    p = parse_run("--memory", "1g", "--cpus=0.5", "-w", "/a", "-u1000", "busybox")
    assert p.values["memory"] == "1g"
    assert p.values["cpus"] == "0.5"
    assert p.values["workdir"] == "/a"
    assert p.values["user"] == "1000"


def test_clusters() -> None:
    p = parse_run("-it", "busybox")
    assert p.values["interactive"] is True and p.values["tty"] is True
    p = parse_run("-itm64m", "-te", "A=1", "busybox")
    assert p.values["memory"] == "64m"
    assert p.values["env"] == ["A=1"]


def test_repeatable_accumulates_in_order() -> None:
    p = parse_run("-e", "A=1", "--env=B=2", "-eC", "--env", "D=4", "busybox")
    assert p.values["env"] == ["A=1", "B=2", "C", "D=4"]


def test_value_option_takes_the_next_word_whatever_it_is() -> None:
    p = parse_run("-e", "--help", "--name", "-x", "busybox")
    assert p.values["env"] == ["--help"]
    assert p.values["name"] == "-x"
    assert not p.help


def test_everything_after_image_is_the_command() -> None:
    p = parse_run("--rm", "busybox", "ls", "-l", "--rm", "--", "--help")
    assert p.args == ["busybox", "ls", "-l", "--rm", "--", "--help"]
    assert not p.help


def test_double_dash_ends_options_before_image() -> None:
    p = parse_run("--rm", "--", "-weird-image", "x")
    assert p.args == ["-weird-image", "x"]
    assert p.values["remove"] is True


def test_lone_dash_is_a_positional() -> None:
    assert fastparse.parse(IMPORT, ["-", "x:1"]).args == ["-", "x:1"]


def test_help_requests() -> None:
    assert parse_run("--rm", "--help").help
    assert fastparse.parse(IMPORT, ["-h"]).help
    assert fastparse.parse(IMPORT, ["a", "--help", "b"]).help  # interspersed for import
    assert fastparse.parse(GLOBAL, ["-h"]).help
    # run claims -h for the hostname, as docker run does
    assert parse_run("-h", "box", "busybox").values["hostname"] == "box"
    # a bad token after --help is still an error, as with click
    with pytest.raises(UsageError):
        parse_run("--help", "--nope")


def test_global_stops_at_the_command() -> None:
    p = fastparse.parse(GLOBAL, ["--root", "/r", "--debug", "run", "--rm", "x"])
    assert p.values["root"] == "/r" and p.values["debug"] is True
    assert p.args == ["run", "--rm", "x"]


def test_env_fills_an_absent_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAUNCHER_ROOT", "/from/env")
    assert fastparse.parse(GLOBAL, ["run"]).values["root"] == "/from/env"
    assert fastparse.parse(GLOBAL, ["--root=/x", "run"]).values["root"] == "/x"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--foo"], "unknown flag: --foo"),
        (["--foo=1"], "unknown flag: --foo"),
        (["-x"], "unknown shorthand flag: 'x'"),
        (["-itx"], "unknown shorthand flag: 'x'"),
        (["--memory"], "flag needs an argument: --memory"),
        (["-m"], "flag needs an argument: -m"),
        (["-it", "-e"], "flag needs an argument: -e"),
        (["--rm=true"], "flag does not take a value: --rm"),
        (["--help=1"], "flag does not take a value: --help"),
    ],
)
def test_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as err:
        fastparse.parse(RUN, argv)
    assert str(err.value) == message


def test_positionals_arity() -> None:
    with pytest.raises(UsageError, match="requires exactly 2"):
        fastparse.parse(IMPORT, ["a"]).positionals(IMPORT)
    with pytest.raises(UsageError, match="requires exactly 2"):
        fastparse.parse(IMPORT, ["a", "b", "c"]).positionals(IMPORT)
    pos = parse_run("img", "a", "b").positionals(RUN)
    assert pos == {"image": "img", "command": ["a", "b"]}
