"""An OCI ``linux.seccomp`` config as a BPF program: compiled once, loaded per start.

Compiling goes through libseccomp (``libseccomp.so.2``, ctypes): the default
action, every architecture of the config (a 64-bit x86 host also gets the
x86 and x32 ABIs, so a 32-bit binary meets the same rules), each rule with its
argument conditions, exported as raw BPF. Names libseccomp does not know on
any architecture are skipped (an old libseccomp, a new syscall), as runc does;
a rule whose action is the default is left out.

The program is cached on disk (:func:`cache_dir`) under a BLAKE2b digest of
the config, libseccomp's version and the machine, so a container start only
reads a few kilobytes and hands them to ``seccomp(SECCOMP_SET_MODE_FILTER)``
(the ``Syscalls`` seam's ``seccomp_load``) right before ``execve``; libseccomp
is not even loaded then.
"""

from __future__ import annotations

import os

from launcher.errors import ConfigError, UnsupportedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from launcher.spec.model import Seccomp, Syscall

ACTIONS = {"SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000,
           "SCMP_ACT_KILL_PROCESS": 0x80000000, "SCMP_ACT_TRAP": 0x00030000,
           "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000,
           "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000}
OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
       "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2,
         "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4}
SUBARCHES = {"x86_64": ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
             "aarch64": ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM")}
EPERM = 1
_NR_SCMP_ERROR = -1
_ATTR_CTL_NNP = 3  # libseccomp must not set no_new_privs itself: the spec says
_ATTR_CTL_OPTIMIZE = 8  # 2: a binary tree of syscall numbers, not a linear chain
_EEXIST = 17


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


def flags(sec: Seccomp) -> int:
    """``seccomp(2)`` flags of the config's ``flags``."""
    bad = [f for f in sec.flags or [] if f not in FLAGS]
    if bad:
        raise ConfigError([f"linux.seccomp.flags: unknown flag {bad[0]!r}"])
    out = 0
    for f in sec.flags or []:
        out |= FLAGS[f]
    return out


def cache_dir() -> str:
    """Compiled programs, shared by every launcher root of this user (a program
    depends only on its config): ``/var/cache/launcher/seccomp`` for root, else
    under ``$XDG_CACHE_HOME`` (``~/.cache``)."""
    if os.geteuid() == 0:
        return "/var/cache/launcher/seccomp"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "launcher", "seccomp")


def program(sec: Seccomp, cache_dir: str | None) -> bytes:
    """The BPF program for ``sec``: from the cache, else compiled (and cached)."""
    from _blake2 import blake2b  # no OpenSSL to load, unlike hashlib (~1 ms)

    from launcher import fastjson

    if sec.listener_path:
        raise UnsupportedError("seccomp notify (listenerPath) is not supported")
    key = blake2b(fastjson.dumps(sec.to_json()).encode()
                  + f"|{os.uname().machine}|{_version_tag()}".encode()).hexdigest()
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


def _version_tag() -> str:
    """libseccomp's file identity (an upgrade compiles anew), without loading it."""
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
              "/usr/lib", "/lib"):
        path = os.path.join(d, "libseccomp.so.2")
        try:
            st = os.stat(path)
        except OSError:
            continue
        return f"{os.path.realpath(path)}:{st.st_size}"
    return "unknown"


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


def compile_bpf(sec: Seccomp) -> bytes:
    """Compile ``sec`` with libseccomp; ConfigError for what it refuses."""
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


EXEC_FILE = "seccomp.bpf"  # in a container's state directory: flags (4 bytes), program


def save_for_exec(state_dir: str, prog: bytes, flag_bits: int) -> None:
    """Keep a container's filter where ``exec`` finds it (launcher.backend.linux.execproc)."""
    fd = os.open(os.path.join(state_dir, EXEC_FILE),
                 os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(flag_bits.to_bytes(4, "little") + prog)


def load_for_exec(state_dir: str) -> tuple[bytes, int] | None:
    """The container's filter (program, flags), or None when it runs unconfined."""
    try:
        with open(os.path.join(state_dir, EXEC_FILE), "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    return data[4:], int.from_bytes(data[:4], "little")
