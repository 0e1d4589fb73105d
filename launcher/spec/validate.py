"""Is this Spec something we can create a container from? A list of small checks.

Each ``check_*(spec, ctx)`` yields problem strings that name the field;
:func:`problems` runs them all in order (no early exit: the user sees every
problem at once) and :func:`validate` raises ``ConfigError`` with the list.
The rules follow the runtime-spec and what runc's validator learned the hard
way, notably that /proc/sys is only partly namespaced (:func:`check_sysctl`).
Validation is for ``create``: a process with arguments is required.
"""

from __future__ import annotations

import os

from launcher.errors import ConfigError
from launcher.spec.caps import NUMBERS as _CAP_NUMBERS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from launcher.spec.model import IDMapping, Spec

NAMESPACE_TYPES = frozenset(("mount", "pid", "network", "uts", "ipc", "user", "cgroup", "time"))
RLIMITS = frozenset("RLIMIT_" + n for n in (
    "AS", "CORE", "CPU", "DATA", "FSIZE", "LOCKS", "MEMLOCK", "MSGQUEUE", "NICE", "NOFILE",
    "NPROC", "RSS", "RTPRIO", "RTTIME", "SIGPENDING", "STACK"))  # fmt: skip
PROPAGATIONS = frozenset(("private", "rprivate", "slave", "rslave", "shared", "rshared",
                          "unbindable", "runbindable"))  # fmt: skip
DEVICE_TYPES = frozenset("cbup")
SECCOMP_ACTIONS = frozenset("SCMP_ACT_" + n for n in (
    "KILL", "KILL_PROCESS", "KILL_THREAD", "TRAP", "ERRNO", "TRACE", "ALLOW", "LOG",
    "NOTIFY"))  # fmt: skip
SECCOMP_OPS = frozenset("SCMP_CMP_" + n for n in ("NE", "LT", "LE", "EQ", "GE", "GT", "MASKED_EQ"))
SCHED_POLICIES = frozenset("SCHED_" + n for n in (
    "OTHER", "FIFO", "RR", "BATCH", "ISO", "IDLE", "DEADLINE"))  # fmt: skip
IOPRIO_CLASSES = frozenset(("IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"))
# Sysctls isolated by the IPC namespace (besides the fs.mqueue.* family).
IPC_SYSCTLS = frozenset(("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                         "kernel.shmall", "kernel.shmmax", "kernel.shmmni",
                         "kernel.shm_rmid_forced"))  # fmt: skip
MAX_U32 = 2**32 - 1
MAX_U64 = 2**64 - 1


class Context:
    """What every check may want: the bundle dir and the namespaces, read once."""

    __slots__ = ("bundle", "namespaces")

    def __init__(self, spec: Spec, bundle: str | None = None) -> None:
        self.bundle = bundle
        # type -> path ("" = a new namespace); the first entry of a type wins.
        self.namespaces: dict[str, str] = {}
        linux = spec.linux
        for ns in (linux.namespaces or []) if linux else []:
            if ns.type is not None:
                self.namespaces.setdefault(ns.type, ns.path or "")

    def new(self, ns_type: str) -> bool:
        """Does the container get a *new* namespace of this type?"""
        return self.namespaces.get(ns_type) == ""


def _abs(path: str | None) -> bool:
    """An absolute path that the OS can take (no NUL: os calls raise ValueError on it)."""
    return path is not None and path.startswith("/") and "\0" not in path


def check_version(spec: Spec, ctx: Context) -> Iterator[str]:
    v = spec.oci_version
    if not v:
        yield "ociVersion: required"
    elif not (v.startswith("1.") and v[2:].split(".")[0].isdigit()):
        yield f"ociVersion: unsupported version {v!r} (need 1.x)"


def check_root(spec: Spec, ctx: Context) -> Iterator[str]:
    if spec.root is None or not spec.root.path:
        yield "root.path: required"
        return
    if ctx.bundle is not None:
        path = os.path.join(ctx.bundle, spec.root.path)
        if not os.path.isdir(path):
            yield f"root.path: {path} is not a directory"


def check_process(spec: Spec, ctx: Context) -> Iterator[str]:
    p = spec.process
    if p is None:
        return  # allowed at create; `start` then fails (runtime-spec, runtime.md#start)
    if not p.args:
        yield "process.args: at least one argument is required"
    if p.cwd is None:
        yield "process.cwd: required"
    elif not _abs(p.cwd):
        yield f"process.cwd: must be an absolute path, got {p.cwd!r}"
    for i, entry in enumerate(p.env or []):
        if "=" not in entry or entry.startswith("=") or "\0" in entry:
            yield f"process.env[{i}]: {entry!r} is not KEY=VALUE"
    if p.oom_score_adj is not None and not -1000 <= p.oom_score_adj <= 1000:
        yield f"process.oomScoreAdj: {p.oom_score_adj} is outside -1000..1000"


def check_user(spec: Spec, ctx: Context) -> Iterator[str]:
    user = spec.process.user if spec.process else None
    if user is None:
        return
    ids = [("uid", user.uid), ("gid", user.gid)]
    ids += [(f"additionalGids[{i}]", g) for i, g in enumerate(user.additional_gids or [])]
    for name, value in ids:
        if value is not None and not 0 <= value <= MAX_U32:
            yield f"process.user.{name}: {value} is not an unsigned 32-bit id"
    if user.umask is not None and not 0 <= user.umask <= 0o7777:
        yield f"process.user.umask: {user.umask:#o} is not a file mode mask"


def check_capabilities(spec: Spec, ctx: Context) -> Iterator[str]:
    caps = spec.process.capabilities if spec.process else None
    if caps is None:
        return
    for name in ("bounding", "effective", "inheritable", "permitted", "ambient"):
        for cap in getattr(caps, name) or []:
            if cap not in _CAP_NUMBERS:
                yield f"process.capabilities.{name}: unknown capability {cap!r}"


def check_rlimits(spec: Spec, ctx: Context) -> Iterator[str]:
    seen: set[str] = set()
    for i, r in enumerate((spec.process.rlimits or []) if spec.process else []):
        where = f"process.rlimits[{i}]"
        if r.type not in RLIMITS:
            yield f"{where}.type: unknown rlimit {r.type!r}"
        elif r.type in seen:
            yield f"{where}.type: duplicate rlimit {r.type}"
        seen.add(r.type or "")
        if r.soft is None or r.hard is None:
            yield f"{where}: soft and hard are required"
        elif not (0 <= r.soft <= MAX_U64 and 0 <= r.hard <= MAX_U64):
            yield f"{where}: soft and hard must be unsigned 64-bit values"
        elif r.soft > r.hard:
            yield f"{where}: soft limit {r.soft} is above the hard limit {r.hard}"


def check_scheduling(spec: Spec, ctx: Context) -> Iterator[str]:
    p = spec.process
    s = p.scheduler if p else None
    if s is not None:
        if s.policy not in SCHED_POLICIES:
            yield f"process.scheduler.policy: unknown policy {s.policy!r}"
        if s.nice is not None and not -20 <= s.nice <= 19:
            yield f"process.scheduler.nice: {s.nice} is outside -20..19"
        if s.priority and s.policy not in ("SCHED_FIFO", "SCHED_RR"):
            yield "process.scheduler.priority: only for SCHED_FIFO and SCHED_RR"
        if (s.runtime or s.deadline or s.period) and s.policy != "SCHED_DEADLINE":
            yield "process.scheduler: runtime/deadline/period only for SCHED_DEADLINE"
    io = p.io_priority if p else None
    if io is not None:
        if io.class_ not in IOPRIO_CLASSES:
            yield f"process.ioPriority.class: unknown class {io.class_!r}"
        if io.priority is None or not 0 <= io.priority <= 7:
            yield f"process.ioPriority.priority: {io.priority} is outside 0..7"


def check_mounts(spec: Spec, ctx: Context) -> Iterator[str]:
    for i, m in enumerate(spec.mounts or []):
        if not _abs(m.destination):
            yield f"mounts[{i}].destination: must be an absolute path, got {m.destination!r}"
        maps = [("uidMappings", m.uid_mappings), ("gidMappings", m.gid_mappings)]
        for name, mappings in maps:
            yield from _id_mapping_problems(f"mounts[{i}].{name}", mappings)


_HOOKS = (("prestart", "prestart"), ("createRuntime", "create_runtime"),
          ("createContainer", "create_container"), ("startContainer", "start_container"),
          ("poststart", "poststart"), ("poststop", "poststop"))  # fmt: skip


def check_hooks(spec: Spec, ctx: Context) -> Iterator[str]:
    hooks = spec.hooks
    if hooks is None:
        return
    for key, attr in _HOOKS:
        for i, hook in enumerate(getattr(hooks, attr) or []):
            if not _abs(hook.path):
                yield f"hooks.{key}[{i}].path: must be an absolute path, got {hook.path!r}"
            if hook.timeout is not None and hook.timeout < 1:
                yield f"hooks.{key}[{i}].timeout: must be at least 1 second"


def check_namespaces(spec: Spec, ctx: Context) -> Iterator[str]:
    seen: set[str] = set()
    for i, ns in enumerate((spec.linux.namespaces or []) if spec.linux else []):
        if ns.type not in NAMESPACE_TYPES:
            yield f"linux.namespaces[{i}].type: unknown namespace type {ns.type!r}"
        elif ns.type in seen:
            yield f"linux.namespaces[{i}].type: duplicate namespace {ns.type!r}"
        seen.add(ns.type or "")
        if ns.path is not None and not _abs(ns.path):
            yield f"linux.namespaces[{i}].path: must be an absolute path, got {ns.path!r}"


def check_user_namespace(spec: Spec, ctx: Context) -> Iterator[str]:
    linux = spec.linux
    uid_maps = linux.uid_mappings if linux else None
    gid_maps = linux.gid_mappings if linux else None
    if ctx.new("user"):
        if not uid_maps or not gid_maps:
            yield "linux.uidMappings/gidMappings: a new user namespace needs both mappings"
    elif uid_maps or gid_maps:
        joined = "user" in ctx.namespaces
        yield ("linux.uidMappings/gidMappings: not allowed when joining a user namespace"
               if joined else "linux.uidMappings/gidMappings: need a user namespace")  # fmt: skip
    yield from _id_mapping_problems("linux.uidMappings", uid_maps)
    yield from _id_mapping_problems("linux.gidMappings", gid_maps)


def _id_mapping_problems(where: str, mappings: list[IDMapping] | None) -> Iterator[str]:
    for i, m in enumerate(mappings or []):
        inside, outside, size = m.container_id, m.host_id, m.size
        if inside is None or outside is None or size is None:
            yield f"{where}[{i}]: containerID, hostID and size are required"
        elif not (0 <= inside <= MAX_U32 and 0 <= outside <= MAX_U32 and 0 <= size <= MAX_U32):
            yield f"{where}[{i}]: ids and size must be unsigned 32-bit values"
        elif size == 0:
            yield f"{where}[{i}].size: must be greater than 0"
        elif max(inside, outside) + size - 1 > MAX_U32:
            yield f"{where}[{i}]: range runs past the largest id"


def check_uts(spec: Spec, ctx: Context) -> Iterator[str]:
    for key, value in (("hostname", spec.hostname), ("domainname", spec.domainname)):
        if value and "uts" not in ctx.namespaces:
            yield f"{key}: setting it needs its own UTS namespace (a new or a joined one)"
        if value and (len(value) > 64 or "/" in value or "\0" in value):
            yield f"{key}: {value!r} is not a valid name"


def _dotted(key: str) -> str:
    """sysctl(8) also accepts '/' separators; then '.' stands for '/' (``eth0.100``)."""
    first = min((i for i in (key.find("."), key.find("/")) if i >= 0), default=-1)
    if first < 0 or key[first] == ".":
        return key
    return key.translate(str.maketrans("./", "/."))


def _is_host_netns(path: str) -> bool:
    a, b = os.stat("/proc/self/ns/net"), os.stat(path)
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def check_sysctl(spec: Spec, ctx: Context) -> Iterator[str]:
    """Only sysctls isolated by a namespace the container has are allowed."""
    for raw in (spec.linux.sysctl or {}) if spec.linux else {}:
        key = _dotted(raw)
        where = f"linux.sysctl[{raw!r}]"
        if key in IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if "ipc" not in ctx.namespaces:
                yield f"{where}: needs an IPC namespace"
        elif key.startswith("net."):
            path = ctx.namespaces.get("network")
            if path is None:
                yield f"{where}: needs a network namespace"
            elif path:
                try:
                    if _is_host_netns(path):
                        yield f"{where}: not allowed in the host's network namespace"
                except OSError as exc:
                    yield f"{where}: cannot check network namespace {path}: {exc.strerror}"
                except ValueError:  # a NUL in the path (found by fuzzing)
                    yield f"{where}: network namespace path {path!r} is not a valid path"
        elif key == "kernel.hostname":
            yield f"{where}: set the hostname field instead"
        elif key == "kernel.domainname":
            if "uts" not in ctx.namespaces:
                yield f"{where}: needs a UTS namespace"
        else:
            yield f"{where}: not isolated by any namespace, so not allowed"


def check_linux_paths(spec: Spec, ctx: Context) -> Iterator[str]:
    linux = spec.linux
    if linux is None:
        return
    for name, paths in (("maskedPaths", linux.masked_paths), ("readonlyPaths",
                        linux.readonly_paths)):  # fmt: skip
        for i, path in enumerate(paths or []):
            if not _abs(path):
                yield f"linux.{name}[{i}]: must be an absolute path, got {path!r}"
        if paths and "mount" not in ctx.namespaces:
            yield f"linux.{name}: needs a mount namespace"
    if linux.rootfs_propagation is not None and linux.rootfs_propagation not in PROPAGATIONS:
        yield f"linux.rootfsPropagation: unknown propagation {linux.rootfs_propagation!r}"
    if linux.cgroups_path is not None and ".." in linux.cgroups_path.split("/"):
        yield f"linux.cgroupsPath: must not contain '..', got {linux.cgroups_path!r}"
    if linux.time_offsets and not ctx.new("time"):
        yield "linux.timeOffsets: needs a new time namespace"
    for clock in linux.time_offsets or {}:
        if clock not in ("boottime", "monotonic"):
            yield f"linux.timeOffsets: unknown clock {clock!r}"
    if linux.personality is not None and linux.personality.domain not in ("LINUX", "LINUX32"):
        yield f"linux.personality.domain: unknown domain {linux.personality.domain!r}"


def check_devices(spec: Spec, ctx: Context) -> Iterator[str]:
    for i, d in enumerate((spec.linux.devices or []) if spec.linux else []):
        where = f"linux.devices[{i}]"
        if not _abs(d.path):
            yield f"{where}.path: must be an absolute path, got {d.path!r}"
        if d.type not in DEVICE_TYPES:
            yield f"{where}.type: must be one of c, b, u, p, got {d.type!r}"
        elif d.type != "p" and (d.major is None or d.minor is None):
            yield f"{where}: major and minor are required for type {d.type}"
        if d.file_mode is not None and not 0 <= d.file_mode <= 0o7777:
            yield f"{where}.fileMode: {d.file_mode} is not a file mode"
        for key, value in (("uid", d.uid), ("gid", d.gid)):
            if value is not None and not 0 <= value <= MAX_U32:
                yield f"{where}.{key}: {value} is not an unsigned 32-bit id"


def check_resources(spec: Spec, ctx: Context) -> Iterator[str]:
    res = spec.linux.resources if spec.linux else None
    if res is None:
        return
    for i, rule in enumerate(res.devices or []):
        where = f"linux.resources.devices[{i}]"
        if rule.allow is None:
            yield f"{where}.allow: required"
        if rule.type is not None and rule.type not in ("a", "c", "b"):
            yield f"{where}.type: must be a, c or b, got {rule.type!r}"
        if rule.access is not None and (not rule.access or set(rule.access) - set("rwm")):
            yield f"{where}.access: only r, w and m are allowed, got {rule.access!r}"
    mem = res.memory
    if mem is not None:
        for key, value in (("limit", mem.limit), ("reservation", mem.reservation),
                           ("swap", mem.swap)):  # fmt: skip
            if value is not None and value < -1:
                yield f"linux.resources.memory.{key}: {value} is negative (-1 = unlimited)"
        swap, limit = mem.swap, mem.limit
        if swap is not None and limit is not None and swap != -1 and (limit == -1 or swap < limit):
            yield "linux.resources.memory.swap: must be at least memory.limit (it counts both)"
        if mem.swappiness is not None and not 0 <= mem.swappiness <= 100:
            yield f"linux.resources.memory.swappiness: {mem.swappiness} is outside 0..100"
    cpu = res.cpu
    if cpu is not None:
        if cpu.shares is not None and not 2 <= cpu.shares <= 262144:
            yield f"linux.resources.cpu.shares: {cpu.shares} is outside 2..262144"
        if cpu.quota is not None and cpu.quota != -1 and cpu.quota < 1000:
            yield f"linux.resources.cpu.quota: {cpu.quota} is below 1000 µs (-1 = unlimited)"
        if cpu.period is not None and not 1000 <= cpu.period <= 1_000_000:
            yield f"linux.resources.cpu.period: {cpu.period} is outside 1000..1000000 µs"
        for key, cpuset in (("cpus", cpu.cpus), ("mems", cpu.mems)):
            if cpuset and set(cpuset) - set("0123456789,-"):
                yield f"linux.resources.cpu.{key}: {cpuset!r} is not a list like 0-3,5"


def check_seccomp(spec: Spec, ctx: Context) -> Iterator[str]:
    sec = spec.linux.seccomp if spec.linux else None
    if sec is None:
        return
    if sec.default_action not in SECCOMP_ACTIONS:
        yield f"linux.seccomp.defaultAction: unknown action {sec.default_action!r}"
    for i, sc in enumerate(sec.syscalls or []):
        where = f"linux.seccomp.syscalls[{i}]"
        if not sc.names:
            yield f"{where}.names: at least one name is required"
        if sc.action not in SECCOMP_ACTIONS:
            yield f"{where}.action: unknown action {sc.action!r}"
        for j, arg in enumerate(sc.args or []):
            if arg.op not in SECCOMP_OPS:
                yield f"{where}.args[{j}].op: unknown operator {arg.op!r}"
            if arg.index is None or not 0 <= arg.index <= 5:
                yield f"{where}.args[{j}].index: must be 0..5"


CHECKS: tuple[Callable[[Spec, Context], Iterator[str]], ...] = (
    check_version, check_root, check_process, check_user, check_capabilities, check_rlimits,
    check_scheduling, check_mounts, check_hooks, check_namespaces, check_user_namespace,
    check_uts, check_sysctl, check_linux_paths, check_devices, check_resources, check_seccomp,
)  # fmt: skip


def problems(spec: Spec, bundle: str | None = None) -> list[str]:
    """Every problem found, in check order; ``bundle`` enables filesystem checks."""
    ctx = Context(spec, bundle)
    out: list[str] = []
    for check in CHECKS:
        out.extend(check(spec, ctx))
    return out


def validate(spec: Spec, bundle: str | None = None) -> None:
    """Raise ``ConfigError`` listing every problem, if there is any."""
    found = problems(spec, bundle)
    if found:
        raise ConfigError(found)
