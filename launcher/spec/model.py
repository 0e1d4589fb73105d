"""The OCI runtime-spec config (v1.2, Linux) and state as typed records.

Key names and order follow runtime-spec's ``specs-go/config.go`` (v1.2, plus
``netDevices``/``memoryPolicy``/``intelRdt.schemata`` from 1.3); other
platforms' sections (solaris, windows, vm, zos, freebsd) pass through as raw
JSON, and unknown keys anywhere survive in each record's ``extra``. Every
field is optional here (``None`` = absent); :mod:`launcher.spec.validate`
says what a container needs. See :mod:`launcher.spec.record` for the rules.
"""

from __future__ import annotations

import os
import sys

from launcher import fastjson
from launcher.errors import ConfigError, NotFoundError
from launcher.spec.record import BOOL, INT, INTS, RAW, STR, STRMAP, STRS, ListOf, MapOf, Record
from launcher.spec.resources import (
    CPU as CPU,
)
from launcher.spec.resources import (  # re-exported: model is the one place to import from
    BlockIO as BlockIO,
)
from launcher.spec.resources import (
    DeviceRule as DeviceRule,
)
from launcher.spec.resources import (
    HugepageLimit as HugepageLimit,
)
from launcher.spec.resources import (
    InterfacePriority as InterfacePriority,
)
from launcher.spec.resources import (
    Memory as Memory,
)
from launcher.spec.resources import (
    Network as Network,
)
from launcher.spec.resources import (
    Pids as Pids,
)
from launcher.spec.resources import (
    Rdma as Rdma,
)
from launcher.spec.resources import (
    Resources as Resources,
)
from launcher.spec.resources import (
    ThrottleDevice as ThrottleDevice,
)
from launcher.spec.resources import (
    WeightDevice as WeightDevice,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar


# -- process ---------------------------------------------------------------------------------


class Box(Record):
    __slots__ = ("height", "width")
    FIELDS = (("height", INT), ("width", INT))
    height: int | None
    width: int | None


class User(Record):
    __slots__ = ("additional_gids", "gid", "uid", "umask", "username")
    FIELDS = (("uid", INT), ("gid", INT), ("umask", INT), ("additionalGids", INTS),
              ("username", STR))  # fmt: skip
    uid: int | None
    gid: int | None
    umask: int | None
    additional_gids: list[int] | None
    username: str | None


class Capabilities(Record):
    __slots__ = ("ambient", "bounding", "effective", "inheritable", "permitted")
    FIELDS = (("bounding", STRS), ("effective", STRS), ("inheritable", STRS),
              ("permitted", STRS), ("ambient", STRS))  # fmt: skip
    bounding: list[str] | None
    effective: list[str] | None
    inheritable: list[str] | None
    permitted: list[str] | None
    ambient: list[str] | None


class Rlimit(Record):
    __slots__ = ("hard", "soft", "type")
    FIELDS = (("type", STR), ("hard", INT), ("soft", INT))
    type: str | None
    hard: int | None
    soft: int | None


class Scheduler(Record):
    __slots__ = ("deadline", "flags", "nice", "period", "policy", "priority", "runtime")
    FIELDS = (("policy", STR), ("nice", INT), ("priority", INT), ("flags", STRS),
              ("runtime", INT), ("deadline", INT), ("period", INT))  # fmt: skip
    policy: str | None
    nice: int | None
    priority: int | None
    flags: list[str] | None
    runtime: int | None
    deadline: int | None
    period: int | None


class IOPriority(Record):
    __slots__ = ("class_", "priority")
    FIELDS = (("class", STR), ("priority", INT))
    RENAMES: ClassVar[dict[str, str]] = {"class": "class_"}  # a Python keyword
    class_: str | None
    priority: int | None


class CPUAffinity(Record):
    __slots__ = ("final", "initial")
    FIELDS = (("initial", STR), ("final", STR))
    initial: str | None
    final: str | None


class Process(Record):
    __slots__ = ("apparmor_profile", "args", "capabilities", "command_line", "console_size", "cwd",
                 "env", "exec_cpu_affinity", "io_priority", "no_new_privileges", "oom_score_adj",
                 "rlimits", "scheduler", "selinux_label", "terminal", "user")  # fmt: skip
    FIELDS = (("terminal", BOOL), ("consoleSize", Box), ("user", User), ("args", STRS),
              ("commandLine", STR), ("env", STRS), ("cwd", STR),
              ("capabilities", Capabilities), ("rlimits", ListOf(Rlimit)),
              ("noNewPrivileges", BOOL), ("apparmorProfile", STR), ("oomScoreAdj", INT),
              ("scheduler", Scheduler), ("selinuxLabel", STR), ("ioPriority", IOPriority),
              ("execCPUAffinity", CPUAffinity))  # fmt: skip
    terminal: bool | None
    console_size: Box | None
    user: User | None
    args: list[str] | None
    command_line: str | None
    env: list[str] | None
    cwd: str | None
    capabilities: Capabilities | None
    rlimits: list[Rlimit] | None
    no_new_privileges: bool | None
    apparmor_profile: str | None
    oom_score_adj: int | None
    scheduler: Scheduler | None
    selinux_label: str | None
    io_priority: IOPriority | None
    exec_cpu_affinity: CPUAffinity | None


# -- root, mounts, hooks ---------------------------------------------------------------------


class Root(Record):
    __slots__ = ("path", "readonly")
    FIELDS = (("path", STR), ("readonly", BOOL))
    path: str | None
    readonly: bool | None


class IDMapping(Record):
    __slots__ = ("container_id", "host_id", "size")
    FIELDS = (("containerID", INT), ("hostID", INT), ("size", INT))
    container_id: int | None
    host_id: int | None
    size: int | None


class Mount(Record):
    __slots__ = ("destination", "gid_mappings", "options", "source", "type", "uid_mappings")
    FIELDS = (("destination", STR), ("type", STR), ("source", STR), ("options", STRS),
              ("uidMappings", ListOf(IDMapping)), ("gidMappings", ListOf(IDMapping)))  # fmt: skip
    destination: str | None
    type: str | None
    source: str | None
    options: list[str] | None
    uid_mappings: list[IDMapping] | None
    gid_mappings: list[IDMapping] | None


class Hook(Record):
    __slots__ = ("args", "env", "path", "timeout")
    FIELDS = (("path", STR), ("args", STRS), ("env", STRS), ("timeout", INT))
    path: str | None
    args: list[str] | None
    env: list[str] | None
    timeout: int | None


class Hooks(Record):
    __slots__ = ("create_container", "create_runtime", "poststart", "poststop", "prestart",
                 "start_container")  # fmt: skip
    FIELDS = (("prestart", ListOf(Hook)), ("createRuntime", ListOf(Hook)),
              ("createContainer", ListOf(Hook)), ("startContainer", ListOf(Hook)),
              ("poststart", ListOf(Hook)), ("poststop", ListOf(Hook)))  # fmt: skip
    prestart: list[Hook] | None
    create_runtime: list[Hook] | None
    create_container: list[Hook] | None
    start_container: list[Hook] | None
    poststart: list[Hook] | None
    poststop: list[Hook] | None


# -- linux: the rest -------------------------------------------------------------------------


class Namespace(Record):
    __slots__ = ("path", "type")
    FIELDS = (("type", STR), ("path", STR))
    type: str | None
    path: str | None


class Device(Record):
    """One ``linux.devices`` node to create in the container."""

    __slots__ = ("file_mode", "gid", "major", "minor", "path", "type", "uid")
    FIELDS = (("path", STR), ("type", STR), ("major", INT), ("minor", INT), ("fileMode", INT),
              ("uid", INT), ("gid", INT))  # fmt: skip
    path: str | None
    type: str | None
    major: int | None
    minor: int | None
    file_mode: int | None
    uid: int | None
    gid: int | None


class NetDevice(Record):
    __slots__ = ("name",)
    FIELDS = (("name", STR),)
    name: str | None


class SyscallArg(Record):
    __slots__ = ("index", "op", "value", "value_two")
    FIELDS = (("index", INT), ("value", INT), ("valueTwo", INT), ("op", STR))
    index: int | None
    value: int | None
    value_two: int | None
    op: str | None


class Syscall(Record):
    __slots__ = ("action", "args", "errno_ret", "names")
    FIELDS = (("names", STRS), ("action", STR), ("errnoRet", INT), ("args", ListOf(SyscallArg)))
    names: list[str] | None
    action: str | None
    errno_ret: int | None
    args: list[SyscallArg] | None


class Seccomp(Record):
    __slots__ = ("architectures", "default_action", "default_errno_ret", "flags",
                 "listener_metadata", "listener_path", "syscalls")  # fmt: skip
    FIELDS = (("defaultAction", STR), ("defaultErrnoRet", INT), ("architectures", STRS),
              ("flags", STRS), ("listenerPath", STR), ("listenerMetadata", STR),
              ("syscalls", ListOf(Syscall)))  # fmt: skip
    default_action: str | None
    default_errno_ret: int | None
    architectures: list[str] | None
    flags: list[str] | None
    listener_path: str | None
    listener_metadata: str | None
    syscalls: list[Syscall] | None


class IntelRdt(Record):
    __slots__ = ("clos_id", "enable_cmt", "enable_mbm", "enable_monitoring", "l3_cache_schema",
                 "mem_bw_schema", "schemata")  # fmt: skip
    FIELDS = (("closID", STR), ("schemata", STRS), ("l3CacheSchema", STR),
              ("memBwSchema", STR), ("enableCMT", BOOL), ("enableMBM", BOOL),
              ("enableMonitoring", BOOL))  # fmt: skip
    clos_id: str | None
    schemata: list[str] | None
    l3_cache_schema: str | None
    mem_bw_schema: str | None
    enable_cmt: bool | None
    enable_mbm: bool | None
    enable_monitoring: bool | None


class MemoryPolicy(Record):
    __slots__ = ("flags", "mode", "nodes")
    FIELDS = (("mode", STR), ("nodes", STR), ("flags", STRS))
    mode: str | None
    nodes: str | None
    flags: list[str] | None


class Personality(Record):
    __slots__ = ("domain", "flags")
    FIELDS = (("domain", STR), ("flags", STRS))
    domain: str | None
    flags: list[str] | None


class TimeOffset(Record):
    __slots__ = ("nanosecs", "secs")
    FIELDS = (("secs", INT), ("nanosecs", INT))
    secs: int | None
    nanosecs: int | None


class Linux(Record):
    __slots__ = ("cgroups_path", "devices", "gid_mappings", "intel_rdt", "masked_paths",
                 "memory_policy", "mount_label", "namespaces", "net_devices", "personality",
                 "readonly_paths", "resources", "rootfs_propagation", "seccomp", "sysctl",
                 "time_offsets", "uid_mappings")  # fmt: skip
    FIELDS = (("uidMappings", ListOf(IDMapping)), ("gidMappings", ListOf(IDMapping)),
              ("sysctl", STRMAP), ("resources", Resources), ("cgroupsPath", STR),
              ("namespaces", ListOf(Namespace)), ("devices", ListOf(Device)),
              ("netDevices", MapOf(NetDevice)), ("seccomp", Seccomp),
              ("rootfsPropagation", STR), ("maskedPaths", STRS), ("readonlyPaths", STRS),
              ("mountLabel", STR), ("intelRdt", IntelRdt), ("memoryPolicy", MemoryPolicy),
              ("personality", Personality), ("timeOffsets", MapOf(TimeOffset)))  # fmt: skip
    uid_mappings: list[IDMapping] | None
    gid_mappings: list[IDMapping] | None
    sysctl: dict[str, str] | None
    resources: Resources | None
    cgroups_path: str | None
    namespaces: list[Namespace] | None
    devices: list[Device] | None
    net_devices: dict[str, NetDevice] | None
    seccomp: Seccomp | None
    rootfs_propagation: str | None
    masked_paths: list[str] | None
    readonly_paths: list[str] | None
    mount_label: str | None
    intel_rdt: IntelRdt | None
    memory_policy: MemoryPolicy | None
    personality: Personality | None
    time_offsets: dict[str, TimeOffset] | None


# -- the documents ---------------------------------------------------------------------------


class Spec(Record):
    """A whole ``config.json``."""

    __slots__ = ("annotations", "domainname", "freebsd", "hooks", "hostname", "linux", "mounts",
                 "oci_version", "process", "root", "solaris", "vm", "windows", "zos")  # fmt: skip
    FIELDS = (("ociVersion", STR), ("process", Process), ("root", Root), ("hostname", STR),
              ("domainname", STR), ("mounts", ListOf(Mount)), ("hooks", Hooks),
              ("annotations", STRMAP), ("linux", Linux), ("solaris", RAW), ("windows", RAW),
              ("vm", RAW), ("zos", RAW), ("freebsd", RAW))  # fmt: skip
    oci_version: str | None
    process: Process | None
    root: Root | None
    hostname: str | None
    domainname: str | None
    mounts: list[Mount] | None
    hooks: Hooks | None
    annotations: dict[str, str] | None
    linux: Linux | None
    solaris: Any
    windows: Any
    vm: Any
    zos: Any
    freebsd: Any


class State(Record):
    """The OCI ``state`` document (what ``runtime state <id>`` prints)."""

    __slots__ = ("annotations", "bundle", "id", "oci_version", "pid", "status")
    FIELDS = (("ociVersion", STR), ("id", STR), ("status", STR), ("pid", INT), ("bundle", STR),
              ("annotations", STRMAP))  # fmt: skip
    oci_version: str | None
    id: str | None
    status: str | None
    pid: int | None
    bundle: str | None
    annotations: dict[str, str] | None


# -- files -----------------------------------------------------------------------------------


def load_spec(path: str) -> Spec:
    """Read and parse a config.json; errors name the file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        obj = fastjson.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid JSON: nested too deeply") from None
    try:
        return Spec.from_json(obj)
    except ConfigError as exc:
        raise ConfigError([f"{path}: {p}" for p in exc.problems]) from None


def to_json_without_seccomp(spec: Spec) -> dict[str, Any]:
    """``spec.to_json()`` less ``linux.seccomp`` (a ``linux`` object is always
    there), without serializing the filter's rules only to drop them."""
    data = spec.to_json(without="linux")
    data["linux"] = spec.linux.to_json(without="seccomp") if spec.linux is not None else {}
    return data


def dump_spec(spec: Spec, path: str, mode: int = 0o600, durable: bool = True) -> None:
    """Write ``spec`` to ``path`` atomically: temp file, fsync, rename, fsync dir.

    ``durable=False`` skips the fsyncs (still atomic): for files that describe
    something a reboot ends anyway, such as a running container's bundle."""
    security = sys.modules.get("launcher.spec.security")  # loaded: a config may carry text
    text = security.dumps_spec(spec) if security is not None else None
    data = (text if text is not None else fastjson.dumps(spec.to_json())).encode()
    directory = os.path.dirname(path) or "."
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if not durable:
        return
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
