"""Compiling OCI seccomp configs to BPF (libseccomp), the cache, and loading a
program in a child for real."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from launcher.backend.linux import state
from launcher.errors import ConfigError, UnsupportedError
from launcher.seccomp import bpf
from launcher.spec import security
from launcher.spec.model import Seccomp, Syscall, SyscallArg

needs_libseccomp = pytest.mark.skipif(not any(
    os.path.exists(os.path.join(d, "libseccomp.so.2"))
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64")),
    reason="needs libseccomp2")


def _sec(**kw: object) -> Seccomp:
    return Seccomp(default_action="SCMP_ACT_ALLOW", syscalls=[
        Syscall(names=["mkdir", "mkdirat"], action="SCMP_ACT_ERRNO", errno_ret=1),
        Syscall(names=["socket"], action="SCMP_ACT_ERRNO", errno_ret=97,
                args=[SyscallArg(index=0, value=40, op="SCMP_CMP_EQ")]),
        Syscall(names=["no_such_syscall_anywhere"], action="SCMP_ACT_ERRNO"),
        Syscall(names=["getpid"], action="SCMP_ACT_ALLOW"),  # the default: left out
    ], **kw)


def test_actions_and_flags() -> None:
    assert bpf.action("SCMP_ACT_ERRNO", None) == 0x00050001  # EPERM by default
    assert bpf.action("SCMP_ACT_ERRNO", 38) == 0x00050026
    assert bpf.action("SCMP_ACT_KILL_PROCESS", None) == 0x80000000
    with pytest.raises(ConfigError, match="unknown action"):
        bpf.action("SCMP_ACT_NOPE", None)
    assert security.flags(Seccomp(flags=["SECCOMP_FILTER_FLAG_LOG"])) == 2
    with pytest.raises(ConfigError, match="unknown flag"):
        security.flags(Seccomp(flags=["SECCOMP_FILTER_FLAG_X"]))
    with pytest.raises(UnsupportedError, match="notify"):
        bpf.program(Seccomp(default_action="SCMP_ACT_ALLOW", listener_path="/x"), None)


@needs_libseccomp
def test_compiled_once_then_read_from_the_cache(tmp_path: Path) -> None:
    prog = bpf.program(_sec(), str(tmp_path))
    assert prog and len(prog) % 8 == 0
    (cached,) = list(tmp_path.iterdir())
    assert cached.read_bytes() == prog
    cached.write_bytes(b"\x06\x00\x00\x00\x00\x00\xff\x7f")  # a marker program
    assert bpf.program(_sec(), str(tmp_path)) == b"\x06\x00\x00\x00\x00\x00\xff\x7f"
    assert bpf.program(_sec(flags=["SECCOMP_FILTER_FLAG_LOG"]), str(tmp_path)) != b""


@needs_libseccomp
def test_bad_rules_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown architecture"):
        bpf.compile_bpf(Seccomp(default_action="SCMP_ACT_ALLOW", architectures=["SCMP_ARCH_Z"]))
    bad = Seccomp(default_action="SCMP_ACT_ALLOW", syscalls=[Syscall(
        names=["read"], action="SCMP_ACT_ERRNO", args=[SyscallArg(index=9, op="SCMP_CMP_EQ")])])
    with pytest.raises(ConfigError, match=r"syscalls\[0\]\.args\[0\]"):
        bpf.compile_bpf(bad)


@needs_libseccomp
@pytest.mark.skipif(os.geteuid() != 0 and not hasattr(os, "fork"), reason="needs fork")
def test_a_loaded_program_filters_for_real(tmp_path: Path) -> None:
    from launcher.backend.linux.syscalls import LinuxSyscalls

    prog = bpf.program(_sec(), str(tmp_path))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            import socket

            s = LinuxSyscalls()
            s.prctl(38, 1)  # PR_SET_NO_NEW_PRIVS
            s.seccomp_load(prog, 0)
            out = []
            try:
                os.mkdir(str(tmp_path / "nope"))
                out.append("mkdir=0")
            except OSError as e:
                out.append(f"mkdir={e.errno}")
            try:
                socket.socket(40, socket.SOCK_STREAM)
                out.append("vsock=0")
            except OSError as e:
                out.append(f"vsock={e.errno}")
            socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
            out.append(f"pid={int(os.getpid() > 0)}")
            os.write(w, " ".join(out).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    got = os.read(r, 100).decode()
    os.close(r)
    assert os.waitstatus_to_exitcode(status) == 0
    assert got == "mkdir=1 vsock=97 pid=1"
    assert not (tmp_path / "nope").exists()


def test_exec_finds_the_containers_filter(tmp_path: Path) -> None:
    assert state.load_seccomp(str(tmp_path)) is None  # unconfined
    state.save_seccomp(str(tmp_path), b"12345678", 4)
    assert state.load_seccomp(str(tmp_path)) == (b"12345678", 4)
