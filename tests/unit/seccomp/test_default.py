"""The default profile's decisions, as data: what each syscall gets, for which caps."""

from __future__ import annotations

import pytest

from launcher.seccomp.default import default_profile, docker_profile
from launcher.spec.caps import ALL, PODMAN_DEFAULT_CAPS
from launcher.spec.model import Seccomp, Syscall, SyscallArg

DEFAULT = PODMAN_DEFAULT_CAPS
ADMIN = (*PODMAN_DEFAULT_CAPS, "CAP_SYS_ADMIN")
ALLOW = ("SCMP_ACT_ALLOW", None)
EPERM = ("SCMP_ACT_ERRNO", 1)
ENOSYS = ("SCMP_ACT_ERRNO", 38)
U64 = 2**64 - 1


def _holds(arg: SyscallArg, args: tuple[int, ...]) -> bool:
    """One condition, as the kernel filter evaluates it on 64-bit arguments."""
    assert arg.index is not None and arg.value is not None
    x = args[arg.index] if arg.index < len(args) else 0
    v = arg.value
    return {"SCMP_CMP_EQ": x == v, "SCMP_CMP_NE": x != v, "SCMP_CMP_LT": x < v,
            "SCMP_CMP_LE": x <= v, "SCMP_CMP_GT": x > v, "SCMP_CMP_GE": x >= v,
            "SCMP_CMP_MASKED_EQ": x & v == (arg.value_two or 0)}[arg.op or ""]  # fmt: skip


def decide(sec: Seccomp, name: str, *args: int) -> tuple[str | None, int | None]:
    """The action for ``name(args)``; matching rules must agree (no overlaps)."""
    hits = {(r.action, r.errno_ret) for r in sec.syscalls or [] if name in (r.names or [])
            and all(_holds(a, args) for a in r.args or [])}  # fmt: skip
    assert len(hits) <= 1, f"{name}{args}: conflicting rules {hits}"
    return hits.pop() if hits else (sec.default_action, sec.default_errno_ret)


def _rules(sec: Seccomp, name: str) -> list[Syscall]:
    return [r for r in sec.syscalls or [] if name in (r.names or [])]


@pytest.fixture(scope="module")
def sec() -> Seccomp:
    return default_profile(DEFAULT, "x86_64", (6, 1))


def test_allowlist_with_enosys_default(sec: Seccomp) -> None:
    assert (sec.default_action, sec.default_errno_ret) == ENOSYS
    assert decide(sec, "no_such_syscall") == ENOSYS


@pytest.mark.parametrize("name", [
    "read", "write", "execve", "execveat", "openat", "openat2", "futex", "statx", "rseq",
    "getrandom", "memfd_create", "copy_file_range", "faccessat2", "close_range", "pidfd_open",
    "landlock_create_ruleset", "epoll_pwait2", "mmap2", "_llseek", "fstat64", "socketcall",
    "ipc", "clock_gettime64", "arch_prctl", "set_tid_address", "prctl", "chroot", "ptrace",
    "process_vm_readv", "kcmp",
])  # fmt: skip
def test_ordinary_syscalls_are_allowed(sec: Seccomp, name: str) -> None:
    assert decide(sec, name) == ALLOW


@pytest.mark.parametrize("name", [
    "unshare", "mount", "umount2", "setns", "pivot_root", "keyctl", "add_key", "request_key",
    "bpf", "perf_event_open", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "settimeofday", "clock_settime", "clock_adjtime", "acct", "iopl", "ioperm", "syslog",
    "open_by_handle_at", "name_to_handle_at", "userfaultfd", "mbind", "set_mempolicy",
    "move_pages", "swapon", "fsopen", "open_tree", "move_mount", "mount_setattr", "quotactl",
    "sethostname", "vm86", "_sysctl", "fanotify_init", "lookup_dcookie",
])  # fmt: skip
def test_dangerous_syscalls_get_eperm(sec: Seccomp, name: str) -> None:
    assert decide(sec, name) == EPERM


def test_clone_without_namespace_flags_only(sec: Seccomp) -> None:
    allow = [r for r in _rules(sec, "clone") if r.action == "SCMP_ACT_ALLOW"]
    assert len(allow) == 1 and allow[0].args == [
        SyscallArg(index=0, value=0x7E020000, value_two=0, op="SCMP_CMP_MASKED_EQ")]
    sigchld, thread = 17, 0x3D0F00  # fork(); pthread_create's flags
    assert decide(sec, "clone", sigchld) == ALLOW
    assert decide(sec, "clone", thread) == ALLOW
    for flag in (0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000):
        assert decide(sec, "clone", flag | sigchld) == EPERM
    assert decide(sec, "clone3") == ENOSYS


def test_cap_sys_admin_unlocks_namespaces() -> None:
    sec = default_profile(ADMIN, "x86_64", (6, 1))
    for name in ("mount", "umount2", "unshare", "setns", "pivot_root", "bpf", "clone3"):
        assert decide(sec, name) == ALLOW, name
    assert decide(sec, "clone", 0x7E020000) == ALLOW
    assert [r.args for r in _rules(sec, "clone")] == [None]
    assert decide(sec, "keyctl") == EPERM
    assert decide(sec, "io_uring_setup") == EPERM


@pytest.mark.parametrize(("cap", "names"), [
    ("CAP_BPF", ["bpf"]), ("CAP_PERFMON", ["perf_event_open"]), ("CAP_SYS_BOOT", ["reboot"]),
    ("CAP_SYS_MODULE", ["init_module", "finit_module", "delete_module"]),
    ("CAP_SYS_TIME", ["settimeofday", "clock_settime", "clock_adjtime"]),
    ("CAP_SYS_PACCT", ["acct"]), ("CAP_SYS_RAWIO", ["iopl", "ioperm"]), ("CAP_SYSLOG", ["syslog"]),
    ("CAP_DAC_READ_SEARCH", ["open_by_handle_at"]),
    ("CAP_SYS_NICE", ["mbind", "set_mempolicy", "get_mempolicy", "move_pages"]),
])  # fmt: skip
def test_capabilities_unlock_their_group(cap: str, names: list[str]) -> None:
    sec = default_profile((*DEFAULT, cap), "x86_64", (6, 1))
    for name in names:
        assert decide(sec, name) == ALLOW, name
    assert decide(sec, "mount") == EPERM


def test_ptrace_needs_cap_before_4_8() -> None:
    old = default_profile(DEFAULT, "x86_64", (4, 4))
    assert decide(old, "ptrace") == EPERM
    assert decide(old, "process_vm_writev") == EPERM
    traced = default_profile((*DEFAULT, "CAP_SYS_PTRACE"), "x86_64", (4, 4))
    assert decide(traced, "ptrace") == ALLOW


def test_socket_refuses_vsock_even_with_high_bits(sec: Seccomp) -> None:
    assert decide(sec, "socket", 40) == EPERM
    assert decide(sec, "socket", (1 << 32) | 40) == EPERM  # the kernel reads an int: AF_VSOCK
    assert decide(sec, "socket", (1 << 32) | 1) == ENOSYS
    for family in range(64):
        if family != 40:
            assert decide(sec, "socket", family) == ALLOW, family
    assert decide(sec, "socket", 64) == ENOSYS


def test_personality_only_harmless_values(sec: Seccomp) -> None:
    for persona in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF):
        assert decide(sec, "personality", persona) == ALLOW
    assert decide(sec, "personality", 0x0040000) == ENOSYS  # ADDR_NO_RANDOMIZE
    assert decide(sec, "personality", 0x1_0000_0000) == ENOSYS


def test_architectures() -> None:
    assert default_profile(DEFAULT, "x86_64", (6, 1)).architectures == [
        "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    arm = default_profile(DEFAULT, "aarch64", (6, 1))
    assert arm.architectures == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert decide(arm, "arch_prctl") == ENOSYS
    assert decide(arm, "set_tls") == ALLOW


def test_names_are_plausible_syscall_names() -> None:
    ok = set("abcdefghijklmnopqrstuvwxyz0123456789_")
    for rule in docker_profile()["syscalls"]:
        for name in rule["names"]:
            assert name and set(name) <= ok, name
        assert len(rule["names"]) == len(set(rule["names"])), rule["names"]


@pytest.mark.parametrize("kernel", [(4, 4), (6, 1)])
@pytest.mark.parametrize("extra", [(), ("CAP_SYS_ADMIN",), ("CAP_SYS_PTRACE",), ("CAP_BPF",),
                                   ("CAP_BPF", "CAP_SYS_ADMIN"), ALL])  # fmt: skip
def test_no_syscall_gets_two_unconditional_actions(extra: tuple[str, ...],
                                                   kernel: tuple[int, int]) -> None:  # fmt: skip
    """A name is never both allowed and EPERM for one container, and a name with an
    unconditional rule has no other rule (libseccomp would drop the conditions)."""
    sec = default_profile((*DEFAULT, *extra), "x86_64", kernel)
    plain: dict[str, tuple[str | None, int | None]] = {}
    conditional: set[str] = set()
    for rule in sec.syscalls or []:
        for name in rule.names or []:
            if rule.args:
                conditional.add(name)
            else:
                assert name not in plain, f"{name}: {plain[name]} and {rule.action}"
                plain[name] = (rule.action, rule.errno_ret)
    assert not conditional & plain.keys()


def test_default_profile_uses_the_host_when_not_told() -> None:
    sec = default_profile(DEFAULT)
    assert sec.architectures and sec.architectures[0].startswith("SCMP_ARCH_")
