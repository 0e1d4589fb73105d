"""launcher.log: levels, the one-line format, the lazy resolver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from launcher import log
from launcher.errors import ConfigError, UsageError


@pytest.fixture(autouse=True)
def default_level() -> Iterator[None]:
    log.set_level("warning")
    yield
    log.set_level("warning")


def say_all() -> None:
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")


@pytest.mark.parametrize(("name", "shown"), [
    ("debug", "diwe"), ("info", "iwe"), ("warning", "we"), ("error", "e"), ("ERROR", "e"),
])
def test_a_level_shows_itself_and_above(name: str, shown: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    log.set_level(name)
    say_all()
    captured = capsys.readouterr()
    names = {"d": "debug", "i": "info", "w": "warning", "e": "error"}
    assert captured.err == "".join(f"launcher: {names[c]}: {c}\n" for c in shown)
    assert captured.out == ""


def test_warning_is_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    say_all()
    assert capsys.readouterr().err == "launcher: warning: w\nlauncher: error: e\n"
    assert not log.enabled(log.INFO) and log.enabled(log.WARNING)


def test_an_unknown_level_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="invalid log level 'nope': expected debug, info") as err:
        log.set_level("nope")
    assert err.value.exit_code == 125
    assert log.level() == log.WARNING  # unchanged


def test_the_resolver_runs_once_and_only_when_needed(capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[int] = []

    def resolve() -> str:
        calls.append(1)
        return "info"

    log.set_level_resolver(resolve)
    assert calls == []
    log.info("first")
    log.info("second")
    assert calls == [1]
    assert capsys.readouterr().err == "launcher: info: first\nlauncher: info: second\n"
    log.set_level("error")  # an explicit level drops a pending resolver
    log.set_level_resolver(resolve)
    log.set_level("error")
    log.warning("hidden")
    assert calls == [1] and capsys.readouterr().err == ""


def test_a_failing_resolver_raises_once_and_leaves_the_default() -> None:
    def broken() -> str:
        raise ConfigError("launcher.toml: log_level: expected a string")

    log.set_level_resolver(broken)
    with pytest.raises(ConfigError):
        log.warning("w")
    assert log.level() == log.WARNING
