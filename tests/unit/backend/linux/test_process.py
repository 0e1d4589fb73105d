import os

import pytest

from launcher.backend.linux import process
from launcher.backend.linux import syscalls as sc
from launcher.errors import ExecFailure, RuntimeFailure
from launcher.spec.caps import cap_number
from launcher.spec.model import Process


def _proc(**kw: object) -> Process:
    base: dict[str, object] = {"cwd": "/", "args": ["sh"], "user": {"uid": 1000, "gid": 100,
                                                                     "additionalGids": [5, 6]}}
    base.update(kw)
    return Process.from_json(base)


def test_drop_privileges_order_and_masks(rec) -> None:  # type: ignore[no-untyped-def]
    caps = ["CAP_KILL", "CAP_CHOWN"]
    p = _proc(capabilities={"bounding": caps, "effective": ["CAP_KILL"], "permitted": caps,
                            "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]},
              noNewPrivileges=True)
    process.drop_privileges(rec, p)
    names = rec.names()
    # the bounding set is trimmed while we still hold CAP_SETPCAP, before the uid change
    assert names.index("setresuid") > max(i for i, n in enumerate(names) if n == "prctl"
                                           and rec.calls[i][1][0] == sc.PR_CAPBSET_DROP)
    dropped = {c[1][1] for c in rec.calls if c[0] == "prctl" and c[1][0] == sc.PR_CAPBSET_DROP}
    assert cap_number("CAP_KILL") not in dropped and cap_number("CAP_SYS_ADMIN") in dropped
    assert ("setgroups", ([5, 6],)) in rec.calls
    assert names.index("setgroups") < names.index("setresgid") < names.index("setresuid")
    kill, chown = 1 << cap_number("CAP_KILL"), 1 << cap_number("CAP_CHOWN")
    assert ("capset", (kill, kill | chown, kill)) in rec.calls
    assert ("prctl", (sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, cap_number("CAP_KILL"))) \
        in rec.calls
    assert rec.calls[-1] == ("prctl", (sc.PR_SET_NO_NEW_PRIVS, 1, 0))
    # keepcaps spans the identity change only
    keep = [i for i, c in enumerate(rec.calls) if c[0] == "prctl" and c[1][0] == sc.PR_SET_KEEPCAPS]
    assert keep[0] < names.index("setresuid") < keep[1]


def test_ambient_needs_inheritable(rec) -> None:  # type: ignore[no-untyped-def]
    p = _proc(capabilities={"bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"],
                            "effective": ["CAP_KILL"], "ambient": ["CAP_KILL"]})
    process.drop_privileges(rec, p)
    assert not any(c[0] == "prctl" and c[1][:2] == (sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE)
                   for c in rec.calls)


def test_no_capabilities_key_leaves_sets_alone(rec) -> None:  # type: ignore[no-untyped-def]
    process.drop_privileges(rec, _proc())
    assert "capset" not in rec.names()


def test_rlimits_are_set_and_infinity_maps(rec) -> None:  # type: ignore[no-untyped-def]
    p = _proc(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                       {"type": "RLIMIT_CORE", "soft": 2**64 - 1, "hard": 2**64 - 1}])
    process.set_rlimits(rec, p)
    assert rec.calls == [("setrlimit", (7, 100, 200)), ("setrlimit", (4, -1, -1))]


def test_rlimit_failure_is_a_clear_error() -> None:
    class Refusing:
        def setrlimit(self, resource: int, soft: int, hard: int) -> None:
            raise OSError(1, "Operation not permitted")

    p = _proc(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 10**9}])
    with pytest.raises(RuntimeFailure, match="RLIMIT_NOFILE"):
        process.set_rlimits(Refusing(), p)  # type: ignore[arg-type]


def test_find_executable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path / "bin"
    d.mkdir()
    exe = d / "tool"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    (d / "data").write_text("x")
    env = [f"PATH={tmp_path}/nothere:{d}"]
    assert process.find_executable("tool", env) == str(exe)
    with pytest.raises(ExecFailure) as e:
        process.find_executable("data", env)
    assert e.value.exit_code == 127
    with pytest.raises(ExecFailure) as e:
        process.find_executable(str(tmp_path), env)
    assert e.value.exit_code == 126
    with pytest.raises(ExecFailure) as e:
        process.find_executable("/no/such", env)
    assert e.value.exit_code == 127


def test_env_path_default() -> None:
    assert process.env_path(None) == process.DEFAULT_PATH
    assert process.env_path(["A=1", "PATH=/x"]) == "/x"


def test_enter_cwd_missing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    here = os.getcwd()
    try:
        with pytest.raises(RuntimeFailure):
            process.enter_cwd(str(tmp_path / "missing"))
    finally:
        os.chdir(here)


def test_exec_env_keeps_home_and_adds_extra() -> None:
    env = process.exec_env(_proc(env=["PATH=/bin", "HOME=/h"]), ["LISTEN_FDS=1"])
    assert env == {"PATH": "/bin", "HOME": "/h", "LISTEN_FDS": "1"}


def test_home_from_passwd(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pw = tmp_path / "passwd"
    pw.write_text("root:x:0:0:root:/root:/bin/sh\nu:x:1000:100::/home/u:/bin/sh\nn:x:7:7::\n")
    assert process._home_of(1000, str(pw)) == "/home/u"
    assert process._home_of(0, str(pw)) == "/root"
    assert process._home_of(7, str(pw)) == "/"  # empty home field
    assert process._home_of(42, str(pw)) == "/"
    assert process._home_of(0, str(tmp_path / "missing")) == "/"


def test_home_never_blocks_on_a_fifo(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fifo = tmp_path / "passwd"
    os.mkfifo(fifo)
    assert process._home_of(0, str(fifo)) == "/"
