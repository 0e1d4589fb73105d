"""process.user ids reach setresuid/setresgid only when they are real ids."""

from __future__ import annotations

import pytest

from launcher.backend.linux import process
from launcher.errors import ConfigError
from launcher.spec.model import Process
from tests.unit.backend.linux.conftest import RecordingSyscalls


def _proc(user: dict[str, object] | None) -> Process:
    base: dict[str, object] = {"cwd": "/", "args": ["sh"]}
    if user is not None:
        base["user"] = user
    return Process.from_json(base)


@pytest.mark.parametrize("user", [
    {"uid": 4294967295, "gid": 0},  # (uid_t)-1: "unchanged" to setresuid, i.e. root
    {"uid": 0, "gid": 4294967295},
    {"uid": 4294967296, "gid": 0},
    {"uid": -1, "gid": 0},
    {"uid": 1, "gid": 1, "additionalGids": [4294967295]},
])
def test_out_of_range_ids_are_refused_before_any_identity_change(
        rec: RecordingSyscalls, user: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=r"out of range \(0-4294967294\)"):
        process.drop_privileges(rec, _proc(user))
    assert not {"setgroups", "setresgid", "setresuid"} & set(rec.names())


def test_the_largest_real_id_and_no_user_pass(rec: RecordingSyscalls) -> None:
    process.drop_privileges(rec, _proc({"uid": 4294967294, "gid": 4294967294,
                                        "additionalGids": [0]}))
    assert ("setresuid", (4294967294,)) in rec.calls
    assert ("setresgid", (4294967294,)) in rec.calls
    assert ("setgroups", ([0],)) in rec.calls
    assert process.checked_ids(_proc(None)) == (0, 0, [])
