"""launcher's default seccomp profile: an allowlist as strict as Docker's and podman's.

An unknown syscall fails with ENOSYS (38), as on a kernel too old to have it, so
libc falls back (``clone3`` → ``clone``, ``faccessat2`` → ``faccessat``); a
dangerous one fails with EPERM, what an unprivileged caller expects; a group a
capability unlocks is allowed when the container holds that capability (the
tables are in :mod:`launcher.seccomp.syscalls`). The profile is a Docker-format
document (:func:`docker_profile`, the shape ``--security-opt seccomp=FILE`` takes)
resolved for one container by :func:`launcher.seccomp.profile.from_docker`.

Rules on arguments (all lifted by CAP_SYS_ADMIN for clone/clone3 only):

* ``clone``: allowed when its flags carry no ``CLONE_NEW*`` bit, EPERM with one.
  ``clone3`` passes its flags in memory, which seccomp cannot read: ENOSYS, so
  glibc falls back to ``clone``, whose flags are checked.
* ``socket``: every family but AF_VSOCK (40, host services), which is EPERM. The
  kernel reads the family as an ``int``, so Docker's ``arg0 != 40`` lets
  ``0x1_0000_0028`` through and still opens AF_VSOCK. Here families 0..63 but 40
  are matched with masks over all 64 bits; any other value fails.
* ``personality``: only the harmless personas.
"""

from __future__ import annotations

from launcher.seccomp.profile import (
    NATIVE_ARCH,
    SUB_ARCHES,
    from_docker,
    host_arch,
    kernel_version,
)
from launcher.seccomp.syscalls import (
    ALLOWED,
    BY_ARCH,
    GATED,
    NEVER,
    PTRACE,
    PTRACE_MIN_KERNEL,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

    from launcher.spec.model import Seccomp

ALLOW = "SCMP_ACT_ALLOW"
ERRNO = "SCMP_ACT_ERRNO"
EPERM = 1
ENOSYS = 38
MASKED_EQ = "SCMP_CMP_MASKED_EQ"
U64 = 2**64 - 1

# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
CLONE_NEW_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                   0x40000000)  # fmt: skip
CLONE_NEW_MASK = 0x7E020000
AF_VSOCK = 40
# (mask, value) pairs over all 64 bits whose union is families 0..63 without 40:
# 0-31, 32-39, 41, 42-43, 44-47, 48-63.
SOCKET_FAMILIES = ((U64 ^ 31, 0), (U64 ^ 7, 32), (U64, 41), (U64 ^ 1, 42), (U64 ^ 3, 44),
                   (U64 ^ 15, 48))  # fmt: skip
# PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and 0xffffffff (a query)
PERSONAS = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)


def default_profile(caps: Iterable[str], arch: str | None = None,
                    kernel: tuple[int, int] | None = None) -> Seccomp:  # fmt: skip
    """The default OCI seccomp config for a container holding ``caps`` (CAP_* names),
    on ``arch`` (default: this host) and ``kernel`` (default: the running one)."""
    return from_docker(docker_profile(), caps, host_arch() if arch is None else arch,
                       kernel_version() if kernel is None else kernel)  # fmt: skip


def docker_profile() -> dict[str, Any]:
    """The default profile as a Docker-format document (a fresh one each call)."""
    rules = [_rule(ALLOWED, ALLOW)]
    for arches, names in BY_ARCH:
        rules.append(_rule(names, ALLOW, includes={"arches": list(arches)}))
    for caps, names in GATED:
        rules.extend(_gated(names, caps))
    rules.extend(_ptrace_rules())
    rules.append(_rule(NEVER, ERRNO, EPERM))
    rules.extend(_clone_rules())
    rules.extend(_socket_rules())
    rules.extend(_rule(("personality",), ALLOW, args=[_arg(0, p, op="SCMP_CMP_EQ")])
                 for p in PERSONAS)  # fmt: skip
    return {
        "defaultAction": ERRNO,
        "defaultErrnoRet": ENOSYS,
        "archMap": [{"architecture": arch, "subArchitectures": list(SUB_ARCHES[host])}
                    for host, arch in NATIVE_ARCH.items()],
        "syscalls": rules,
    }


def _rule(names: Sequence[str], action: str, errno: int | None = None,
          args: list[dict[str, Any]] | None = None, includes: dict[str, Any] | None = None,
          excludes: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    rule: dict[str, Any] = {"names": list(names), "action": action}
    if errno is not None:
        rule["errnoRet"] = errno
    if args:
        rule["args"] = args
    if includes:
        rule["includes"] = includes
    if excludes:
        rule["excludes"] = excludes
    return rule


def _arg(index: int, value: int, value_two: int | None = None, op: str = MASKED_EQ,
         ) -> dict[str, Any]:  # fmt: skip
    """One argument condition; for MASKED_EQ ``value`` is the mask, ``value_two`` the datum."""
    arg: dict[str, Any] = {"index": index, "value": value, "op": op}
    if value_two is not None:
        arg["valueTwo"] = value_two
    return arg


def _gated(names: Sequence[str], caps: Sequence[str]) -> list[dict[str, Any]]:
    """Allowed with any of ``caps``, EPERM without. Each allow rule excludes the caps
    before it, so the rules never overlap (one rule per syscall and container)."""
    rules = [_rule(names, ALLOW, includes={"caps": [cap]},
                   excludes={"caps": list(caps[:i])} if i else None)
             for i, cap in enumerate(caps)]  # fmt: skip
    rules.append(_rule(names, ERRNO, EPERM, excludes={"caps": list(caps)}))
    return rules


def _ptrace_rules() -> list[dict[str, Any]]:
    since = {"minKernel": PTRACE_MIN_KERNEL}
    return [
        _rule(PTRACE, ALLOW, includes=since),
        _rule(PTRACE, ALLOW, includes={"caps": ["CAP_SYS_PTRACE"]}, excludes=since),
        _rule(PTRACE, ERRNO, EPERM, excludes={"caps": ["CAP_SYS_PTRACE"], **since}),
    ]


def _clone_rules() -> list[dict[str, Any]]:
    admin = {"caps": ["CAP_SYS_ADMIN"]}
    rules = [_rule(("clone",), ALLOW, args=[_arg(0, CLONE_NEW_MASK, 0)], excludes=admin)]
    # one rule per flag: conditions within a rule are ANDed, these must be ORed
    rules.extend(_rule(("clone",), ERRNO, EPERM, args=[_arg(0, flag, flag)], excludes=admin)
                 for flag in CLONE_NEW_FLAGS)  # fmt: skip
    rules.append(_rule(("clone3",), ERRNO, ENOSYS, excludes=admin))
    rules.append(_rule(("clone", "clone3"), ALLOW, includes=admin))
    return rules


def _socket_rules() -> list[dict[str, Any]]:
    rules = [_rule(("socket",), ALLOW, args=[_arg(0, mask, value)])
             for mask, value in SOCKET_FAMILIES]  # fmt: skip
    # the low 32 bits only: what the kernel reads
    rules.append(_rule(("socket",), ERRNO, EPERM, args=[_arg(0, 0xFFFFFFFF, AF_VSOCK)]))
    return rules
