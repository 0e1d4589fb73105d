"""The default seccomp profile, for real: syscall probes inside a container (the
host's python3 bind-mounted read-only), in `run` and in `exec`, against
`seccomp=unconfined`, a Docker-format profile, and bad profiles."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .conftest import Cli
from .test_run_detached import wait_for

pytestmark = pytest.mark.skipif(
    os.uname().machine != "x86_64" or not os.path.exists("/usr/bin/python3"),
    reason="the probes use x86_64 syscall numbers and the host's /usr/bin/python3")

PROBE = r"""
import ctypes, socket
libc = ctypes.CDLL(None, use_errno=True)
def sc(nr, *a):
    return 0 if libc.syscall(nr, *a) >= 0 else ctypes.get_errno()
out = {"unshare": sc(272, 0x10000000), "keyctl": sc(250, 0, 0, 0, 0, 0),
       "bpf": sc(321, 0, 0, 0), "io_uring_setup": sc(425, 1, 0),
       "mount": sc(165, b"none", b"/tmp", b"tmpfs", 0, None), "unknown": sc(1000),
       "getpid": sc(39)}
try:
    socket.socket(40, socket.SOCK_STREAM)
    out["vsock"] = 0
except OSError as e:
    out["vsock"] = e.errno
print(" ".join(f"{k}={v}" for k, v in sorted(out.items())))
"""
HOST_PY = ("-v", "/usr:/usr:ro", "-v", "/lib:/lib:ro", "-v", "/lib64:/lib64:ro")
EPERM, ENOSYS = 1, 38


def _probe(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in (w.split("=") for w in text.split())}


def _run(cli: Cli, *opts: str) -> dict[str, int]:
    res = cli.run("run", "--rm", "--network", "none", *opts, *HOST_PY, "busybox",
                  "/usr/bin/python3", "-c", PROBE)
    assert res.returncode == 0, res.stderr
    return _probe(res.stdout)


def test_the_default_profile(cli: Cli) -> None:
    got = _run(cli)
    assert got == {"bpf": EPERM, "getpid": 0, "io_uring_setup": EPERM, "keyctl": EPERM,
                   "mount": EPERM, "unknown": ENOSYS, "unshare": EPERM, "vsock": EPERM}


def test_exec_gets_the_containers_filter(cli: Cli) -> None:
    assert cli.run("run", "-d", "--name", "sc", "--network", "none", *HOST_PY, "busybox",
                   "sleep", "60").returncode == 0
    try:
        wait_for(cli, "sc", "running")
        res = cli.run("exec", "sc", "/usr/bin/python3", "-c", PROBE)
        assert res.returncode == 0, res.stderr
        got = _probe(res.stdout)
        assert (got["keyctl"], got["unshare"], got["getpid"]) == (EPERM, EPERM, 0)
    finally:
        cli.run("rm", "-f", "sc")


def test_unconfined_and_a_docker_format_profile(cli: Cli, tmp_path: Path) -> None:
    got = _run(cli, "--security-opt", "seccomp=unconfined")
    assert got["keyctl"] != EPERM and got["getpid"] == 0  # the kernel's own answer
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}))
    got = _run(cli, "--security-opt", f"seccomp={profile}")
    assert got["getpid"] == 13 and got["keyctl"] != EPERM


@pytest.mark.parametrize(("opt", "message"), [
    ("seccomp=/nonexistent.json", "nonexistent.json"),
    ("seccomp=BAD", "BAD"),
    ("apparmor=myprofile", "--security-opt"),
])
def test_bad_profiles_are_refused_and_nothing_is_left(cli: Cli, opt: str, message: str,
                                                      tmp_path: Path) -> None:
    if opt == "seccomp=BAD":
        bad = tmp_path / "bad.json"
        bad.write_text('{"defaultAction": "SCMP_ACT_NOPE"}')
        opt, message = f"seccomp={bad}", "SCMP_ACT_NOPE"
    res = cli.run("run", "--rm", "--network", "none", "--security-opt", opt, "busybox", "true")
    assert res.returncode == 125 and message in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert cli.run("ps", "-aq").stdout == ""
