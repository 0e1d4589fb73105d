"""``exec``: run another process inside a running container.

The joining process is made non-dumpable before it enters any namespace (no
ptrace or /proc/PID/mem from inside, CVE-2019-5736), holds no fd beyond its
stdio and the report pipe when it execs, and proves its cwd is inside the
container (CVE-2024-21626).
"""

from __future__ import annotations

import os

from launcher.backend.linux import namespaces, process, procinfo
from launcher.backend.linux import syscalls as sc
from launcher.backend.linux.channel import Channel, error_from
from launcher.backend.linux.state import ContainerState
from launcher.errors import ConflictError, RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.backend.linux.syscalls import Syscalls
    from launcher.spec.model import Process


class ExecOptions:
    __slots__ = ("console_fd", "detach", "exec_helper", "ignore_paused", "pid_file", "preserve_fds",
                 "proxy_fd", "seccomp")

    def __init__(self) -> None:
        self.console_fd = -1
        self.ignore_paused = False
        self.proxy_fd = -1  # our end of the console pair: we hold the pty (no socket)
        self.detach = False
        self.pid_file: str | None = None
        self.preserve_fds = 0
        self.seccomp: tuple[bytes, int] | None = None  # the container's (BPF, flags)
        self.exec_helper = -1  # sealed memfd of the exec helper (exechelper.py)


def _ns_fds(pid: int) -> list[tuple[str, int]]:
    """Open the container's namespaces *before* joining any (paths change after)."""
    out: list[tuple[str, int]] = []
    for typ in namespaces.JOIN_ORDER:
        name = namespaces.PROC_NAMES.get(typ, typ)
        mine, theirs = f"/proc/self/ns/{name}", f"/proc/{pid}/ns/{name}"
        try:
            if os.stat(mine).st_ino == os.stat(theirs).st_ino:
                continue  # shared with us: joining our own user ns is even an error
            out.append((typ, os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)))
        except FileNotFoundError:
            continue  # a kernel without this namespace type
        except OSError as exc:
            raise RuntimeFailure(f"opening {theirs}: {exc.strerror}") from exc
    return out


def exec_process(root: str, cid: str, proc: Process, sys: Syscalls, opts: ExecOptions) -> int:
    """Start ``proc`` in container ``cid``; the exit code, or 0 when detached."""
    from launcher.backend.linux.cgroups import open_manager
    from launcher.backend.linux.init import _assert_single_threaded

    st = ContainerState.load(root, cid)
    status = st.status()
    allowed = ("running", "created", "paused") if opts.ignore_paused else ("running", "created")
    if status == "paused" and status not in allowed:
        raise ConflictError(f"cannot exec in a paused container {cid} (use --ignore-paused)")
    if status not in allowed:
        raise ConflictError(f"cannot exec in container {cid}: it is {status}")
    from launcher.backend.linux.state import load_seccomp

    opts.seccomp = load_seccomp(st.dir)  # exec'd processes get the container's filter
    fds = _ns_fds(st.pid)
    cg = open_manager(st.cgroup_path, st.cgroup_layout or None) if st.cgroup_path else None
    parent, child = Channel.pair()
    if not opts.detach:
        sys.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    _assert_single_threaded()
    from launcher.backend.linux.clone import fork_into_cgroup

    # Born in the container's cgroup2 cgroup: no migration (~20 ms of RCU wait).
    pid, born = fork_into_cgroup(cg.unified_dir() if cg is not None else None)
    if pid == 0:
        parent.close()
        _joiner(sys, proc, fds, cg, child, opts, born)
    child.close()
    for _t, fd in fds:
        os.close(fd)
    if opts.console_fd >= 0:
        os.close(opts.console_fd)
    try:
        kind, payload = parent.recv()
        if kind == "error":
            raise error_from(payload)
        if kind != "pid":
            raise RuntimeFailure("exec: the joining process died")
        target = int(payload)
        kind, payload = parent.recv()  # EOF once the process has exec'd
        if kind == "error":
            raise error_from(payload)
    finally:
        parent.close()
        procinfo.reap(pid)
    if opts.pid_file:
        from launcher.backend.linux.lifecycle import write_pid_file

        try:
            write_pid_file(opts.pid_file, target)
        except OSError as exc:
            os.kill(target, 9)  # nobody could ever find it: do not leave it running
            raise RuntimeFailure(f"writing pid file {opts.pid_file}: {exc.strerror}") from exc
    if opts.detach:
        return 0
    if opts.proxy_fd >= 0:
        from launcher.backend.linux.ttyproxy import proxy

        return proxy(opts.proxy_fd, target, True)
    from launcher.backend.linux.procinfo import wait_exit

    return wait_exit(target)


def _joiner(sys: Syscalls, proc: Process, fds: list[tuple[str, int]], cg: object | None,
            ch: Channel, opts: ExecOptions, born_in_cgroup: bool) -> None:
    """The forked child: join, fork into the pid namespace, exec. Never returns."""
    from launcher.backend.linux.init import _report

    code = 1
    try:
        from launcher.backend.linux.init import preload

        sys.prctl(sc.PR_SET_DUMPABLE, 0)
        preload(proc, False)
        from launcher.backend.linux.exechelper import sealed_fd

        opts.exec_helper = sealed_fd(os.uname().machine, ch.wfd,
                                     proc.args[0] if proc.args else "")
        if cg is not None:
            cg.add_self(v2=not born_in_cgroup)  # type: ignore[attr-defined]
        for typ, fd in fds:
            sys.setns(fd, namespaces.FLAGS[typ])
            os.close(fd)
        from launcher.backend.linux.init import report_pid_after_fork

        if report_pid_after_fork(ch, any(t == "pid" for t, _ in fds)):
            code = 0
            return
        _final(sys, proc, ch, opts)
    except BaseException as exc:
        _report(ch, exc)
    finally:
        os._exit(code)


def _final(sys: Syscalls, proc: Process, ch: Channel, opts: ExecOptions) -> None:
    os.setsid()
    if proc.terminal:
        from launcher.backend.linux.console import setup_terminal

        setup_terminal(sys, opts.console_fd, proc)
    process.set_oom_score_adj(sys, proc)
    process.set_rlimits(sys, proc)
    path = process.find_executable(proc.args[0], proc.env) if proc.args else ""
    env = process.exec_env(proc)
    process.drop_privileges(sys, proc, opts.seccomp)
    process.enter_cwd(proc.cwd or "/")
    keep = (*range(3, 3 + opts.preserve_fds), ch.wfd, opts.exec_helper)
    process.close_fds(keep)
    from launcher.backend.linux.exechelper import execve

    try:
        execve(opts.exec_helper, ch.wfd, path, proc.args or [], env)
    except OSError as exc:
        from launcher.errors import ExecFailure

        raise ExecFailure(f'exec: "{proc.args[0] if proc.args else path}": {exc.strerror}',
                          process.exec_error_code(exc)) from exc
