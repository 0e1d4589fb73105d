from __future__ import annotations

import sys

import pytest

from launcher import errors
from launcher.api.command import Command, error_from


@pytest.mark.parametrize(("text", "kind"), [
    (b"launcher: No such container: x\n", errors.NotFoundError),
    (b"launcher: the container name \"web\" is already in use\n", errors.ConflictError),
    (b"launcher: container abc is not running\n", errors.ConflictError),
    (b"launcher: unknown flag: --bogus\n", errors.UsageError),
    (b"launcher: registry 127.0.0.1:5000 answered 500\n", errors.RegistryError),
    (b"launcher: something else broke\n", errors.LauncherError),
])
def test_the_child_error_comes_back_as_its_class(text: bytes, kind: type) -> None:
    err = error_from(125, b"launcher: debug: x\n" + text)
    assert type(err) is kind
    assert str(err) == text.decode()[len("launcher: "):].strip()
    assert err.exit_code == 125


def test_exit_codes_other_than_125_are_kept() -> None:
    err = error_from(127, b"launcher: exec: nope: no such file\n")
    assert err.exit_code == 127
    assert str(error_from(3, b"")) == "launcher exited with 3"


def test_argv_runs_this_interpreter_with_the_global_options() -> None:
    cmd = Command(["--root", "/r", "--backend", "vm"])
    assert cmd.argv(["ps"]) == [sys.executable, "-m", "launcher", "--root", "/r",
                                "--backend", "vm", "ps"]


def test_a_real_child_reports_its_usage_error() -> None:
    with pytest.raises(errors.UsageError, match="unknown backend"):
        Command(["--backend", "bogus"]).check(["ps"], timeout=60)


def test_the_class_the_child_names_wins_over_the_wording() -> None:
    err = error_from(125, b"launcher: error kind: NotFoundError\nlauncher: it broke\n")
    assert type(err) is errors.NotFoundError and str(err) == "it broke"
    assert type(error_from(125, b"launcher: error kind: ConfigError\nlauncher: bad\n")) \
        is errors.ConfigError
    assert type(error_from(125, b"launcher: error kind: os\nlauncher: x\n")) \
        is errors.LauncherError
