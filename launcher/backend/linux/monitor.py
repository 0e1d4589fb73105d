"""The per-container monitor of a detached container (``run -d``), like conmon.

``main([STORAGE, STATE, CONFIG, CID, STATUS_FD])``, called in a fork of the
``run -d`` CLI (single-threaded, in a session of its own) once the bundle and
its record exist; ``python -m launcher.backend.linux.monitor`` takes the same
arguments. It:

1. listens on ``attach.sock`` in the bundle for ``launcher attach``
   (attachserver.py: protocol, clients), for as long as it lives;
2. creates and starts the container as its parent (a subreaper): with
   ``process.terminal`` (``-t``) on a pty whose master it holds, otherwise
   with stdout/stderr on pipes it holds and stdin on a pipe it keeps open
   (``-i``, the record's ``open_stdin``) or on /dev/null;
3. writes one line on STATUS_FD — ``ok`` or ``error CODE MESSAGE`` — and
   closes it: ``run -d`` prints the id (or the error) and exits;
4. copies the container's output into ``container-log.json`` (Docker's
   json-file format, capped and rotated: logfile.py; a pty's output is
   ``stdout``) and to attached clients, and their input to the container,
   until the container exits; then records the exit code and time, tells the
   clients, removes the runtime state and cgroups, and with ``--rm`` the whole
   container — or, by its restart policy, starts it again.

Its own diagnostics go to ``monitor.log`` in the bundle.
"""

from __future__ import annotations

import os
import sys

from launcher.errors import LauncherError
from launcher.faults import point

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from launcher.backend.linux.attachserver import AttachServer, Streams
    from launcher.backend.linux.lifecycle import CreateOptions
    from launcher.backend.linux.logfile import LogWriter

LOG_FILE = "container-log.json"
MONITOR_LOG = "monitor.log"
STOPPED_MARKER = "stopped-by-user"  # `stop` drops it: no restart after that exit


def main(argv: list[str]) -> int:
    storage, state, config, cid, status = argv
    from launcher.backend.linux.attachserver import AttachServer
    from launcher.paths import Paths

    paths = Paths(storage, state, config)
    bundle = os.path.join(storage, "containers", cid)
    _own_stdio(bundle)
    from launcher.backend.linux.layout import hold_keeper_lock

    hold_keeper_lock(bundle)  # until this process exits: rm waits for the last write
    status_fd = int(status)
    server: AttachServer | None = None
    try:
        # Listening before "ok": an `attach` right after `run -d` finds the socket.
        server = AttachServer(bundle)
        streams = _start(paths, bundle, cid)
    except BaseException as exc:
        from launcher.errors import LauncherError

        code = exc.exit_code if isinstance(exc, LauncherError) else 125
        message = " ".join(str(exc).splitlines()) or type(exc).__name__
        _report(status_fd, f"error {code} {message}")
        _cleanup_runtime(paths, cid)
        if server is not None:
            server.close()
        return 1
    _report(status_fd, "ok")
    point("monitor.started")
    try:
        return _loop(paths, bundle, cid, server, streams)
    finally:
        server.close()


def _loop(paths: object, bundle: str, cid: str, server: AttachServer, streams: Streams) -> int:
    """Serve each run of the container until its restart policy says no more."""
    from launcher.backend.linux import procinfo

    while True:
        with _log_writer(bundle) as log:
            server.serve(streams, log)
        code = procinfo.wait_exit(streams.pid)
        if not _finish(paths, bundle, cid, code, server):
            return 0
        try:
            streams = _start(paths, bundle, cid)
        except BaseException as exc:  # the restart failed: record it and stop
            sys.stderr.write(f"monitor: restart of {cid} failed: {exc}\n")
            _cleanup_runtime(paths, cid)
            _restarting(bundle, False)
            return 1
        _restarting(bundle, False)


def _log_writer(bundle: str) -> LogWriter | _Discard:
    """The container's log as its --log-driver/--log-opt say (record.py)."""
    from launcher.backend.linux.logfile import LogWriter
    from launcher.backend.linux.record import ContainerRecord
    from launcher.logopts import limits

    try:
        rec = ContainerRecord.load(bundle)
        driver, opts = rec.log_driver, rec.log_opts
    except (OSError, ValueError, LauncherError):
        driver, opts = "json-file", {}
    if driver == "none":
        return _Discard()
    max_size, max_files = limits(opts)
    return LogWriter(os.path.join(bundle, LOG_FILE), max_size, max_files)


class _Discard:
    """``--log-driver none``: output read (so the container never blocks) and dropped."""

    __slots__ = ()

    def write(self, stream: str, data: bytes, now: float | None = None) -> None:
        pass

    def flush(self, stream: str | None = None, now: float | None = None) -> None:
        pass

    def __enter__(self) -> _Discard:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


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


def _start(paths: object, bundle: str, cid: str) -> Streams:
    """Create and start the container; its stdio as the bundle's config and record say."""
    from launcher.backend.linux import lifecycle
    from launcher.backend.linux.containers import runtime_root
    from launcher.backend.linux.record import ContainerRecord, now_rfc3339
    from launcher.backend.linux.syscalls import real
    from launcher.image.rootfs import prepare_rootfs
    from launcher.network import container as network
    from launcher.spec.build import ANNOTATION_IMAGE_LAYERS

    spec = lifecycle.load_bundle_spec(bundle)
    diff_ids = (spec.annotations or {}).get(ANNOTATION_IMAGE_LAYERS, "")
    layers = [os.path.join(getattr(paths, "layers"), d.split(":", 1)[-1])  # noqa: B009
              for d in diff_ids.split(",") if d]
    open_stdin = ContainerRecord.load(bundle).open_stdin
    sys_ = real()
    opts = lifecycle.CreateOptions()
    opts.gate = "pipe"
    opts.subreaper = True
    opts.stdin_null = not open_stdin
    opts.cgroup_parent = "launcher"
    opts.premount = lambda: prepare_rootfs(layers, bundle, sys_.mount)

    def create(receive: Callable[[], object] = lambda: None) -> int:
        created = lifecycle.create(runtime_root(paths), cid, bundle, sys_,  # type: ignore[arg-type]
                                   opts, spec)
        receive()  # before the exec: a failure here kills a container that never ran
        # Its veths, address, published ports and hosts file (undone by setup itself
        # when it fails; by _cleanup_runtime once the container has run).
        network.setup(paths, cid, created.state.pid,  # type: ignore[arg-type]
                      created.state.pid_start)
        lifecycle.release_after_exec(created)
        return created.state.pid

    if spec.process is not None and spec.process.terminal:
        streams = _start_tty(create, opts, open_stdin)
    else:
        streams = _start_piped(create, open_stdin)
    rec = ContainerRecord.load(bundle)
    rec.started_at = now_rfc3339()
    rec.save()
    return streams


def _start_tty(create: Callable[[Callable[[], object]], int], opts: CreateOptions,
               open_stdin: bool) -> Streams:
    """``create()`` on a pty (``-t``): init sends us its master while it sets up."""
    from launcher.backend.linux.attachserver import Streams
    from launcher.backend.linux.console import console_pair, receive_master

    mine, opts.console_fd = console_pair()
    ours, master = [mine], []

    def receive() -> None:
        fd = ours.pop()  # receive_master closes it, whatever happens
        master.append(receive_master(fd))

    try:
        pid = create(receive)
    except BaseException:
        for fd in ours + master:
            os.close(fd)
        raise
    return Streams(pid, {master[0]: "stdout"}, master[0] if open_stdin else -1, master[0])


def _start_piped(create: Callable[[], int], open_stdin: bool) -> Streams:
    """``create()`` with the container's stdout/stderr (and with ``-i`` its stdin)
    on new pipes; we keep the other ends."""
    from launcher.backend.linux.attachserver import Streams

    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    in_r, in_w = os.pipe2(os.O_CLOEXEC) if open_stdin else (-1, -1)
    child = {1: out_w, 2: err_w, **({0: in_r} if open_stdin else {})}
    saved = {target: os.dup(target) for target in child}
    try:
        for target, fd in child.items():
            os.dup2(fd, target)  # the container inherits these as its stdio
        pid = create()
    except BaseException:
        for fd in (out_r, err_r, in_w):
            if fd >= 0:
                os.close(fd)
        raise
    finally:
        for target, fd in saved.items():  # we keep no write end: EOF comes when theirs go
            os.dup2(fd, target)
            os.close(fd)
        for fd in child.values():
            os.close(fd)
    return Streams(pid, {out_r: "stdout", err_r: "stderr"}, in_w)


def _cleanup_runtime(paths: object, cid: str) -> None:
    from launcher.backend.linux import teardown
    from launcher.backend.linux.containers import runtime_root

    try:
        teardown.delete(runtime_root(paths), cid, force=True)  # type: ignore[arg-type]
    except Exception as exc:  # reported; the CLI rolls back the rest
        sys.stderr.write(f"monitor: cleanup of {cid}: {exc}\n")
    try:  # the container's lease, rules and peers' hosts entries (its veth went with it)
        from launcher.network import container as network

        network.teardown(paths, cid)  # type: ignore[arg-type]
    except Exception as exc:
        sys.stderr.write(f"monitor: network teardown of {cid}: {exc}\n")


def _finish(paths: object, bundle: str, cid: str, code: int, server: AttachServer) -> bool:
    """Record the exit and tell the attached clients; True when the restart
    policy wants another run (after its backoff, slept here), False when the
    monitor is done."""
    import time

    from launcher.backend.linux import containers
    from launcher.backend.linux.record import ContainerRecord, now_rfc3339
    from launcher.runopts import backoff, restart_policy

    oom = containers.oom_killed(paths, cid)  # type: ignore[arg-type]
    _cleanup_runtime(paths, cid)
    try:
        rec = ContainerRecord.load(bundle)
    except FileNotFoundError:
        server.finish(code)
        return False  # removed meanwhile (rm -f): nothing left to record
    rec.exit_code, rec.finished_at, rec.oom_killed = code, now_rfc3339(), oom
    policy = restart_policy(rec.restart_policy or "no")
    stopped = os.path.exists(os.path.join(bundle, STOPPED_MARKER))
    again = policy.should_restart(code, rec.restart_count, stopped)
    rec.restarting = again
    rec.save()
    server.finish(code)  # after the record: a client that has the code finds it there too
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
