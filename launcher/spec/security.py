"""``--security-opt``: the seccomp filter and no_new_privs of a container's spec.

Default: launcher's seccomp profile (launcher.seccomp.default, chosen for the
container's capabilities, as Docker's depends on them) and no_new_privs on.
``seccomp=unconfined`` leaves the filter out; ``seccomp=PROFILE.json`` reads a
profile in Docker's format; ``no-new-privileges=false`` lifts no_new_privs
(then the filter is loaded while init still holds CAP_SYS_ADMIN, as runc does).

The default is built once per set of capabilities and kept as a *prepared
entry*, ``<cache_dir>/<name>.memo`` (:func:`default_for`); a start reads it back
with the BPF program and the JSON text it was stored with, and the config object
*carries* both while it is unchanged:

* launcher.seccomp.bpf.program takes the carried program (no libseccomp, no
  hashing of the config);
* launcher.spec.model.dump_spec writes the carried JSON text into config.json
  instead of serializing ~10 KB of rules again (:func:`dumps_spec`).

All this lives here, in a module every start imports anyway: a start with the
default profile imports nothing from launcher.seccomp (~0.3 ms of imports).

An entry is::

    MAGIC (8 bytes) | payload length (8) | checksum (8) | payload
    payload = marshal of (key, the config as nested tuples, program or None, JSON text)

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

from launcher.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeAlias

    from launcher.spec.model import Linux, Process, Seccomp, Spec

    Frozen: TypeAlias = tuple[Any, ...]


def apply(process: Process, linux: Linux, opts: list[str]) -> None:
    """Set ``linux.seccomp`` and ``process.no_new_privileges`` from ``opts``
    (normalized ``key=value`` words, launcher.cli.convert.security_opt)."""
    seccomp = "default"
    for opt in opts:
        key, _, value = opt.partition("=")
        if key == "no-new-privileges":
            process.no_new_privileges = value != "false"
        elif key == "seccomp":
            seccomp = value
    if seccomp == "unconfined":
        linux.seccomp = None
        return
    caps = list(process.capabilities.bounding or []) if process.capabilities else []
    if seccomp == "default":
        linux.seccomp = default_for(caps)
        return
    from launcher.seccomp import profile

    linux.seccomp = profile.load_file(seccomp, caps, profile.host_arch(),
                                      profile.kernel_version())


def default_for(caps: list[str]) -> Seccomp:
    """launcher's default profile for ``caps``, memoized on disk with its program
    and JSON text (a prepared entry, see the module docstring): building it takes
    ~2 ms of imports and rule resolution, reading it back ~0.1 ms. The key holds
    the caps, the kernel's major.minor, the profile's sources, the entry's form
    and what the program depends on (the machine, libseccomp, the compiler)."""
    machine = os.uname().machine
    here = _SECCOMP_DIR
    kernel = ".".join(os.uname().release.split(".")[:2])
    wanted = sorted(caps)
    key = "|".join([*wanted, kernel, *source_stamps(here, SOURCES),
                    *format_stamps(), compiler_tag()])
    # one entry per install, machine and capability set: a new kernel or a
    # launcher upgrade overwrites it rather than adding one
    bucket = stable_hash("|".join([here, *wanted]).encode())
    path = os.path.join(cache_dir(), f"default-{machine}-{bucket:016x}.memo")
    sec = load_prepared(path, key)
    if sec is not None:
        return sec
    from launcher.seccomp.default import default_profile

    sec = default_profile(caps)
    try:
        store_prepared(path, key, sec)
    except OSError:
        pass  # a cache (read-only home, full disk): the next start builds it again
    return sec


SOURCES = ("default.py", "profile.py", "syscalls.py")  # what the default is made of
_HERE = os.path.dirname(os.path.abspath(__file__))
_SECCOMP_DIR = os.path.join(os.path.dirname(_HERE), "seccomp")


FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2,
         "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4}


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


def compiler_tag() -> str:
    """What a compiled program depends on besides its config: the machine,
    libseccomp's file identity (an upgrade compiles anew; one ``stat``, the
    library is not loaded) and the sources that compile it."""
    parts = [os.uname().machine, *source_stamps(_SECCOMP_DIR, COMPILER_SOURCES),
             "libseccomp:none"]
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


def format_stamps() -> list[str]:
    """What an entry's form and JSON text depend on besides the profile: this
    module, the spec model and the JSON encoder (an upgrade rewrites entries)."""
    return [*source_stamps(_HERE, ("security.py", "model.py", "record.py")),
            *source_stamps(os.path.dirname(_HERE), ("fastjson.py",))]


# -- prepared entries -------------------------------------------------------------------

MAGIC = b"LSECMEM" + bytes([marshal.version])
MAX_ENTRY_BYTES = 1 << 20
_HEADER = 24

# id(config) -> (config, its snapshot, entry path, key, program or None, JSON text);
# the config itself is held, so its id is not reused while it is listed here
_CARRIED: dict[int, tuple[Seccomp, Frozen, str, str, bytes | None, str]] = {}
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
        stored_key, frozen, prog, text = marshal.loads(payload)
        if stored_key != key or not (prog is None or _is_program(prog)) \
                or type(text) is not str:
            return None
        sec = _thaw(frozen)
    except (ValueError, TypeError, EOFError, IndexError):
        return None
    _carry(sec, path, key, prog, text)
    return sec


def store_prepared(path: str, key: str, sec: Seccomp, prog: bytes | None = None) -> None:
    """Write ``sec`` (with its program, once known) as the entry at ``path`` for
    ``key``; from now on ``sec`` carries it. OSError when it cannot be written."""
    frozen = _freeze(sec)
    if frozen is None:
        return  # unknown keys: not worth a format of their own
    from launcher import fastjson

    text = fastjson.dumps(sec.to_json())
    payload = marshal.dumps((key, frozen, prog, text))
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
    _carry(sec, path, key, prog, text)


def _carry(sec: Seccomp, path: str, key: str, prog: bytes | None, text: str) -> None:
    if len(_CARRIED) >= _CARRIED_MAX:
        _CARRIED.clear()
    _CARRIED[id(sec)] = (sec, _snapshot(sec), path, key, prog, text)


def _snapshot(sec: Seccomp) -> Frozen:
    """Everything of ``sec`` that its JSON and program depend on, copied into
    tuples: equal while ``sec`` is unchanged (~20 us; :func:`_freeze`, ~60)."""
    return (sec.default_action, sec.default_errno_ret, _tuple(sec.architectures),
            _tuple(sec.flags), sec.listener_path, sec.listener_metadata, sec.extra or None,
            None if sec.syscalls is None else tuple(
                (_tuple(r.names), r.action, r.errno_ret, r.extra or None,
                 None if r.args is None else tuple(
                     (a.index, a.value, a.value_two, a.op, a.extra or None) for a in r.args))
                for r in sec.syscalls))  # fmt: skip


def _tuple(items: list[str] | None) -> tuple[str, ...] | None:
    return None if items is None else tuple(items)


def carried_program(sec: Seccomp) -> bytes | None:
    """The program of ``sec``'s entry, if it has one with a program and ``sec``
    still equals the config the entry holds."""
    entry = _CARRIED.get(id(sec))
    if entry is None or entry[0] is not sec or entry[4] is None:
        return None
    return entry[4] if _snapshot(sec) == entry[1] else None


def keep_program(sec: Seccomp, prog: bytes) -> None:
    """Add ``prog`` to ``sec``'s entry, if it has one still without a program and
    ``sec`` is unchanged, so that the next start finds the program there."""
    entry = _CARRIED.get(id(sec))
    if entry is None or entry[0] is not sec or entry[4] is not None:
        return
    if _snapshot(sec) == entry[1]:
        try:
            store_prepared(entry[2], entry[3], sec, prog)
        except OSError:
            pass  # a cache: the next start reads the program from the BPF cache again


def json_text(sec: Seccomp) -> str | None:
    """``fastjson.dumps(sec.to_json())`` as stored with ``sec``'s entry, if it
    has one and ``sec`` still equals the config the entry holds."""
    entry = _CARRIED.get(id(sec))
    if entry is None or entry[0] is not sec:
        return None
    return entry[5] if _snapshot(sec) == entry[1] else None


def dumps_spec(spec: Spec) -> str | None:
    """``fastjson.dumps(spec.to_json())`` with a carried seccomp config's stored
    text in place of serializing it again (~0.15 ms); None when the spec's
    config carries none. A random placeholder marks the spot, so no string of
    the spec can be taken for it."""
    linux = spec.linux
    sec = linux.seccomp if linux is not None else None
    text = json_text(sec) if sec is not None else None
    if text is None:
        return None
    from launcher import fastjson
    from launcher.spec.model import to_json_without_seccomp  # loaded: spec is a Spec

    data = to_json_without_seccomp(spec)
    mark = os.urandom(16).hex()
    data["linux"]["seccomp"] = mark
    out = fastjson.dumps(data)
    quoted = f'"{mark}"'
    return out.replace(quoted, text) if out.count(quoted) == 1 else None


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
