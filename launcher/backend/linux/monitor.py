"""The per-container monitor of a detached container (``run -d``), like conmon.

``python -m launcher.backend.linux.monitor STORAGE STATE CONFIG CID STATUS_FD``,
started by ``run -d`` in a session of its own once the bundle and its record
exist. A fresh interpreter (never a fork of the CLI, which may have had
threads), single-threaded. It:

1. creates and starts the container as its parent (a subreaper), with the
   container's stdout/stderr on pipes it holds and stdin on /dev/null;
2. writes one line on STATUS_FD — ``ok`` or ``error CODE MESSAGE`` — and
   closes it: ``run -d`` prints the id (or the error) and exits;
3. copies the container's output into ``container-log.json`` (Docker's
   json-file format, capped and rotated: logfile.py) until the container
   exits, then records the exit code and time, removes the runtime state and
   cgroups, and with ``--rm`` the whole container.

Its own diagnostics go to ``monitor.log`` in the bundle.
"""

from __future__ import annotations

import os
import sys

LOG_FILE = "container-log.json"
MONITOR_LOG = "monitor.log"
LOG_MAX_SIZE = 10 << 20  # per file, as Docker's json-file max-size would be set
LOG_MAX_FILES = 3
STOPPED_MARKER = "stopped-by-user"  # `stop` drops it: no restart after that exit


def main(argv: list[str]) -> int:
    storage, state, config, cid, status = argv
    from launcher.paths import Paths

    paths = Paths(storage, state, config)
    bundle = os.path.join(storage, "containers", cid)
    _own_stdio(bundle)
    status_fd = int(status)
    try:
        pid, out_r, err_r = _start(paths, bundle, cid)
    except BaseException as exc:
        from launcher.errors import LauncherError

        code = exc.exit_code if isinstance(exc, LauncherError) else 125
        message = " ".join(str(exc).splitlines()) or type(exc).__name__
        _report(status_fd, f"error {code} {message}")
        _cleanup_runtime(paths, cid)
        return 1
    _report(status_fd, "ok")
    from launcher.backend.linux import procinfo

    while True:
        _pump(bundle, out_r, err_r)
        code = procinfo.wait_exit(pid)
        if not _finish(paths, bundle, cid, code):
            return 0
        try:
            pid, out_r, err_r = _start(paths, bundle, cid)
        except BaseException as exc:  # the restart failed: record it and stop
            sys.stderr.write(f"monitor: restart of {cid} failed: {exc}\n")
            _cleanup_runtime(paths, cid)
            _restarting(bundle, False)
            return 1
        _restarting(bundle, False)


def _own_stdio(bundle: str) -> None:
    """stdin from /dev/null; our own stdout/stderr into monitor.log."""
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(os.path.join(bundle, MONITOR_LOG),
                  os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)


def _report(fd: int, line: str) -> None:
    try:
        os.write(fd, (line + "\n").encode(errors="replace"))
    finally:
        os.close(fd)


def _start(paths: object, bundle: str, cid: str) -> tuple[int, int, int]:
    """Create and start the container with stdout/stderr on new pipes."""
    from launcher.backend.linux import lifecycle
    from launcher.backend.linux.containers import runtime_root
    from launcher.backend.linux.record import ContainerRecord, now_rfc3339
    from launcher.backend.linux.syscalls import real
    from launcher.image.rootfs import prepare_rootfs
    from launcher.spec.build import ANNOTATION_IMAGE_LAYERS

    spec = lifecycle.load_bundle_spec(bundle)
    diff_ids = (spec.annotations or {}).get(ANNOTATION_IMAGE_LAYERS, "")
    layers = [os.path.join(getattr(paths, "layers"), d.split(":", 1)[-1])  # noqa: B009
              for d in diff_ids.split(",") if d]
    sys_ = real()
    opts = lifecycle.CreateOptions()
    opts.gate = "pipe"
    opts.subreaper = True
    opts.stdin_null = True
    opts.cgroup_parent = "launcher"
    opts.premount = lambda: prepare_rootfs(layers, bundle, sys_.mount)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    saved = os.dup(2)
    os.dup2(out_w, 1)  # the container inherits these as its stdout/stderr
    os.dup2(err_w, 2)
    try:
        created = lifecycle.create(runtime_root(paths), cid, bundle, sys_,  # type: ignore[arg-type]
                                   opts, spec)
        lifecycle.release_after_exec(created)
    finally:
        os.dup2(saved, 1)  # we keep no write end: EOF comes when the container's go
        os.dup2(saved, 2)
        os.close(saved)
        os.close(out_w)
        os.close(err_w)
    rec = ContainerRecord.load(bundle)
    rec.started_at = now_rfc3339()
    rec.save()
    return created.state.pid, out_r, err_r


def _pump(bundle: str, out_r: int, err_r: int) -> None:
    """Container output → the log file, until both pipes reach EOF."""
    import selectors

    from launcher.backend.linux.logfile import LogWriter

    streams = {out_r: "stdout", err_r: "stderr"}
    sel = selectors.DefaultSelector()
    for fd in streams:
        sel.register(fd, selectors.EVENT_READ)
    with LogWriter(os.path.join(bundle, LOG_FILE), LOG_MAX_SIZE, LOG_MAX_FILES) as log:
        while streams:
            for key, _ in sel.select():
                fd = int(key.fd)
                data = os.read(fd, 65536)
                if data:
                    log.write(streams[fd], data)
                    continue
                log.flush(streams[fd])
                sel.unregister(fd)
                os.close(fd)
                del streams[fd]
    sel.close()


def _cleanup_runtime(paths: object, cid: str) -> None:
    from launcher.backend.linux import teardown
    from launcher.backend.linux.containers import runtime_root

    try:
        teardown.delete(runtime_root(paths), cid, force=True)  # type: ignore[arg-type]
    except Exception as exc:  # reported; the CLI rolls back the rest
        sys.stderr.write(f"monitor: cleanup of {cid}: {exc}\n")


def _finish(paths: object, bundle: str, cid: str, code: int) -> bool:
    """Record the exit; True when the restart policy wants another run (after
    its backoff, slept here), False when the monitor is done."""
    import time

    from launcher.backend.linux import containers
    from launcher.backend.linux.record import ContainerRecord, now_rfc3339
    from launcher.runopts import backoff, restart_policy

    oom = containers.oom_killed(paths, cid)  # type: ignore[arg-type]
    _cleanup_runtime(paths, cid)
    try:
        rec = ContainerRecord.load(bundle)
    except FileNotFoundError:
        return False  # removed meanwhile (rm -f): nothing left to record
    rec.exit_code, rec.finished_at, rec.oom_killed = code, now_rfc3339(), oom
    policy = restart_policy(rec.restart_policy or "no")
    stopped = os.path.exists(os.path.join(bundle, STOPPED_MARKER))
    again = policy.should_restart(code, rec.restart_count, stopped)
    rec.restarting = again
    rec.save()
    if again:
        quick = _ran_for(rec) < 10.0  # Docker resets the backoff after a 10 s run
        time.sleep(backoff(rec.restart_count if quick else 0))
        if os.path.exists(os.path.join(bundle, STOPPED_MARKER)):
            _restarting(bundle, False)
            return False
        rec = ContainerRecord.load(bundle)
        rec.restart_count += 1
        rec.save()
        return True
    if rec.remove:
        containers.remove(paths, containers.load(paths, cid, tolerant=True),  # type: ignore[arg-type]
                          force=True)
    return False


def _ran_for(rec: object) -> float:
    from launcher.rfc3339 import parse_time

    try:
        start = parse_time(str(getattr(rec, "started_at", "")))
        end = parse_time(str(getattr(rec, "finished_at", "")))
    except ValueError:
        return 0.0
    return (end - start) / 1e9


def _restarting(bundle: str, value: bool) -> None:
    from launcher.backend.linux.record import ContainerRecord

    try:
        rec = ContainerRecord.load(bundle)
    except FileNotFoundError:
        return
    rec.restarting = value
    rec.save()


if __name__ == "__main__":
    from launcher._exit import fast_exit

    fast_exit(main(sys.argv[1:]))
