"""The core of ``kill``, ``stop``, ``wait``, ``inspect``, ``stats`` and ``top``:
acting on live containers through their runtime state (pid + start time,
signalled through a pidfd, so a recycled pid is never hit)."""

from __future__ import annotations

import os
import time

from launcher.errors import ConflictError, LauncherError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from launcher.backend.linux.containers import Container
    from launcher.paths import Paths

POLL = 0.05
DEFAULT_STOP_TIMEOUT = 10
SIGKILL, SIGTERM = 9, 15  # the numbers: `signal` costs ~5 ms of imports (enum)
RECORD_GRACE = 5.0


def _find(paths: Paths, ref: str) -> Container:
    from launcher.backend.linux import containers
    from launcher.backend.select import require_native

    require_native()
    return containers.find(paths, ref)


def _signal(paths: Paths, c: Container, sig: int) -> None:
    from launcher.backend.linux import teardown
    from launcher.backend.linux.containers import runtime_root

    teardown.kill(runtime_root(paths), c.id, sig, all_procs=False)


def kill(paths: Paths, ref: str, sig: int) -> None:
    c = _find(paths, ref)
    if not c.running:
        raise ConflictError(f"cannot kill container {ref}: container is not running")
    _signal(paths, c, sig)


def pause(paths: Paths, ref: str, freeze: bool) -> None:
    from launcher.backend.linux.containers import runtime_root
    from launcher.backend.linux.teardown import set_frozen

    c = _find(paths, ref)
    if c.status not in ("running", "paused"):
        raise ConflictError(f"container {ref} is not running")
    set_frozen(runtime_root(paths), c.id, freeze)


def rename(paths: Paths, ref: str, new: str) -> None:
    """Claim the new name atomically, then record it and free the old one."""
    from launcher.cli.convert import container_name
    from launcher.errors import UsageError

    c = _find(paths, ref)
    try:
        container_name(new)
    except ValueError as exc:
        raise UsageError(f"invalid container name {new!r}: {exc}") from None
    names = os.path.join(paths.state, "names")
    os.makedirs(names, mode=0o700, exist_ok=True)
    try:
        os.symlink(c.id, os.path.join(names, new))
    except FileExistsError:
        raise ConflictError(f'the container name "{new}" is already in use') from None
    old, c.record.name = c.record.name, new
    c.record.save()
    if old:
        try:
            if os.readlink(os.path.join(names, old)) == c.id:
                os.unlink(os.path.join(names, old))
        except OSError:
            pass


def stop_signal(c: Container) -> int:
    """The image's StopSignal (annotated in the bundle's spec), else SIGTERM."""
    from launcher.runopts import stop_signal as parse

    spec = _spec(c)
    name = (spec.get("annotations") or {}).get("org.opencontainers.image.stopSignal")
    if isinstance(name, str) and name:
        try:
            return parse(name)
        except ValueError:
            pass
    return SIGTERM


def stop(paths: Paths, ref: str, timeout: int | None) -> None:
    """Docker's stop: the stop signal, up to ``timeout`` s (-1: forever), then SIGKILL.

    The marker file tells the monitor not to restart it; a restart already past
    that check may start one more run, which is stopped the same way (the loop).
    """
    from launcher.backend.linux import containers
    from launcher.backend.linux.monitor import STOPPED_MARKER
    from launcher.errors import NotFoundError

    c = _find(paths, ref)
    if not c.running:
        return  # docker stop of a stopped container succeeds
    with open(os.path.join(c.record.bundle, STOPPED_MARKER), "w"):
        pass  # the monitor must not restart it
    if timeout is None:
        timeout = c.record.stop_timeout
    limit = DEFAULT_STOP_TIMEOUT if timeout is None else timeout
    while True:
        try:
            c = containers.load(paths, c.id)
        except NotFoundError:
            return
        if not c.running:
            return
        if c.status in ("running", "paused"):
            _stop_once(paths, c, limit)
        else:  # restarting: the monitor is between two runs
            time.sleep(POLL)


def _stop_once(paths: Paths, c: Container, limit: int) -> None:
    try:
        sig = SIGKILL if c.status == "paused" else stop_signal(c)
        _signal(paths, c, sig)
    except LauncherError:
        return  # it ended meanwhile
    if not _wait_stopped(paths, c.id, None if limit < 0 else float(limit)):
        try:
            _signal(paths, c, SIGKILL)
        except LauncherError:
            pass  # it ended on its own meanwhile
        _wait_pidfd(paths, c.id, None)


def _wait_stopped(paths: Paths, cid: str, timeout: float | None) -> bool:
    """Until the container's init has exited: on its pidfd (woken at the exit,
    no polling), then a re-check of the derived status."""
    from launcher.backend.linux import containers
    from launcher.errors import NotFoundError

    _wait_pidfd(paths, cid, timeout)

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            if containers.load(paths, cid).status not in ("running", "paused"):
                return True
        except NotFoundError:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(POLL)


def _wait_pidfd(paths: Paths, cid: str, timeout: float | None) -> None:
    """Block on the init's pidfd (verified against its start time) until it exits
    or ``timeout`` passes; any doubt returns at once (the caller re-checks)."""
    import select

    from launcher.backend.linux import procinfo
    from launcher.backend.linux.containers import runtime_root
    from launcher.backend.linux.state import ContainerState
    from launcher.errors import LauncherError

    try:
        st = ContainerState.load(runtime_root(paths), cid)
        fd = os.pidfd_open(st.pid)
    except (LauncherError, OSError):
        return
    try:
        if not procinfo.is_alive(st.pid, st.pid_start):
            return  # the pid was recycled: the fd is not our init
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll(None if timeout is None else max(0, int(timeout * 1000)))
    finally:
        os.close(fd)


def wait(paths: Paths, ref: str) -> int:
    """Block until the container is not running; its exit code (Docker's ``wait``).
    The code is written by whoever waited on the process (the monitor, or the
    attached CLI) just after the exit: allow it ``RECORD_GRACE`` seconds; a
    container whose keeper died without writing it reports 255."""
    from launcher.backend.linux import containers
    from launcher.errors import NotFoundError

    c = _find(paths, ref)
    grace: float | None = None
    while True:
        try:
            c = containers.load(paths, c.id)
        except NotFoundError:  # removed (--rm) after it ended
            break
        if c.record.exit_code is not None and not c.running:
            break
        if not c.running:
            grace = grace if grace is not None else time.monotonic() + RECORD_GRACE
            if time.monotonic() >= grace:
                break
        time.sleep(POLL)
    return c.record.exit_code if c.record.exit_code is not None else 255


def _spec(c: Container) -> dict[str, Any]:
    from launcher import fastjson

    try:
        with open(os.path.join(c.record.bundle, "config.json"), "rb") as f:
            doc = fastjson.loads(f.read())
    except (OSError, ValueError):
        return {}
    return doc if type(doc) is dict else {}


def inspect(paths: Paths, ref: str) -> dict[str, Any]:
    """Docker's container inspect object, from the record, the spec and reality."""
    c = _find(paths, ref)
    rec, spec = c.record, _spec(c)
    process = spec.get("process") or {}
    args = list(process.get("args") or rec.command)
    mounts = [{"Type": "volume", "Source": m.get("source"), "Destination": m.get("destination"),
               "RW": "ro" not in (m.get("options") or []), "Mode": ""}
              for m in spec.get("mounts") or []
              if m.get("type") == "bind" and "/volumes/" in str(m.get("source"))]
    from launcher.network.report import inspect_fields

    net = inspect_fields(paths, rec.id, rec.bundle, c.running)
    return {
        "Id": rec.id, "Created": rec.created, "Path": args[0] if args else "",
        "Args": args[1:],
        "State": {"Status": c.status, "Running": c.status == "running",
                  "Paused": c.status == "paused", "Restarting": c.status == "restarting",
                  "OOMKilled": bool(rec.oom_killed),
                  "Dead": c.status == "dead", "Pid": c.pid,
                  "ExitCode": rec.exit_code if rec.exit_code is not None else 0,
                  "Error": "", "StartedAt": rec.started_at or "0001-01-01T00:00:00Z",
                  "FinishedAt": rec.finished_at or "0001-01-01T00:00:00Z"},
        "Image": rec.image_id, "Name": "/" + (rec.name or rec.id[:12]),
        "RestartCount": rec.restart_count,
        "Config": {"Hostname": spec.get("hostname", ""), "User": _user(process),
                   "Env": list(process.get("env") or []), "Cmd": args,
                   "Image": rec.image, "WorkingDir": process.get("cwd", ""),
                   "Tty": bool(process.get("terminal")),
                   "Labels": dict(c.record.labels),
                   "StopSignal": str(stop_signal(c)),
                   "StopTimeout": rec.stop_timeout},
        "Mounts": mounts,
        "HostConfig": {"AutoRemove": rec.remove,
                       "RestartPolicy": _policy_json(rec.restart_policy),
                       "LogConfig": {"Type": rec.log_driver, "Config": dict(rec.log_opts)},
                       **net["HostConfig"]},
        "NetworkSettings": net["NetworkSettings"],
    }


NO_CGROUP = "it has no cgroup (rootless: only a delegated cgroup v2 gives one)"


def _policy_json(text: str) -> dict[str, Any]:
    name, _, count = (text or "no").partition(":")
    return {"Name": name, "MaximumRetryCount": int(count) if count.isdigit() else 0}


def _user(process: dict[str, Any]) -> str:
    user = process.get("user") or {}
    return f"{user.get('uid', 0)}:{user.get('gid', 0)}"


def _cgroup(c: Container) -> tuple[str, str]:
    from launcher import host

    linux = _spec(c).get("linux") or {}
    return str(linux.get("cgroupsPath") or ""), host.cgroup_layout()


def stats_sample(paths: Paths, ref: str) -> tuple[Container, Any]:
    from launcher.backend.linux import stats

    c = _find(paths, ref)
    if not c.running:
        raise ConflictError(f"container {ref} is not running")
    path, layout = _cgroup(c)
    if not path:
        from launcher.errors import UnsupportedError

        raise UnsupportedError(f"no stats for container {ref}: {NO_CGROUP}")
    return c, stats.read_stats(path, layout)


def top(paths: Paths, ref: str) -> list[list[str]]:
    from launcher.backend.linux import stats
    from launcher.backend.linux import top as top_mod

    c = _find(paths, ref)
    if not c.running:
        raise ConflictError(f"container {ref} is not running")
    path, layout = _cgroup(c)
    if not path:  # rootless without a cgroup: the processes of its pid namespace
        return top_mod.top(top_mod.namespace_pids(c.pid))
    return top_mod.top(stats.cgroup_pids(path, layout))


def exec_in(paths: Paths, ref: str, command: list[str], *, interactive: bool, tty: bool,
            env: list[str], workdir: str | None, user: str | None, detach: bool) -> int:
    """``exec``: run ``command`` in a running container; its exit code (or 0 with -d)."""
    from launcher.backend.linux.containers import runtime_root
    from launcher.backend.linux.execproc import ExecOptions, exec_process
    from launcher.backend.linux.syscalls import real
    from launcher.errors import UsageError
    from launcher.runtime.update import exec_process_spec

    c = _find(paths, ref)
    if c.status != "running":
        raise ConflictError(f"container {ref} is not running"
                            + (" (it is paused)" if c.status == "paused" else ""))
    if not command:
        raise UsageError('"exec" requires at least 2 arguments')
    values: dict[str, Any] = {"id": c.id, "command": command, "tty": tty,
                              "env": _exec_env(env), "cwd": workdir}
    proc = exec_process_spec(runtime_root(paths), values)
    if user:
        _exec_user(paths, c, proc, user)
    opts = ExecOptions()
    opts.detach = detach
    if tty and not detach:
        from launcher.backend.linux.console import console_pair

        opts.proxy_fd, opts.console_fd = console_pair()
    if not interactive:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    if detach:  # its stdio is /dev/null (as Docker's); ours comes back for errors
        saved = [os.dup(1), os.dup(2)]
        null = os.open(os.devnull, os.O_RDWR)
        try:
            os.dup2(null, 1)
            os.dup2(null, 2)
            exec_process(runtime_root(paths), c.id, proc, real(), opts)
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in (*saved, null):
                os.close(fd)
        return 0
    from launcher.backend.linux.forward import forward_signals

    with forward_signals(None):
        return exec_process(runtime_root(paths), c.id, proc, real(), opts)


def _exec_env(entries: list[str]) -> list[str]:
    """``-e K=V``, or ``-e K`` (taken from this environment, dropped when unset)."""
    out: list[str] = []
    for entry in entries:
        key, eq, _ = entry.partition("=")
        if not key or "\0" in entry:
            from launcher.errors import UsageError

            raise UsageError(f"invalid environment variable {entry!r}")
        if eq:
            out.append(entry)
        elif key in os.environ:
            out.append(f"{key}={os.environ[key]}")
    return out


def _exec_user(paths: Paths, c: Container, proc: Any, user: str) -> None:
    """``-u uid[:gid]`` or a name, resolved in the container's own files (the image's
    layers with the container's changes on top), never through the host's NSS."""
    from launcher.image.store import ImageStore
    from launcher.image.userdb import resolve_user_in_layers
    from launcher.spec.model import User

    if all(p.isdigit() and p.isascii() for p in user.split(":", 1)):
        ids = [int(p) for p in user.split(":", 1)]
        max_id = 2**32 - 2  # (uid_t)-1 means "unchanged" to setresuid: it would stay root
        for n in ids:
            if n > max_id:
                from launcher.errors import UsageError

                raise UsageError(f"user {user!r}: id {n} is out of range (0-{max_id})")
        proc.user = User(uid=ids[0], gid=ids[1] if len(ids) > 1 else 0)
        return
    layers = list(ImageStore(paths).get(c.record.image_id).layer_dirs)
    upper = os.path.join(c.record.bundle, "upper")
    if os.path.isdir(upper):
        layers.append(upper)
    uid_, gid_, extra = resolve_user_in_layers(layers, user)
    proc.user = User(uid=uid_, gid=gid_, additional_gids=extra or None)
