"""Docker's seccomp profile format, resolved into an OCI ``Seccomp`` for one container.

A Docker profile (``docker run --security-opt seccomp=FILE``) is a template whose
``syscalls`` entries may say when they apply. :func:`from_docker` keeps an entry when

* its ``includes`` all hold: every capability of ``caps`` is the container's, the
  host's architecture is among ``arches`` (when listed), the kernel is at least
  ``minKernel`` (when given); and
* none of its ``excludes`` holds: no capability of ``caps`` is the container's, the
  host is not among ``arches``, the kernel is older than ``minKernel``;

as moby's ``setupSeccomp`` does. ``arches`` names match the host itself only (on
x86_64: ``amd64``, ``x86_64`` or ``SCMP_ARCH_X86_64``), not its 32-bit
sub-architectures, again like Docker. The result's architectures are the profile's
``architectures`` as written, else its ``archMap`` entry for the host's native
architecture with that entry's sub-architectures, else the host's defaults
(x86_64: X86_64, X86, X32; aarch64: AARCH64, ARM).

Everything is checked before anything is resolved; a ``ConfigError`` lists every
problem, each naming its JSON path (``syscalls[3].action: unknown action "X"``).
"""

from __future__ import annotations

import os

from launcher import fastjson
from launcher.errors import ConfigError, NotFoundError, UnsupportedError, UsageError
from launcher.spec.caps import normalize_cap
from launcher.spec.model import Seccomp, Syscall, SyscallArg
from launcher.spec.validate import SECCOMP_ACTIONS, SECCOMP_OPS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, TypeGuard

NATIVE_ARCH = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}
SUB_ARCHES = {"x86_64": ("SCMP_ARCH_X86", "SCMP_ARCH_X32"), "aarch64": ("SCMP_ARCH_ARM",)}
# What an ``arches`` filter may call each host: Go's GOARCH (Docker's own
# profiles), uname's machine name, libseccomp's name.
HOST_ALIASES = {"x86_64": frozenset(("amd64", "x86_64", "SCMP_ARCH_X86_64")),
                "aarch64": frozenset(("arm64", "aarch64", "SCMP_ARCH_AARCH64"))}  # fmt: skip
SCMP_ARCHES = frozenset("SCMP_ARCH_" + n for n in (
    "X86", "X86_64", "X32", "ARM", "AARCH64", "LOONGARCH64", "M68K", "MIPS", "MIPS64",
    "MIPS64N32", "MIPSEL", "MIPSEL64", "MIPSEL64N32", "PPC", "PPC64", "PPC64LE", "S390",
    "S390X", "PARISC", "PARISC64", "RISCV64", "SH", "SHEB"))  # fmt: skip
# Every name an ``arches`` filter may use (a typo is an error, not a silent miss).
FILTER_ARCHES = SCMP_ARCHES | frozenset((
    "386", "amd64", "arm", "arm64", "loong64", "mips", "mipsle", "mips64", "mips64le",
    "mips64n32", "mips64n32le", "mips64p32", "mips64p32le", "ppc", "ppc64", "ppc64le",
    "riscv64", "s390", "s390x", "sparc", "sparc64", "x32", "x86", "x86_64", "aarch64",
    "i386", "i686", "loongarch64", "m68k", "parisc", "parisc64", "sh", "sheb"))  # fmt: skip
FLAGS = frozenset(("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                   "SECCOMP_FILTER_FLAG_SPEC_ALLOW"))  # fmt: skip
MAX_ERRNO = 4095  # the kernel caps SECCOMP_RET_ERRNO's data there
MAX_TRACE = 0xFFFF  # SECCOMP_RET_DATA
MAX_U64 = 2**64 - 1
MAX_PROFILE_BYTES = 4 << 20
MAX_SHOW = 80  # characters of a bad value quoted in an error message

# ``comment`` is Docker's; ``defaultErrno``/``errno`` are containers-common's
# spelled-out errno names (podman's seccomp.json): informational, ignored.
_TOP_KEYS = frozenset(("defaultAction", "defaultErrnoRet", "defaultErrno", "architectures",
                       "archMap", "syscalls", "flags", "listenerPath", "listenerMetadata",
                       "comment"))  # fmt: skip
_SYSCALL_KEYS = frozenset(("names", "name", "action", "errnoRet", "errno", "args", "includes",
                           "excludes", "comment"))  # fmt: skip
_ARG_KEYS = frozenset(("index", "value", "valueTwo", "op"))
_FILTER_KEYS = frozenset(("caps", "arches", "minKernel"))
_ARCHMAP_KEYS = frozenset(("architecture", "subArchitectures"))
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
_EXPECT = {str: "a string", int: "an integer", list: "a list", dict: "an object"}


def host_arch(machine: str | None = None) -> str:
    """``x86_64`` or ``aarch64`` for this host (``amd64``/``arm64`` spellings mapped);
    another machine's name comes back unchanged."""
    m = os.uname().machine if machine is None else machine
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(m, m)


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """(major, minor) of the running kernel: ``6.1.0-18-amd64`` → (6, 1)."""
    rel = os.uname().release if release is None else release
    nums = [0, 0]
    for i, part in enumerate(rel.split(".")[:2]):
        digits = ""
        for c in part:
            if not ("0" <= c <= "9"):
                break
            digits += c
        nums[i] = int(digits) if digits else 0
    return nums[0], nums[1]


class _Target:
    """The container a profile is resolved for."""

    __slots__ = ("aliases", "arch", "caps", "kernel")

    def __init__(self, caps: Iterable[str], arch: str, kernel: tuple[int, int]) -> None:
        self.caps = frozenset(_cap(c) for c in caps)
        self.arch = arch
        self.aliases = HOST_ALIASES[arch]
        self.kernel = kernel


def from_docker(doc: object, caps: Iterable[str], arch: str,
                kernel: tuple[int, int]) -> Seccomp:  # fmt: skip
    """The OCI seccomp config that Docker-format profile ``doc`` gives a container
    with capabilities ``caps`` on an ``arch`` host running kernel ``kernel``."""
    if arch not in NATIVE_ARCH:
        raise UnsupportedError(f"seccomp: no support for the {arch} architecture")
    if type(doc) is not dict:
        raise ConfigError(["(top level): expected an object"])
    target = _Target(caps, arch, kernel)
    out: list[str] = []
    _check_keys(doc, _TOP_KEYS, "", out)
    listener = _field(doc, "listenerPath", str, "", out)
    default_action, default_errno = _action(doc, "", ("defaultAction", "defaultErrnoRet"),
                                            listener, out)  # fmt: skip
    architectures = _architectures(doc, target, out)
    flags = _strings(doc, "flags", "", out)
    for i, flag in enumerate(flags or []):
        if flag not in FLAGS:
            out.append(f"flags[{i}]: unknown or unsupported flag {_show(flag)}")
    metadata = _field(doc, "listenerMetadata", str, "", out)
    rules: list[Syscall] = []
    for i, entry in enumerate(_field(doc, "syscalls", list, "", out) or []):
        rule = _entry(entry, f"syscalls[{i}]", target, listener, out)
        if rule is not None:
            rules.append(rule)
    if out:
        raise ConfigError(out)
    return Seccomp(default_action=default_action, default_errno_ret=default_errno,
                   architectures=architectures, flags=flags, listener_path=listener,
                   listener_metadata=metadata, syscalls=rules)  # fmt: skip


def load_file(path: str, caps: Iterable[str], arch: str, kernel: tuple[int, int]) -> Seccomp:
    """:func:`from_docker` of the profile file at ``path``; every error names the file."""
    where = f"seccomp profile {path}"
    try:
        # O_NONBLOCK: a FIFO must not hang us; it is refused below as not a regular file
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise NotFoundError(f"{where}: no such file") from None
    except OSError as exc:
        raise ConfigError([f"{where}: cannot open: {exc.strerror or exc}"]) from None
    if os.fstat(fd).st_mode & 0o170000 != 0o100000:  # S_ISREG without importing stat
        os.close(fd)
        raise ConfigError([f"{where}: not a regular file"])
    with open(fd, "rb") as f:
        data = f.read(MAX_PROFILE_BYTES + 1)
    if len(data) > MAX_PROFILE_BYTES:
        raise ConfigError([f"{where}: larger than {MAX_PROFILE_BYTES >> 20} MiB"])
    try:
        doc = fastjson.loads(data)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ConfigError([f"{where}: not valid JSON: {exc}"]) from None
    except RecursionError:
        raise ConfigError([f"{where}: not valid JSON: nested too deeply"]) from None
    try:
        return from_docker(doc, caps, arch, kernel)
    except ConfigError as exc:
        raise ConfigError([f"{where}: {p}" for p in exc.problems]) from None


# -- one syscalls entry ------------------------------------------------------------------------


def _entry(obj: Any, where: str, target: _Target, listener: str | None,
           out: list[str]) -> Syscall | None:  # fmt: skip
    """The OCI rule of one ``syscalls`` entry; None when it does not apply to ``target``."""
    if type(obj) is not dict:
        out.append(f"{where}: expected an object")
        return None
    _check_keys(obj, _SYSCALL_KEYS, where, out)
    names = _names(obj, where, out)
    action, errno = _action(obj, where, ("action", "errnoRet"), listener, out)
    args = _args(obj, where, out)
    inc_caps, inc_arches, inc_kernel = _filter(obj, "includes", where, out)
    exc_caps, exc_arches, exc_kernel = _filter(obj, "excludes", where, out)
    included = (all(c in target.caps for c in inc_caps)
                and (not inc_arches or any(a in target.aliases for a in inc_arches))
                and (inc_kernel is None or target.kernel >= inc_kernel))  # fmt: skip
    excluded = (any(c in target.caps for c in exc_caps)
                or any(a in target.aliases for a in exc_arches)
                or (exc_kernel is not None and target.kernel >= exc_kernel))  # fmt: skip
    if not included or excluded:
        return None
    return Syscall(names=names, action=action, errno_ret=errno, args=args or None)


def _names(obj: dict[str, Any], where: str, out: list[str]) -> list[str]:
    """``names``, or the old single ``name`` (Docker refuses both at once, as we do)."""
    if obj.get("name") is not None and obj.get("names"):
        out.append(f"{where}: use either name or names, not both")
    if not obj.get("names") and obj.get("name") is None:
        out.append(f"{where}.names: at least one name is required")
    names = _strings(obj, "names", where, out) or []
    name = _field(obj, "name", str, where, out)
    if name is not None:
        names.append(name)
    ok = _NAME_CHARS.issuperset
    if "" in names or not all(map(ok, names)):  # the fast path checks ~400 names at once
        listed = len(names) - (name is not None)
        for i, n in enumerate(names):
            if not n or not ok(n):
                at = f"{where}.names[{i}]" if i < listed else f"{where}.name"
                out.append(f"{at}: not a syscall name: {_show(n)}")
    return names


def _action(obj: dict[str, Any], where: str, keys: tuple[str, str], listener: str | None,
            out: list[str]) -> tuple[str | None, int | None]:  # fmt: skip
    """An action and its errno (``defaultAction``/``defaultErrnoRet`` or
    ``action``/``errnoRet``), checked together."""
    akey, ekey = keys
    action = obj.get(akey)
    if action is None:
        out.append(f"{_join(where, akey)}: required")
    elif not _known(action, SECCOMP_ACTIONS):
        out.append(f"{_join(where, akey)}: unknown action {_show(action)}")
    elif action == "SCMP_ACT_NOTIFY" and not listener:
        out.append(f"{_join(where, akey)}: SCMP_ACT_NOTIFY is not supported without "
                   "listenerPath")  # fmt: skip
    errno = _field(obj, ekey, int, where, out)
    if errno is not None and _known(action, SECCOMP_ACTIONS):
        limit = {"SCMP_ACT_ERRNO": MAX_ERRNO, "SCMP_ACT_TRACE": MAX_TRACE}.get(action)
        if limit is None:
            out.append(f"{_join(where, ekey)}: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE")
        elif not 0 <= errno <= limit:
            out.append(f"{_join(where, ekey)}: must be 0..{limit}, got {errno}")
    return (action if type(action) is str else None), errno


def _args(obj: dict[str, Any], where: str, out: list[str]) -> list[SyscallArg]:
    result: list[SyscallArg] = []
    for j, a in enumerate(_field(obj, "args", list, where, out) or []):
        at = f"{where}.args[{j}]"
        if type(a) is not dict:
            out.append(f"{at}: expected an object")
            continue
        _check_keys(a, _ARG_KEYS, at, out)
        index = a.get("index")
        if type(index) is not int or not 0 <= index <= 5:
            out.append(f"{at}.index: must be an integer 0..5, got {_show(index)}")
        op = a.get("op")
        if not _known(op, SECCOMP_OPS):
            out.append(f"{at}.op: unknown operator {_show(op)}")
        if a.get("value") is None:
            out.append(f"{at}.value: required")
        value, value_two = _u64(a, "value", at, out), _u64(a, "valueTwo", at, out)
        result.append(SyscallArg(index=index, value=value, value_two=value_two, op=op))
    return result


def _filter(obj: dict[str, Any], key: str, where: str,
            out: list[str]) -> tuple[list[str], list[str], tuple[int, int] | None]:  # fmt: skip
    """An ``includes``/``excludes`` object: (capabilities, arches, minKernel)."""
    at = f"{where}.{key}"
    spec = _field(obj, key, dict, where, out)
    if not spec:
        return [], [], None
    _check_keys(spec, _FILTER_KEYS, at, out)
    caps: list[str] = []
    for k, c in enumerate(_strings(spec, "caps", at, out) or []):
        try:
            caps.append(normalize_cap(c))
        except UsageError:
            out.append(f"{at}.caps[{k}]: unknown capability {_show(c)}")
    arches = _strings(spec, "arches", at, out) or []
    for k, a in enumerate(arches):
        if a not in FILTER_ARCHES:
            out.append(f"{at}.arches[{k}]: unknown architecture {_show(a)}")
    text = _field(spec, "minKernel", str, at, out)
    kernel = None
    if text is not None:
        parts = text.split(".")
        if len(parts) == 2 and all(p.isascii() and p.isdigit() for p in parts):
            kernel = (int(parts[0]), int(parts[1]))
        else:
            out.append(f'{at}.minKernel: expected "major.minor", got {_show(text)}')
    return caps, arches, kernel


# -- architectures ------------------------------------------------------------------------


def _architectures(doc: dict[str, Any], target: _Target, out: list[str]) -> list[str]:
    arches = _strings(doc, "architectures", "", out)
    amap = _field(doc, "archMap", list, "", out)
    if arches and amap:
        out.append("architectures: use either architectures or archMap, not both")
    for i, a in enumerate(arches or []):
        if a not in SCMP_ARCHES:
            out.append(f"architectures[{i}]: unknown architecture {_show(a)}")
    native = NATIVE_ARCH[target.arch]
    chosen: list[str] | None = None
    for i, entry in enumerate(amap or []):
        at = f"archMap[{i}]"
        if type(entry) is not dict:
            out.append(f"{at}: expected an object")
            continue
        _check_keys(entry, _ARCHMAP_KEYS, at, out)
        main = entry.get("architecture")
        if not _known(main, SCMP_ARCHES):
            out.append(f"{at}.architecture: unknown architecture {_show(main)}")
        subs = _strings(entry, "subArchitectures", at, out) or []
        for k, s in enumerate(subs):
            if s not in SCMP_ARCHES:
                out.append(f"{at}.subArchitectures[{k}]: unknown architecture {_show(s)}")
        if main == native and chosen is None:
            chosen = [native, *(s for s in subs if s != native)]
    if arches:
        return list(dict.fromkeys(arches))
    if amap:
        # Docker: an archMap without the host means the native architecture only
        return chosen or [native]
    return [native, *SUB_ARCHES[target.arch]]


# -- small helpers ----------------------------------------------------------------------


def _cap(name: str) -> str:
    """A container capability, leniently: ``sys_admin`` → ``CAP_SYS_ADMIN``."""
    upper = name.strip().upper()
    return upper if upper.startswith("CAP_") else "CAP_" + upper


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _known(value: Any, names: frozenset[str]) -> TypeGuard[str]:
    """``value in names`` for any JSON value (a list or object is unhashable)."""
    return type(value) is str and value in names


def _show(value: Any) -> str:
    """A value as JSON spells it: ``"SCMP_ACT_FOO"``, ``7``, ``null``; at most
    ~80 characters, as it goes into an error message."""
    try:
        text = str(fastjson.dumps(value))
    except (TypeError, ValueError):
        text = repr(value)
    except RecursionError:
        return "(a value nested too deeply to show)"
    return text if len(text) <= MAX_SHOW else text[: MAX_SHOW - 3] + "..."


def _check_keys(obj: dict[str, Any], known: frozenset[str], where: str, out: list[str]) -> None:
    for key in obj:
        if key not in known:
            out.append(f"{_join(where, str(key))}: unknown key")


def _field(obj: dict[str, Any], key: str, kind: type, where: str, out: list[str]) -> Any:
    """``obj[key]`` when of type ``kind`` (not bool for int); None when absent or null."""
    value = obj.get(key)
    if value is None or type(value) is kind:
        return value
    out.append(f"{_join(where, key)}: expected {_EXPECT[kind]}, got {_show(value)}")
    return None


def _strings(obj: dict[str, Any], key: str, where: str, out: list[str]) -> list[str] | None:
    items = _field(obj, key, list, where, out)
    if items is None:
        return None
    bad = [i for i, item in enumerate(items) if type(item) is not str]
    for i in bad:
        out.append(f"{_join(where, key)}[{i}]: expected a string, got {_show(items[i])}")
    return None if bad else list(items)


def _u64(obj: dict[str, Any], key: str, where: str, out: list[str]) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= MAX_U64:
        out.append(f"{where}.{key}: expected an unsigned 64-bit integer, got {_show(value)}")
        return None
    return value
