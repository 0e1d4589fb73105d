"""build_spec: RunRequest + ImageConfig → Spec, with Docker's semantics. Pure.

The one place where flags meet image defaults. Rules, each mirroring Docker
(and podman where Docker has none):

- **args**: ``--entrypoint X`` replaces the image Entrypoint *and* drops the
  image Cmd; ``--entrypoint ""`` clears it; ``CMD…`` after the image replaces
  Cmd. Nothing left to run → ``UsageError("no command specified")``.
- **env**: ``PATH`` (default) < ``HOSTNAME`` < ``TERM=xterm`` (with ``-t``) <
  image Env < ``-e``; a later key replaces an earlier one in place. A bare
  ``-e K`` takes K from the caller's environment and is dropped if unset.
- **cwd**: ``-w``, else the image WorkingDir, else ``/``; must be absolute;
  cleaned lexically like Docker (it is resolved inside the root later anyway).
- **user**: ``-u`` else the image User. Names are resolved by the caller (in
  the rootfs, never on the host) and arrive as ``user_ids``; here only numeric
  ``uid[:gid]`` is parsed, as unsigned 32-bit, never falling back to 0 on a bad
  value; a bare uid gets gid 0 (as Docker does without a passwd entry).
  Non-root users keep the capability bounding set only (podman's rule).
- **limits**: ``--memory`` → memory.limit, swap = 2 * limit; ``--cpus`` →
  quota = cpus * 100000 µs per 100000 µs period; ``--pids-limit`` →
  pids.limit, **default 2048** (fork bombs stop there), 0 or -1 = unlimited;
  RLIMIT_NOFILE = min(1048576, the host's hard limit).
- **network**: ``host`` → no netns (``/sys`` stays read-only);
  ``container:X`` → X's netns (``netns_path``, found by the caller, which also
  passes X's ``hostname``); anything else (``none``, ``bridge``, a network's
  name) → a new netns, which the backend wires up after create.
"""

from __future__ import annotations

import os
import posixpath

from launcher.errors import ImageError, UsageError
from launcher.spec.defaults import (
    DEFAULT_PATH,
    OCI_VERSION,
    default_linux,
    default_mounts,
    default_process,
)
from launcher.spec.model import (
    CPU,
    Linux,
    Memory,
    Pids,
    Process,
    Resources,
    Rlimit,
    Root,
    Spec,
    User,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from launcher.spec.image_config import ImageConfig
    from launcher.spec.request import RunRequest

DEFAULT_PIDS_LIMIT = 2048
NOFILE_MAX = 1048576
CPU_PERIOD = 100_000  # µs
CGROUP_PARENT = "/launcher"
MAX_ID = 2**32 - 2  # 2**32-1 is (uid_t)-1: "no change" to setresuid, never a real id
ANNOTATION_IMAGE = "io.launcher.image"
ANNOTATION_NAME = "io.launcher.name"
# What the container's rootfs is made of, so image GC keeps it: the image id and
# its layer diff ids (comma-separated, base first). Set by the backend.
ANNOTATION_IMAGE_ID = "io.launcher.image.id"
ANNOTATION_IMAGE_LAYERS = "io.launcher.image.layers"
ANNOTATION_STOP_SIGNAL = "org.opencontainers.image.stopSignal"  # image-spec conversion.md
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def build_spec(
    req: RunRequest,
    image: ImageConfig,
    *,
    container_id: str,
    rootfs: str,
    host_nofile_hard: int,
    user_ids: tuple[int, int, list[int]] | None = None,
    environ: Mapping[str, str] | None = None,
    netns_path: str | None = None,
    hostname: str | None = None,
    cgroups: tuple[str, frozenset[str] | None] | None = (CGROUP_PARENT, None),
    warn: Callable[[str], None] | None = None,
) -> Spec:
    """The container's Spec. ``environ`` (default ``os.environ``) feeds bare ``-e K``;
    ``hostname`` is the name the network mode imposes (None: ``-h`` or the default).
    ``cgroups``: the parent cgroup and the controllers it offers (None: all), or
    None where this user may make no cgroup (rootless without delegation)."""
    _check_id(container_id)
    hostname = _hostname(req.hostname if hostname is None else hostname, container_id)
    process = default_process(_args(req, image), terminal=req.tty)
    process.env = _env(req, image, hostname, os.environ if environ is None else environ)
    process.cwd = _cwd(req, image)
    _set_user(process, req.user or image.user or "", user_ids)
    if req.cap_add or req.cap_drop:
        _set_caps(process, req.cap_add, req.cap_drop)
    nofile = NOFILE_MAX if host_nofile_hard < 0 else min(NOFILE_MAX, host_nofile_hard)
    process.rlimits = [Rlimit(type="RLIMIT_NOFILE", hard=nofile, soft=nofile)]
    linux = default_linux()
    linux.resources = _resources(req, linux.resources or Resources())
    _place_cgroup(linux, req, container_id, cgroups, warn or (lambda _m: None))
    _network_namespace(linux, req.network or "none", netns_path)
    from launcher.spec import security, userns

    userns.apply(linux, process, req.userns, bool(req.user))
    opts = [*req.security_opt, "seccomp=unconfined"] if req.privileged else req.security_opt
    security.apply(process, linux, opts)
    mounts = default_mounts()
    if req.privileged:
        from launcher.spec import privileged

        nnp = any(o.startswith("no-new-privileges=") for o in req.security_opt)
        privileged.apply(process, linux, mounts, nnp, req.cap_drop)
    annotations = {ANNOTATION_IMAGE: req.image}
    if req.name:
        annotations[ANNOTATION_NAME] = req.name
    if req.stop_signal is not None:
        annotations[ANNOTATION_STOP_SIGNAL] = str(req.stop_signal)
    elif image.stop_signal:
        annotations[ANNOTATION_STOP_SIGNAL] = image.stop_signal
    return Spec(
        oci_version=OCI_VERSION,
        process=process,
        root=Root(path=rootfs, readonly=True if req.read_only else None),
        hostname=hostname,
        mounts=mounts,
        annotations=annotations,
        linux=linux,
    )


def _place_cgroup(linux: Linux, req: RunRequest, cid: str,
                  cgroups: tuple[str, frozenset[str] | None] | None,
                  warn: Callable[[str], None]) -> None:
    """The cgroupsPath, and only the limits the available controllers can keep."""
    asked = [flag for flag, value in (("--memory", req.memory), ("--cpus", req.cpus),
                                      ("--pids-limit", req.pids_limit)) if value]
    if cgroups is None:
        if asked:
            warn(f"{', '.join(asked)} ignored: no cgroup is delegated to this user "
                 "(rootless on cgroup v1 or hybrid, or outside a systemd user session)")
        linux.cgroups_path, linux.resources = None, None
        return
    parent, controllers = cgroups
    linux.cgroups_path = f"{parent.rstrip('/')}/{cid}"
    res = linux.resources
    if controllers is None or res is None:
        return
    res.devices = None  # device rules need root (eBPF on v2); rootless binds host nodes
    lost = []
    for name, ctrl, flag in (("memory", "memory", "--memory"), ("cpu", "cpu", "--cpus"),
                             ("pids", "pids", "--pids-limit")):
        if getattr(res, name) is not None and ctrl not in controllers:
            setattr(res, name, None)
            if flag in asked:
                lost.append(flag)
    if lost:
        warn(f"{', '.join(lost)} ignored: the delegated cgroup {parent} lacks the controller")


def _network_namespace(linux: Linux, mode: str, netns_path: str | None) -> None:
    if mode == "host":
        linux.namespaces = [ns for ns in linux.namespaces or [] if ns.type != "network"]
    elif mode.startswith("container:"):
        if not netns_path or not netns_path.startswith("/"):
            raise UsageError(f"--network {mode}: the container's namespace was not found")
        for ns in linux.namespaces or []:
            if ns.type == "network":
                ns.path = netns_path


def _set_caps(process: Process, add: list[str], drop: list[str]) -> None:
    """Docker's order: drops from the default set, then adds (``ALL`` on either side)."""
    from launcher.spec.caps import ALL
    from launcher.spec.model import Capabilities

    current = list((process.capabilities.bounding or []) if process.capabilities else [])
    if "ALL" in drop:
        current = []
    current = [c for c in current if c not in drop]
    for cap in ALL if "ALL" in add else add:
        if cap not in current and (cap not in drop or cap in add or "ALL" in add):
            current.append(cap)
    process.capabilities = Capabilities(bounding=list(current), effective=list(current),
                                        inheritable=[], permitted=list(current), ambient=[])


def _check_id(container_id: str) -> None:
    # It becomes a path component (cgroup, state dir): see SECURITY.md rule 6.
    ok = (container_id[:1].isalnum() and container_id.isascii()
          and set(container_id) <= _ID_CHARS and ".." not in container_id)  # fmt: skip
    if not ok:
        raise UsageError(f"invalid container id {container_id!r}")


def _hostname(requested: str | None, container_id: str) -> str:
    if requested is None:
        return container_id[:12]
    bad = set("/\0 \t\n")
    if not requested or len(requested) > 64 or bad & set(requested):
        raise UsageError(f"invalid hostname {requested!r}")
    return requested


def _args(req: RunRequest, image: ImageConfig) -> list[str]:
    if req.entrypoint is None:
        entrypoint = list(image.entrypoint or [])
    else:
        entrypoint = [req.entrypoint] if req.entrypoint else []
    if req.command:
        cmd = list(req.command)
    elif req.entrypoint is not None:  # Docker: a given --entrypoint drops the image's Cmd
        cmd = []
    else:
        cmd = list(image.cmd or [])
    if not entrypoint + cmd:
        raise UsageError("no command specified")
    return entrypoint + cmd


def _env(
    req: RunRequest, image: ImageConfig, hostname: str, environ: Mapping[str, str]
) -> list[str]:
    merged: dict[str, str] = {}
    base = [DEFAULT_PATH, f"HOSTNAME={hostname}"] + (["TERM=xterm"] if req.tty else [])
    for entry in base + (image.env or []):
        key, eq, _ = entry.partition("=")
        if key and eq:  # a malformed image entry is dropped, not passed on
            merged[key] = entry
    for entry in [e for entries in req.env_files for e in entries] + req.env:
        key, eq, _ = entry.partition("=")
        if not key or "\0" in entry:
            raise UsageError(f"invalid environment variable {entry!r}")
        if not eq:
            value = environ.get(key)
            if value is None:
                continue
            entry = f"{key}={value}"
        merged[key] = entry
    return list(merged.values())


def _cwd(req: RunRequest, image: ImageConfig) -> str:
    error: type[UsageError | ImageError]
    if req.workdir:
        path, error, source = req.workdir, UsageError, "--workdir"
    elif image.working_dir:
        path, error, source = image.working_dir, ImageError, "image WorkingDir"
    else:
        return "/"
    if not path.startswith("/") or "\0" in path:
        raise error(f"{source} {path!r} must be an absolute path")
    return "/" + posixpath.normpath(path).lstrip("/")


def _parse_id(text: str, what: str) -> int:
    if text.startswith("-") and text[1:].isdigit():
        raise UsageError(f"{what} id {text} is negative")
    if not (text.isascii() and text.isdigit()):
        raise UsageError(f"{what} {text!r} is not numeric and was not resolved")
    value = int(text)
    if value > MAX_ID:
        raise UsageError(f"{what} id {value} is out of range (0..{MAX_ID})")
    return value


def _set_user(process: Process, user: str, user_ids: tuple[int, int, list[int]] | None) -> None:
    groups: list[int] = []
    if user_ids is not None:
        uid, gid, groups = user_ids
        for value in (uid, gid, *groups):
            if not 0 <= value <= MAX_ID:
                raise UsageError(f"user {user!r}: id {value} is out of range (0..{MAX_ID})")
    elif user:
        name, colon, group = user.partition(":")
        uid = _parse_id(name, "user")
        gid = _parse_id(group, "group") if colon else 0
    else:
        uid, gid = 0, 0
    process.user = User(uid=uid, gid=gid, additional_gids=list(groups) or None)
    caps = process.capabilities
    if uid != 0 and caps is not None:
        caps.effective, caps.permitted = [], []


def _resources(req: RunRequest, res: Resources) -> Resources:
    if req.memory is not None:
        if req.memory < 0:
            raise UsageError(f"--memory {req.memory} is negative")
        if req.memory > 0:  # 0 = unlimited, as in Docker
            res.memory = Memory(limit=req.memory, swap=2 * req.memory)
    if req.cpus is not None:
        if req.cpus < 0:
            raise UsageError(f"--cpus {req.cpus} is negative")
        if req.cpus > 0:  # 0 = unlimited
            quota = round(req.cpus * CPU_PERIOD)  # round: 0.29 * 100000 is 28999.99…
            if quota < 1000:
                raise UsageError(f"--cpus {req.cpus} is below the minimum of 0.01")
            res.cpu = CPU(quota=quota, period=CPU_PERIOD)
    limit = DEFAULT_PIDS_LIMIT if req.pids_limit is None else req.pids_limit
    if limit < -1:
        raise UsageError(f"--pids-limit {limit} is invalid (0 or -1 = unlimited)")
    res.pids = Pids(limit=-1 if limit <= 0 else limit)
    return res
