"""Compiling an OCI ``linux.seccomp`` config with libseccomp (``libseccomp.so.2``, ctypes).

The default action, every architecture of the config (a 64-bit x86 host also
gets the x86 and x32 ABIs, so a 32-bit binary meets the same rules), each rule
with its argument conditions, exported as raw BPF. Names libseccomp does not
know on any architecture are skipped (an old libseccomp, a new syscall), as
runc does; a rule whose action is the default is left out. Only a cache miss
gets here (:func:`launcher.seccomp.bpf.compile_bpf`): a container start never
loads libseccomp.
"""

from __future__ import annotations

import os

from launcher.errors import ConfigError, UnsupportedError
from launcher.seccomp.bpf import OPS, SUBARCHES, action

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from launcher.spec.model import Seccomp, Syscall

_NR_SCMP_ERROR = -1
_ATTR_CTL_NNP = 3  # libseccomp must not set no_new_privs itself: the spec says
_ATTR_CTL_OPTIMIZE = 8  # 2: a binary tree of syscall numbers, not a linear chain
_EEXIST = 17


def _lib() -> Any:
    import ctypes

    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        raise UnsupportedError("seccomp needs libseccomp (apt-get install libseccomp2), or run "
                               "with --security-opt seccomp=unconfined") from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.c_void_p]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def compile_config(sec: Seccomp) -> bytes:
    """libseccomp's program for ``sec``; ConfigError for what it refuses."""
    lib = _lib()
    ctx = lib.seccomp_init(action(sec.default_action, sec.default_errno_ret))
    if not ctx:
        raise ConfigError(["linux.seccomp.defaultAction: libseccomp refuses it"])
    try:
        lib.seccomp_attr_set(ctx, _ATTR_CTL_NNP, 0)
        lib.seccomp_attr_set(ctx, _ATTR_CTL_OPTIMIZE, 2)  # libseccomp < 2.5: ignored
        _arches(lib, ctx, sec.architectures or list(SUBARCHES.get(os.uname().machine, ())))
        default = action(sec.default_action, sec.default_errno_ret)
        for i, rule in enumerate(sec.syscalls or []):
            _add_rule(lib, ctx, rule, default, f"linux.seccomp.syscalls[{i}]")
        return _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)


def _arches(lib: Any, ctx: Any, names: list[str]) -> None:
    for name in names:
        short = name.removeprefix("SCMP_ARCH_").lower().encode()
        token = lib.seccomp_arch_resolve_name(short)
        if token == 0:
            raise ConfigError([f"linux.seccomp.architectures: unknown architecture {name!r}"])
        rc = lib.seccomp_arch_add(ctx, token)
        if rc < 0 and rc != -_EEXIST:
            raise ConfigError([f"linux.seccomp.architectures: cannot add {name}: "
                               f"{os.strerror(-rc)}"])


def _add_rule(lib: Any, ctx: Any, rule: Syscall, default: int, where: str) -> None:
    import ctypes

    act = action(rule.action, rule.errno_ret)
    if act == default:
        return
    args = rule.args or []
    # struct scmp_arg_cmp { unsigned int arg; enum op; u64 datum_a, datum_b; }: three
    # 64-bit words each, arg and op sharing the first (little-endian hosts)
    arr = (ctypes.c_uint64 * (3 * max(1, len(args))))()
    for j, a in enumerate(args):
        if a.op not in OPS or a.index is None or not 0 <= a.index <= 5:
            raise ConfigError([f"{where}.args[{j}]: bad index or operator"])
        # MASKED_EQ: value is the mask, valueTwo the datum, in OCI as in libseccomp
        arr[3 * j] = a.index | (OPS[a.op] << 32)
        arr[3 * j + 1] = (a.value or 0) & 0xFFFFFFFFFFFFFFFF
        arr[3 * j + 2] = (a.value_two or 0) & 0xFFFFFFFFFFFFFFFF
    for name in rule.names or []:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr == _NR_SCMP_ERROR:
            continue  # unknown to this libseccomp on every architecture
        rc = lib.seccomp_rule_add_array(ctx, act, nr, len(args), ctypes.byref(arr))
        if rc < 0:
            raise ConfigError([f"{where}: libseccomp refuses the rule for {name}: "
                               f"{os.strerror(-rc)}"])


def _export(lib: Any, ctx: Any) -> bytes:
    fd = os.memfd_create("launcher-seccomp", os.MFD_CLOEXEC)
    try:
        rc = lib.seccomp_export_bpf(ctx, fd)
        if rc < 0:
            raise ConfigError([f"linux.seccomp: libseccomp cannot export the filter: "
                               f"{os.strerror(-rc)}"])
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)
