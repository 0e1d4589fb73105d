"""exec -u: ids checked as run -u's are, at the flag and again where they are used."""

from __future__ import annotations

from typing import Any

import pytest

from launcher import containerlife
from launcher.cli import options
from launcher.cli.optspec import convert_values
from launcher.errors import UsageError


def _convert_exec_user(user: str) -> object:
    raw: dict[str, object] = {o.dest: o.initial() for o in options.EXEC.options}
    raw["user"] = user
    return convert_values(options.EXEC, raw)["user"]


@pytest.mark.parametrize(("user", "bad"), [
    ("4294967295", "4294967295"),
    ("4294967295:4294967295", "4294967295"),
    ("0:4294967295", "4294967295"),
    ("4294967296", "4294967296"),
])
def test_exec_user_flag_refuses_ids_out_of_range(user: str, bad: str) -> None:
    with pytest.raises(UsageError) as info:
        _convert_exec_user(user)
    assert str(info.value) == (f'invalid argument "{user}" for "-u, --user" flag: id {bad} '
                               "is out of range (0-4294967294)")


@pytest.mark.parametrize("user", ["0", "4294967294:4294967294", "nobody", "www:adm"])
def test_exec_user_flag_keeps_good_values(user: str) -> None:
    assert _convert_exec_user(user) == user


class _Proc:
    user: Any = None


@pytest.mark.parametrize("user", ["4294967295", "1:4294967295", "99999999999999999999"])
def test_exec_user_refuses_ids_out_of_range(user: str) -> None:
    proc = _Proc()
    with pytest.raises(UsageError, match=r"out of range \(0-4294967294\)"):
        containerlife._exec_user(None, None, proc, user)  # type: ignore[arg-type]
    assert proc.user is None


def test_exec_user_numeric_ids() -> None:
    proc = _Proc()
    containerlife._exec_user(None, None, proc, "4294967294:7")  # type: ignore[arg-type]
    assert (proc.user.uid, proc.user.gid) == (4294967294, 7)
    containerlife._exec_user(None, None, proc, "5")  # type: ignore[arg-type]
    assert (proc.user.uid, proc.user.gid) == (5, 0)
