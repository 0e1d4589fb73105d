"""An OCI ``linux.seccomp`` config as a BPF program: compiled once, loaded per start.

Where a container's program comes from, cheapest first (:func:`program`):

1. carried along: a config read back from a *prepared entry* (launcher's default
   profile for one set of capabilities: launcher.spec.security.default_for) brings
   the program it was stored with, used while the object is unchanged;
2. the cache (:func:`cache_dir`), under a BLAKE2b digest of the config's JSON and
   :func:`compiler_tag` (the machine, libseccomp's file identity, our compiler);
3. compiled with libseccomp (launcher.seccomp.libseccomp), re-laid out shorter
   (launcher.seccomp.compact: about half the instructions, which the kernel checks
   and JIT-compiles on every load), and cached.

The program goes to ``seccomp(SECCOMP_SET_MODE_FILTER)`` (the ``Syscalls`` seam's
``seccomp_load``) right before ``execve``; a start with a prepared entry neither
loads libseccomp nor serializes or hashes the config.

A prepared entry, ``<cache_dir>/<name>.memo``, is::

    MAGIC (8 bytes) | payload length (8) | checksum (8) | payload
    payload = marshal of (key, the config as nested tuples, program or None)

It is used only when it is a regular file of ours that no one else may write,
its length, checksum and key match and its contents have the expected shape;
anything else is a miss: the caller rebuilds the config and rewrites the entry.
The checksum is ``hash()`` of the payload read as one integer: CPython hashes an
int as its value modulo the prime ``sys.hash_info.modulus`` (2**61 - 1), the
same in every process, unlike ``hash(bytes)``, and without loading ``zlib`` or
``_blake2`` (~0.3 ms each). It catches torn and damaged files; the cache
directory's 0700 keeps everyone else out.
"""

from __future__ import annotations

import marshal
import os

from launcher.errors import ConfigError, UnsupportedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeAlias

    from launcher.spec.model import Seccomp

    Frozen: TypeAlias = tuple[Any, ...]

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
    """Compiled programs and prepared entries, shared by every launcher root of
    this user (they depend only on the config and the host):
    ``/var/cache/launcher/seccomp`` for root, else under ``$XDG_CACHE_HOME``
    (``~/.cache``); made 0700."""
    if os.geteuid() == 0:
        return "/var/cache/launcher/seccomp"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "launcher", "seccomp")


def program(sec: Seccomp, cache_dir: str | None) -> bytes:
    """The BPF program for ``sec``: the one it carries, else from the cache, else
    compiled (and cached)."""
    if sec.listener_path:
        raise UnsupportedError("seccomp notify (listenerPath) is not supported")
    data = _carried_program(sec)
    if data is not None:
        return data
    data = _cached_or_compiled(sec, cache_dir)
    _keep_program(sec, data)
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


def compiler_tag() -> str:
    """What a compiled program depends on besides its config: the machine,
    libseccomp's file identity (an upgrade compiles anew; one ``stat``, the
    library is not loaded) and the sources that compile it."""
    here = os.path.dirname(os.path.abspath(__file__))
    parts = [os.uname().machine, *source_stamps(here, COMPILER_SOURCES), "libseccomp:none"]
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
              "/usr/lib", "/lib"):
        try:
            st = os.stat(os.path.join(d, "libseccomp.so.2"))
        except OSError:
            continue
        parts[-1] = f"{d}:{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
        break
    return "|".join(parts)


def source_stamps(directory: str, names: tuple[str, ...]) -> list[str]:
    """``name:mtime:size`` of each file: a changed source makes a new key."""
    out = []
    for name in names:
        try:
            st = os.stat(os.path.join(directory, name))
        except OSError:  # no source (a bytecode-only install): not part of the key then
            out.append(f"{name}:none")
            continue
        out.append(f"{name}:{st.st_mtime_ns}:{st.st_size}")
    return out


COMPILER_SOURCES = ("bpf.py", "libseccomp.py", "compact.py")


# -- prepared entries -------------------------------------------------------------------

MAGIC = b"LSECMEM" + bytes([marshal.version])
MAX_ENTRY_BYTES = 1 << 20
_HEADER = 24

# id(config) -> (config, its frozen form, entry path, key, program or None); the
# config itself is held, so its id is not reused while it is listed here
_CARRIED: dict[int, tuple[Seccomp, Frozen, str, str, bytes | None]] = {}
_CARRIED_MAX = 64  # a CLI starts one container; a long test run, many


def stable_hash(data: bytes) -> int:
    """``data`` as a little-endian integer modulo 2**61 - 1: the same in every
    process (see the module docstring)."""
    return hash(int.from_bytes(data, "little"))


def load_prepared(path: str, key: str) -> Seccomp | None:
    """The config of the entry at ``path``, made for ``key``, carrying its
    program; None when the entry is missing, not ours, damaged or for another key."""
    data = _read_own(path)
    if data is None or len(data) < _HEADER or data[:8] != MAGIC:
        return None
    payload = data[_HEADER:]
    if (int.from_bytes(data[8:16], "little") != len(payload)
            or int.from_bytes(data[16:24], "little") != stable_hash(payload)):  # fmt: skip
        return None
    try:
        stored_key, frozen, prog = marshal.loads(payload)
        if stored_key != key or not (prog is None or _is_program(prog)):
            return None
        sec = _thaw(frozen)
    except (ValueError, TypeError, EOFError, IndexError):
        return None
    _carry(sec, frozen, path, key, prog)
    return sec


def store_prepared(path: str, key: str, sec: Seccomp, prog: bytes | None = None) -> None:
    """Write ``sec`` (with its program, once known) as the entry at ``path`` for
    ``key``; from now on ``sec`` carries it. OSError when it cannot be written."""
    frozen = _freeze(sec)
    if frozen is None:
        return  # unknown keys: not worth a format of their own
    payload = marshal.dumps((key, frozen, prog))
    from launcher.locks import make_private_dirs

    make_private_dirs(os.path.dirname(path))
    tmp = f"{path}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW,
                 0o600)  # fmt: skip
    try:
        _write_all(fd, MAGIC + len(payload).to_bytes(8, "little")
                   + stable_hash(payload).to_bytes(8, "little") + payload)  # fmt: skip
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _carry(sec, frozen, path, key, prog)


def _carry(sec: Seccomp, frozen: Frozen, path: str, key: str, prog: bytes | None) -> None:
    if len(_CARRIED) >= _CARRIED_MAX:
        _CARRIED.clear()
    _CARRIED[id(sec)] = (sec, frozen, path, key, prog)


def _carried_program(sec: Seccomp) -> bytes | None:
    """The program of ``sec``'s entry, if it has one with a program and ``sec``
    still equals the config the entry holds."""
    entry = _CARRIED.get(id(sec))
    if entry is None or entry[0] is not sec or entry[4] is None:
        return None
    return entry[4] if _freeze(sec) == entry[1] else None


def _keep_program(sec: Seccomp, prog: bytes) -> None:
    """Add ``prog`` to ``sec``'s entry, if it has one still without a program and
    ``sec`` is unchanged, so that the next start finds the program there."""
    entry = _CARRIED.get(id(sec))
    if entry is None or entry[0] is not sec or entry[4] is not None:
        return
    if _freeze(sec) == entry[1]:
        try:
            store_prepared(entry[2], entry[3], sec, prog)
        except OSError:
            pass  # a cache: the next start reads the program from the BPF cache again


def _read_own(path: str) -> bytes | None:
    """The bytes of ``path`` if it is a regular file of ours that no one else may
    write, of a sane size; None otherwise (missing included)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (st.st_mode & 0o170000 != 0o100000 or st.st_uid != os.geteuid()
                or st.st_mode & 0o022 or st.st_size > MAX_ENTRY_BYTES):  # fmt: skip
            return None
        return os.read(fd, st.st_size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)


def _is_program(data: object) -> bool:
    return type(data) is bytes and len(data) > 0 and len(data) % 8 == 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _freeze(sec: Seccomp) -> Frozen | None:
    """``sec`` as nested tuples of plain values, each rule's names joined by
    commas (marshal reads one string much faster than ~400): marshal-able and
    compared in C. None when ``sec`` has what this form leaves out: unknown keys
    (``extra``), or a name that is empty or holds a comma (not a syscall name)."""
    if sec.extra:
        return None
    rules = []
    for r in sec.syscalls or ():
        if r.extra or any(a.extra for a in r.args or ()):
            return None
        names = None if r.names is None else _joined(r.names)
        if names is None and r.names is not None:
            return None
        args = None if r.args is None else tuple(
            (a.index, a.value, a.value_two, a.op) for a in r.args)
        rules.append((names, r.action, r.errno_ret, args))
    arches = None if sec.architectures is None else _joined(sec.architectures)
    flag_names = None if sec.flags is None else _joined(sec.flags)
    if (arches is None) != (sec.architectures is None) or (
            flag_names is None) != (sec.flags is None):  # fmt: skip
        return None
    return (sec.default_action, sec.default_errno_ret, arches, flag_names, sec.listener_path,
            sec.listener_metadata, None if sec.syscalls is None else tuple(rules))  # fmt: skip


def _thaw(frozen: Frozen) -> Seccomp:
    """The ``Seccomp`` of a frozen form; TypeError or ValueError for a malformed one.
    Objects are made with ``__new__`` and plain stores, not the keyword loop of
    ``Record.__init__``: ~60 of them per start."""
    from launcher.spec.model import Seccomp, Syscall, SyscallArg

    action_, errno, arches, flag_names, lpath, lmeta, rules = frozen
    syscalls = None
    if rules is not None:
        syscalls = []
        for names, act, eret, args in rules:
            r = Syscall.__new__(Syscall)
            r.names, r.action, r.errno_ret, r.args, r.extra = _split(names), act, eret, None, None
            if args is not None:
                r.args = []
                for index, value, value_two, op in args:
                    a = SyscallArg.__new__(SyscallArg)
                    a.index, a.value, a.value_two, a.op, a.extra = index, value, value_two, op, None
                    r.args.append(a)
            syscalls.append(r)
    sec = Seccomp.__new__(Seccomp)
    sec.default_action, sec.default_errno_ret = action_, errno
    sec.architectures, sec.flags = _split(arches), _split(flag_names)
    sec.listener_path, sec.listener_metadata = lpath, lmeta
    sec.syscalls, sec.extra = syscalls, None
    return sec


def _joined(items: list[str]) -> str | None:
    """``items`` joined by commas; None when that could not be split back."""
    if not items:
        return ""
    text = ",".join(items)
    return None if "" in items or text.count(",") != len(items) - 1 else text


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    if type(text) is not str:
        raise TypeError("expected a string")
    return text.split(",") if text else []


# -- exec -----------------------------------------------------------------------------

EXEC_FILE = "seccomp.bpf"  # in a container's state directory: flags (4 bytes), program


def save_for_exec(state_dir: str, prog: bytes, flag_bits: int) -> None:
    """Keep a container's filter where ``exec`` finds it (launcher.backend.linux.execproc)."""
    fd = os.open(os.path.join(state_dir, EXEC_FILE),
                 os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:  # plain os calls: this is on every start's path (~40 us less than a file object)
        _write_all(fd, flag_bits.to_bytes(4, "little") + prog)
    finally:
        os.close(fd)


def load_for_exec(state_dir: str) -> tuple[bytes, int] | None:
    """The container's filter (program, flags), or None when it runs unconfined."""
    try:
        with open(os.path.join(state_dir, EXEC_FILE), "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    return data[4:], int.from_bytes(data[:4], "little")
