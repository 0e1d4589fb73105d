"""Re-laying out libseccomp's BPF shorter: the same decision for every syscall,
on every architecture, checked with the module's interpreter and in the kernel."""

from __future__ import annotations

import os
import struct

import pytest

from launcher.seccomp import compact
from launcher.seccomp.compact import ARCH, JA, JEQ, JGE, LD_ABS_W, NR, RET_K, run

needs_libseccomp = pytest.mark.skipif(not any(
    os.path.exists(os.path.join(d, "libseccomp.so.2"))
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64")),
    reason="needs libseccomp2")
x86_64_only = pytest.mark.skipif(os.uname().machine != "x86_64",
                                 reason="x86_64 syscall numbers")

X86_64, I386 = 0xC000003E, 0x40000003
X32 = 0x40000000  # the x32 ABI: x86_64's audit arch, numbers with this bit
ALLOW, KILL = 0x7FFF0000, 0x00000000
EPERM, ENOSYS = 0x00050001, 0x00050026
U64 = 2**64 - 1


@pytest.fixture(scope="module")
def programs() -> tuple[list[compact.Insn], list[compact.Insn]]:
    """libseccomp's program for the default profile (podman's caps), and ours."""
    from launcher.seccomp.default import default_profile
    from launcher.seccomp.libseccomp import compile_config
    from launcher.spec.caps import PODMAN_DEFAULT_CAPS

    raw = compile_config(default_profile(PODMAN_DEFAULT_CAPS))
    return compact.decode(raw), compact.decode(compact.compact(raw))


def _arg_probes() -> list[tuple[int, ...]]:
    values = [0, 1, 2, 8, 39, 40, 41, 63, 64, 0x20000, 0x20008, 0xFFFFFFFF, 1 << 32,
              (1 << 32) | 40, U64, 0x7E020000, *(1 << b for b in range(64))]
    return [(v, 0, 0, 0, 0, 0) for v in values] + [(0, v, v, 0, 0, 0) for v in values[:12]]


@needs_libseccomp
@x86_64_only
def test_a_third_of_the_instructions_and_the_same_decisions(programs: tuple[list, list]) -> None:
    orig, new = programs
    assert len(new) <= len(orig) * 0.4
    args = _arg_probes()
    for arch in (X86_64, I386, 0xC00000B7, 0, 0xFFFFFFFF):
        for base in ((0, X32) if arch == X86_64 else (0,)):
            for nr in range(base, base + 1100):
                assert run(orig, arch, nr) == run(new, arch, nr), (hex(arch), nr)
                if nr - base in (41, 56, 102, 120, 135, 136, 359):  # argument tests here
                    for a in args:
                        assert run(orig, arch, nr, a) == run(new, arch, nr, a), (nr, a)
    for nr in (0x3FFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF):
        assert run(orig, X86_64, nr) == run(new, X86_64, nr)


@needs_libseccomp
@x86_64_only
def test_the_default_profiles_decisions(programs: tuple[list, list]) -> None:
    _orig, new = programs
    assert run(new, X86_64, 39) == ALLOW  # getpid
    assert run(new, X86_64, 250) == EPERM  # keyctl
    assert run(new, X86_64, 435) == ENOSYS  # clone3
    assert run(new, X86_64, 1000) == ENOSYS  # unknown
    assert run(new, X86_64, 41, (2, 1, 0, 0, 0, 0)) == ALLOW  # socket(AF_INET)
    assert run(new, X86_64, 41, (40, 1, 0, 0, 0, 0)) == EPERM  # AF_VSOCK
    assert run(new, X86_64, 41, ((1 << 32) | 40, 1, 0, 0, 0, 0)) == EPERM
    assert run(new, X86_64, 56, (0x10000000, 0, 0, 0, 0, 0)) == EPERM  # CLONE_NEWUSER
    assert run(new, X86_64, 56, (0x11, 0, 0, 0, 0, 0)) == ALLOW
    assert run(new, I386, 20) == ALLOW  # getpid on the 32-bit ABI
    assert run(new, X86_64, X32 | 39) == ALLOW
    assert run(new, 0xC00000B7, 39) == KILL  # an architecture the filter lacks


@needs_libseccomp
@x86_64_only
def test_the_kernel_takes_it_and_filters_with_it(programs: tuple[list, list]) -> None:
    from launcher.backend.linux.syscalls import LinuxSyscalls

    prog = compact.encode(programs[1])
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            import ctypes

            s = LinuxSyscalls()
            s.prctl(38, 1)  # PR_SET_NO_NEW_PRIVS
            s.seccomp_load(prog, 0)
            libc = ctypes.CDLL(None, use_errno=True)

            def sc(nr: int, *a: int) -> int:
                return 0 if libc.syscall(nr, *a) >= 0 else ctypes.get_errno()

            got = [sc(250, 0, 0, 0, 0, 0), sc(435, 0, 0), sc(272, 0x10000000), sc(1000),
                   sc(41, 40, 1, 0), int(os.getpid() > 0)]
            os.write(w, " ".join(map(str, got)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    got = os.read(r, 100).decode()
    os.close(r)
    assert os.waitstatus_to_exitcode(status) == 0
    assert got == "1 38 1 38 1 1"  # keyctl, clone3, unshare(NEWUSER), unknown, vsock, getpid


def test_what_it_cannot_rebuild_is_left_alone() -> None:
    ldx = compact.encode([(LD_ABS_W, 0, 0, ARCH), (0x01, 0, 0, 0), (RET_K, 0, 0, ALLOW)])
    assert compact.compact(ldx) == ldx  # BPF_LDX: not what libseccomp writes
    tiny = compact.encode([(RET_K, 0, 0, ALLOW)])
    assert compact.compact(tiny) == tiny  # nothing shorter to make
    assert compact.compact(b"\x06\x00") == b"\x06\x00"  # not even whole instructions


def _chain(n: int) -> list[compact.Insn]:
    """x86_64 only; numbers 0..n-1 tested one by one, allowed and refused by pairs."""
    prog: list[compact.Insn] = [(LD_ABS_W, 0, 0, ARCH), (JEQ, 1, 0, X86_64), (RET_K, 0, 0, KILL),
                                (LD_ABS_W, 0, 0, NR)]
    for nr in range(n):
        prog += [(JEQ, 0, 1, nr), (RET_K, 0, 0, ALLOW if nr // 2 % 2 == 0 else EPERM)]
    return [*prog, (RET_K, 0, 0, ENOSYS)]


def test_a_result_that_differs_keeps_the_original(monkeypatch: pytest.MonkeyPatch) -> None:
    prog = _chain(100)
    real = compact._assemble

    def wrong(*a: object) -> list[compact.Insn]:
        out = real(*a)  # type: ignore[arg-type]
        i = out.index((RET_K, 0, 0, EPERM))
        return [*out[:i], (RET_K, 0, 0, ALLOW), *out[i + 1:]]

    assert compact.compact(compact.encode(prog)) != compact.encode(prog)
    monkeypatch.setattr(compact, "_assemble", wrong)
    assert compact.compact(compact.encode(prog)) == compact.encode(prog)


def test_far_branches_go_through_a_jump() -> None:
    """A tree whose left half is longer than a conditional jump reaches (255)."""
    runs = [(n, n, ("ret", ALLOW if n % 2 == 0 else EPERM)) for n in range(600)]
    runs[-1] = (599, 0xFFFFFFFF, ("ret", ENOSYS))
    out: list[compact.Insn] = [(LD_ABS_W, 0, 0, NR)]
    compact._tree(runs, X86_64, out, [])
    assert any(code == JA for code, *_ in out)
    assert all(jt <= 255 and jf <= 255 for code, jt, jf, _k in out if code == JGE)
    for nr in [*range(620), 0xFFFFFFFF]:
        want = ENOSYS if nr >= 599 else (ALLOW if nr % 2 == 0 else EPERM)
        assert run(out, X86_64, nr) == want, nr


def test_a_chain_becomes_a_tree_with_the_same_answers() -> None:
    prog = _chain(60)
    new = compact.decode(compact.compact(compact.encode(prog)))
    assert len(new) < len(prog) * 0.6
    for arch in (X86_64, I386):
        for nr in [*range(70), 0xFFFFFFFF]:
            assert run(new, arch, nr) == run(prog, arch, nr)


def test_the_interpreter_reads_seccomp_data_as_the_kernel_lays_it_out() -> None:
    # struct seccomp_data { int nr; u32 arch; u64 ip; u64 args[6]; }, little-endian
    prog = [(LD_ABS_W, 0, 0, 16 + 8 * 2 + 4), (compact.RET_A, 0, 0, 0)]
    assert run(prog, X86_64, 1, (0, 0, 7 << 32 | 5, 0, 0, 0)) == 7
    assert struct.calcsize("<IIQ6Q") == 64
