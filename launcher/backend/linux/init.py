"""Container init: what runs in the forked children until the user's program.

The runtime process is single-threaded when it forks (``create`` checks), so
forking Python here is safe; nothing below starts a thread.  Two processes:

* the *setup child* joins the cgroup and existing namespaces, creates the
  user namespace (the parent writes its id maps), unshares the rest, and —
  because a new pid namespace applies to children only — forks init and exits;
* *init* (pid 1 of the container) builds the filesystem, pivots, waits at the
  start gate, drops privileges and execs.

Every failure is reported to the parent as one ``error`` message and ends the
process with ``os._exit``: a child never returns into the caller's code.
"""

from __future__ import annotations

import os

from launcher.backend.linux import namespaces, process, rootfs
from launcher.backend.linux import syscalls as sc
from launcher.errors import ExecFailure, LauncherError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from launcher.backend.linux.channel import Channel
    from launcher.backend.linux.syscalls import Syscalls
    from launcher.spec.model import Process, Spec


class InitPlan:
    """Everything init needs, handed over in memory across fork."""

    __slots__ = (
        "born_in_cgroup",
        "bundle",
        "cgroup",
        "cgroup_binds",
        "console_fd",
        "exec_helper",
        "fifo_fd",
        "hooks_in_init",
        "ns",
        "premount",
        "preserve_fds",
        "seccomp",
        "spec",
        "stdin_null",
        "sys",
    )

    def __init__(self, spec: Spec, bundle: str, sys: Syscalls) -> None:
        self.spec = spec
        self.bundle = bundle
        self.sys = sys
        self.ns = namespaces.plan(spec)
        self.cgroup: object | None = None  # a CgroupManager; the child joins it
        self.cgroup_binds: list[tuple[str, str]] = []
        self.console_fd = -1  # a unix socket to send the pty master to
        self.fifo_fd = -1  # O_PATH fd of the state dir holding exec.fifo (the start gate)
        self.hooks_in_init = False  # any create-time hooks: sync with the parent
        self.preserve_fds = 0
        self.stdin_null = False
        self.born_in_cgroup = False  # the setup child was cloned into the cgroup2 dir
        self.premount: Callable[[], object] | None = None  # see RootfsContext.premount
        self.seccomp: tuple[bytes, int] | None = None  # BPF and flags, loaded before exec
        self.exec_helper = -1  # sealed memfd of the exec helper (exechelper.py)


def _report(ch: Channel, exc: BaseException) -> None:
    code = exc.exit_code if isinstance(exc, ExecFailure) else 0
    if isinstance(exc, LauncherError):
        msg = str(exc)
    elif isinstance(exc, OSError):
        msg = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    else:
        msg = f"{type(exc).__name__}: {exc}"
    ch.send("error", [msg, code])


def setup_child(plan: InitPlan, ch: Channel) -> None:
    """Runs in the first child; never returns."""
    code = 1
    try:
        sys = plan.sys
        # Before any namespace change: a user namespace may lose the right to
        # read the host's Python library, a mount namespace its path.
        preload(plan.spec.process, plan.hooks_in_init)
        if plan.cgroup is not None:  # before the cgroup namespace: its root is where we are
            plan.cgroup.add_self(v2=not plan.born_in_cgroup)  # type: ignore[attr-defined]
        namespaces.join_all(sys, plan.ns.joins)
        flags = plan.ns.new_flags
        if flags & sc.CLONE_NEWUSER:
            sys.unshare(sc.CLONE_NEWUSER)
            ch.send("userns", os.getpid())
            ch.expect("mapped")
            sys.setresgid(0)
            sys.setresuid(0)
            flags &= ~sc.CLONE_NEWUSER
        if flags:
            sys.unshare(flags)
        if flags & sc.CLONE_NEWNET:
            sys.loopback_up()
        if report_pid_after_fork(ch, plan.ns.needs_fork):
            code = 0
            return
        init_main(plan, ch)
    except BaseException as exc:
        _report(ch, exc)
    finally:
        os._exit(code)


def report_pid_after_fork(ch: Channel, fork: bool) -> bool:
    """Fork (a new or joined pid namespace applies to children only) and
    report the pid that will exec; True in the parent, which should exit."""
    if not fork:
        ch.send("pid", os.getpid())
        return False
    # The child writes on the same channel: it waits until "pid" is sent, so
    # the parent never reads its next message first (seen with 100 parallel runs).
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(rfd)
        try:
            ch.send("pid", pid)
        finally:
            os.close(wfd)
        return True
    os.close(wfd)
    os.read(rfd, 1)  # EOF once the parent has sent (or died)
    os.close(rfd)
    return False


def init_main(plan: InitPlan, ch: Channel) -> None:
    """Container pid 1 up to exec; raises on failure (setup_child reports it)."""
    sys = plan.sys
    spec = plan.spec
    proc = spec.process or _idle_process()
    os.setsid()
    if proc.args:  # now, while the host's Python library is still in reach
        from launcher.backend.linux.exechelper import sealed_fd

        plan.exec_helper = sealed_fd(os.uname().machine, ch.wfd, proc.args[0])
    ctx = rootfs.RootfsContext(plan.bundle, plan.cgroup_binds, plan.ns.has("user"),
                               plan.ns.has("network"))
    ctx.premount = plan.premount
    root = rootfs.prepare(spec, sys, ctx) if plan.ns.has("mount") else None
    state = None
    if plan.hooks_in_init:
        ch.send("mounted", None)
        state = ch.expect("continue")  # the parent ran prestart/createRuntime hooks
        if spec.hooks is not None:
            from launcher.backend.linux.hooks import run_hooks

            run_hooks(spec.hooks.create_container, state, "createContainer")
    if spec.hostname is not None and plan.ns.has("uts"):
        sys.sethostname(spec.hostname)
    if spec.domainname is not None and plan.ns.has("uts"):
        sys.setdomainname(spec.domainname)
    if root is not None:
        rootfs.pivot(sys, root)
    else:  # no mount namespace: pivot_root is impossible, chroot is what is left
        _chroot(rootfs.root_path(spec, plan.bundle))
    _sysctls(sys, spec)
    if root is not None:
        rootfs.finalize(spec, sys)
    if proc.terminal:
        from launcher.backend.linux.console import setup_terminal

        setup_terminal(sys, plan.console_fd, proc)
    elif plan.console_fd >= 0:
        os.close(plan.console_fd)
    if plan.stdin_null and not proc.terminal:
        _stdin_null()
    process.set_oom_score_adj(sys, proc)
    process.set_rlimits(sys, proc)
    path = process.find_executable(proc.args[0], proc.env) if proc.args else ""
    _make_cwd(sys, proc.cwd or "/")
    _chdir(proc.cwd or "/")
    ch.send("ready", None)
    _wait_gate(plan, ch)
    if plan.hooks_in_init and spec.hooks is not None:
        from launcher.backend.linux.hooks import run_hooks

        run_hooks(spec.hooks.start_container, state, "startContainer")
    env = process.exec_env(proc, _listen_fds(plan.preserve_fds))
    process.drop_privileges(sys, proc, plan.seccomp)
    _chdir(proc.cwd or "/")  # again as the user: a directory root may enter but the user not
    _exec(plan, ch, path, env)


def _idle_process() -> Process:
    """Stands in when the config has no process: init waits, start refuses."""
    from launcher.spec.model import Process

    return Process.from_json({"args": [], "cwd": "/"})


def _chroot(path: str) -> None:
    from launcher.errors import RuntimeFailure

    try:
        os.chroot(path)
        os.chdir("/")
    except OSError as exc:
        raise RuntimeFailure(f"chroot to {path}: {exc.strerror}") from exc


def preload(proc: Process | None, hooks: bool) -> None:
    """Import now what the steps after pivot_root (or setns) will need: the
    host's Python library is out of reach from inside the container."""
    names = ["launcher.spec.caps", "fcntl", "launcher.fsutil", "launcher.backend.linux.fsroot"]
    if proc is not None and proc.rlimits:
        names.append("resource")
    if proc is not None and proc.terminal:
        names += ["fcntl", "socket", "struct", "launcher.backend.linux.console"]
    if hooks:
        names += ["subprocess", "launcher.backend.linux.hooks"]
    for name in names:
        __import__(name)


def _stdin_null() -> None:
    """stdin from the container's own /dev/null (we are past pivot_root)."""
    null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    os.dup2(null, 0)
    os.close(null)


def _make_cwd(sys: Syscalls, cwd: str) -> None:
    """A missing working directory is created, as Docker, podman and runc do:
    inside the root (fd-relative, symlinks kept in), mode 0755, owned by root."""
    from launcher.backend.linux import fsroot
    from launcher.errors import RuntimeFailure

    root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.close(fsroot.mkdir_all_in_root(sys, root, cwd))
    except OSError as exc:
        raise RuntimeFailure(f"working directory {cwd}: {exc.strerror}") from exc
    finally:
        os.close(root)


def _chdir(cwd: str) -> None:
    process.enter_cwd(cwd or "/")


def _sysctls(sys: Syscalls, spec: Spec) -> None:
    from launcher.errors import RuntimeFailure

    for key, value in ((spec.linux.sysctl if spec.linux else None) or {}).items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            sys.write_file(path, value)
        except OSError as exc:
            raise RuntimeFailure(f"setting sysctl {key}={value}: {exc.strerror}") from exc


def _wait_gate(plan: InitPlan, ch: Channel) -> None:
    """Block until ``start``: the exec fifo (create/start) or the parent's word (run)."""
    if plan.fifo_fd >= 0:
        # Through the state dir's fd: the fifo is in the host's state dir, out of
        # reach by path after pivot_root/chroot (and /proc may not be mounted).
        from launcher.paths import EXEC_FIFO

        fd = os.open(EXEC_FIFO, os.O_WRONLY | os.O_CLOEXEC, dir_fd=plan.fifo_fd)
        os.write(fd, b"0")
        os.close(fd)
        os.close(plan.fifo_fd)
    else:
        ch.expect("start")


def _listen_fds(n: int) -> list[str]:
    """systemd socket activation for --preserve-fds: fds 3..3+n-1, for us."""
    return [f"LISTEN_FDS={n}", f"LISTEN_PID={os.getpid()}"] if n else []


def _exec(plan: InitPlan, ch: Channel, path: str, env: dict[str, str]) -> None:
    proc = plan.spec.process
    if proc is None or not proc.args:
        from launcher.errors import RuntimeFailure

        raise RuntimeFailure("the container's config has no process to start")
    keep = (*range(3, 3 + plan.preserve_fds), ch.wfd, plan.exec_helper)
    process.close_fds(keep)
    from launcher.backend.linux.exechelper import execve

    try:
        execve(plan.exec_helper, ch.wfd, path, proc.args or [], env)
    except OSError as exc:
        code = process.exec_error_code(exc)
        raise ExecFailure(f'exec: "{proc.args[0] if proc.args else path}": {exc.strerror}',
                          code) from exc


def start_children(plan: InitPlan, ch: Channel, child_end: Channel,
                   before_fork: Callable[[], None] | None = None) -> int:
    """Fork the setup child; returns its pid (in the parent only)."""
    _assert_single_threaded()
    if before_fork:
        before_fork()
    from launcher.backend.linux.clone import fork_into_cgroup

    target = plan.cgroup.unified_dir() if plan.cgroup is not None else None  # type: ignore[attr-defined]
    pid, plan.born_in_cgroup = fork_into_cgroup(target)
    if pid == 0:
        ch.close()
        setup_child(plan, child_end)
    child_end.close()
    return pid


def _assert_single_threaded() -> None:
    """fork() in a threaded process can deadlock the child: refuse, loudly."""
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"Threads:"):
                if int(line.split()[1]) != 1:
                    from launcher.errors import RuntimeFailure

                    raise RuntimeFailure("internal error: container init would be forked "
                                         "from a multi-threaded process")
                return
