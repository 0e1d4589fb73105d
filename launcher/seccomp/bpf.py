"""An OCI ``linux.seccomp`` config as a BPF program: compiled once, loaded per start.

Where a container's program comes from, cheapest first (:func:`program`):

1. carried along: a config read back from a prepared entry (launcher's default
   profile for one set of capabilities: launcher.spec.security) brings the
   program it was stored with, used while the object is unchanged;
2. the cache (``security.cache_dir``), under a BLAKE2b digest of the config's
   JSON and ``security.compiler_tag`` (the machine, libseccomp's file identity,
   our compiler);
3. compiled with libseccomp (launcher.seccomp.libseccomp), re-laid out shorter
   (launcher.seccomp.compact: about half the instructions, which the kernel checks
   and JIT-compiles on every load), and cached.

The program goes to ``seccomp(SECCOMP_SET_MODE_FILTER)`` (the ``Syscalls`` seam's
``seccomp_load``) right before ``execve``; a start with a prepared entry does not
import this module.
"""

from __future__ import annotations

import os

from launcher.errors import ConfigError, UnsupportedError
from launcher.spec.security import carried_program, compiler_tag, keep_program

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.spec.model import Seccomp

ACTIONS = {"SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000,
           "SCMP_ACT_KILL_PROCESS": 0x80000000, "SCMP_ACT_TRAP": 0x00030000,
           "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000,
           "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000}
OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
       "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
SUBARCHES = {"x86_64": ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
             "aarch64": ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM")}
EPERM = 1


def action(name: str | None, errno_ret: int | None) -> int:
    """The ``SECCOMP_RET_*`` value of an OCI action (ERRNO defaults to EPERM)."""
    if name not in ACTIONS:
        raise ConfigError([f"linux.seccomp: unknown action {name!r}"])
    value = ACTIONS[name]
    if name == "SCMP_ACT_ERRNO":
        return value | ((EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    if name == "SCMP_ACT_TRACE":
        return value | ((errno_ret or 0) & 0xFFFF)
    return value


def program(sec: Seccomp, cache_dir: str | None) -> bytes:
    """The BPF program for ``sec``: the one it carries, else from the cache, else
    compiled (and cached)."""
    if sec.listener_path:
        raise UnsupportedError("seccomp notify (listenerPath) is not supported")
    data = carried_program(sec)
    if data is not None:
        return data
    data = _cached_or_compiled(sec, cache_dir)
    keep_program(sec, data)
    return data


def compile_bpf(sec: Seccomp) -> bytes:
    """Compile ``sec`` with libseccomp and make it shorter; ConfigError for what
    libseccomp refuses."""
    from launcher.seccomp.compact import compact
    from launcher.seccomp.libseccomp import compile_config

    return compact(compile_config(sec))


def _cached_or_compiled(sec: Seccomp, cache_dir: str | None) -> bytes:
    """The program from the cache, else compiled and written there."""
    from _blake2 import blake2b  # no OpenSSL to load, unlike hashlib (~1 ms)

    from launcher import fastjson

    key = blake2b(fastjson.dumps(sec.to_json()).encode()
                  + f"|{compiler_tag()}".encode()).hexdigest()
    path = os.path.join(cache_dir, f"{key}.bpf") if cache_dir else None
    if path is not None:
        try:
            with open(path, "rb") as f:
                data = f.read()
            if data and len(data) % 8 == 0:
                return data
        except FileNotFoundError:
            pass
    data = compile_bpf(sec)
    if path is not None and cache_dir is not None:
        from launcher.locks import make_private_dirs

        make_private_dirs(cache_dir)
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return data
