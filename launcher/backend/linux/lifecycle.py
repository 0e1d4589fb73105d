"""The OCI verbs on the native backend: create, start, run, kill, delete, state.

Each verb loads the state and re-derives the status from the live process
before deciding (``state.ContainerState.status``).  ``create`` registers an
undo for every host change (state dir, cgroup, init process) and rolls them
back in reverse on any failure, so a failed create leaves nothing behind.
"""

from __future__ import annotations

import os

from launcher.backend.linux import init as init_mod
from launcher.backend.linux import procinfo
from launcher.backend.linux.channel import Channel, error_from
from launcher.backend.linux.state import ContainerState, claim
from launcher.errors import ConflictError, LauncherError, RuntimeFailure
from launcher.faults import point
from launcher.paths import CONFIG_FILE, EXEC_FIFO

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from launcher.backend.linux.syscalls import Syscalls
    from launcher.spec.model import Spec



class CreateOptions:
    __slots__ = ("cgroup_parent", "console_fd", "gate", "pid_file", "premount", "preserve_fds",
                 "stdin_null", "subreaper", "systemd_cgroup", "trace")

    def __init__(self) -> None:
        self.pid_file: str | None = None
        self.console_fd = -1
        self.gate = "fifo"  # "fifo": create/start; "pipe": run (start right away)
        self.preserve_fds = 0
        self.stdin_null = False
        self.subreaper = False  # become the init's parent, to wait for it (run)
        self.cgroup_parent = "launcher-runtime"
        self.systemd_cgroup = False
        self.trace: Callable[[str], None] | None = None
        self.premount: Callable[[], object] | None = None  # rootfs mount made inside init


class Created:
    """A created container: its state, and for ``run`` the channel to start it."""

    __slots__ = ("cgroup", "channel", "state")

    def __init__(self, state: ContainerState, channel: Channel | None, cgroup: object) -> None:
        self.state = state
        self.channel = channel
        self.cgroup = cgroup


class Undo:
    """Host changes registered as they happen; ``rollback`` undoes them in reverse."""

    __slots__ = ("steps",)

    def __init__(self) -> None:
        self.steps: list[tuple[str, Callable[[], object]]] = []

    def add(self, what: str, fn: Callable[[], object]) -> None:
        self.steps.append((what, fn))

    def run(self, what: str) -> None:
        """Undo one step now (it is done with early), and forget it."""
        for i, (name, fn) in enumerate(self.steps):
            if name == what:
                del self.steps[i]
                fn()
                return

    def forget(self, what: str) -> None:
        """Keep what step ``what`` made: it is no longer undone."""
        self.steps = [(name, fn) for name, fn in self.steps if name != what]

    def rollback(self) -> None:
        while self.steps:
            _what, fn = self.steps.pop()
            try:
                fn()
            except Exception:  # keep undoing: one failure must not strand the rest
                pass


def load_bundle_spec(bundle: str) -> Spec:
    from launcher.spec.model import load_spec
    from launcher.spec.validate import validate

    spec = load_spec(os.path.join(bundle, CONFIG_FILE))
    validate(spec, bundle)
    return spec


def cgroup_path_for(spec: Spec, cid: str, opts: CreateOptions) -> str:
    path = spec.linux.cgroups_path if spec.linux else None
    if path and opts.systemd_cgroup and ":" in path:
        from launcher.backend.linux.cgroups import systemd_to_path

        return systemd_to_path(path)
    return path or f"/{opts.cgroup_parent}/{cid}"


def create(root: str, cid: str, bundle: str, sys: Syscalls, opts: CreateOptions,
           spec: Spec | None = None) -> Created:
    """Claim the id, make the cgroup, start init and wait until it is ready.

    ``spec`` defaults to the bundle's config.json (a caller that just wrote
    it passes the object and saves the re-read)."""
    bundle = os.path.abspath(bundle)
    if spec is None:
        spec = load_bundle_spec(bundle)
    else:
        from launcher.spec.validate import validate

        validate(spec, bundle)
    undo = Undo()
    directory = claim(root, cid)
    undo.add("state dir", lambda: _rmtree(directory))
    try:
        return _create(spec, cid, directory, bundle, sys, opts, undo)
    except BaseException:
        undo.rollback()
        raise


def _create(spec: Spec, cid: str, directory: str, bundle: str, sys: Syscalls,
            opts: CreateOptions, undo: Undo) -> Created:
    trace = opts.trace or (lambda _s: None)
    st = _initial_state(spec, cid, directory, bundle, opts)
    st.save()  # pid 0: "creating", with the cgroup recorded for delete --force
    point("create.state")
    cg = _make_cgroup(spec, st, undo)
    point("create.cgroup")
    trace("cgroup")
    plan = _plan(spec, bundle, sys, cg, st, opts)
    plan.seccomp = seccomp_program(spec)
    if plan.seccomp is not None:  # for `exec`: the same filter, no config to parse
        from launcher.backend.linux.state import save_seccomp

        save_seccomp(directory, *plan.seccomp)
    if opts.gate == "fifo":
        os.mkfifo(os.path.join(directory, EXEC_FIFO), 0o622)
        plan.fifo_fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    if opts.subreaper:
        from launcher.backend.linux import syscalls as sc

        sys.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    parent_ch, child_ch = Channel.pair()
    child = init_mod.start_children(plan, parent_ch, child_ch)
    undo.add("setup child", lambda: procinfo.try_reap(child))
    for fd in (plan.fifo_fd, opts.console_fd):
        if fd >= 0:
            os.close(fd)
    trace("fork")
    point("create.forked")
    _await_init(spec, st, plan, parent_ch, undo)
    point("create.ready")
    trace("init ready")
    if child != st.pid:  # without a pid namespace the setup child *is* init
        procinfo.reap(child)
    if opts.pid_file:
        write_pid_file(opts.pid_file, st.pid)
    undo.steps.clear()
    if opts.gate == "pipe":
        return Created(st, parent_ch, cg)
    parent_ch.close()
    return Created(st, None, cg)


def _initial_state(spec: Spec, cid: str, directory: str, bundle: str,
                   opts: CreateOptions) -> ContainerState:
    from launcher.backend.linux import rootfs
    from launcher.host import cgroup_layout
    from launcher.spec.model import to_json_without_seccomp

    st = ContainerState(cid, directory)
    st.bundle = bundle
    st.rootfs = rootfs.root_path(spec, bundle)
    # the filter is kept compiled in the state directory (seccomp.bpf, what exec
    # loads) and in full in the bundle's config.json; a third copy in state.json
    # would be serialized and parsed on every save and load (~10 KB, ~0.1 ms each)
    st.spec = to_json_without_seccomp(spec)
    st.created = _now()
    st.owner = _owner()
    linux = spec.linux
    if os.geteuid() != 0 and not (linux and linux.cgroups_path) \
            and not _limits(linux.resources if linux else None):
        st.cgroup_path = ""  # rootless, no cgroupsPath, nothing to limit: none, as runc
    else:
        st.cgroup_path = cgroup_path_for(spec, cid, opts)
    st.cgroup_layout = cgroup_layout()
    return st


def _make_cgroup(spec: Spec, st: ContainerState, undo: Undo) -> Any:
    """The container's cgroup, with its limits (and the devices every container needs)."""
    from launcher.backend.linux.cgroups import open_manager

    if not st.cgroup_path:
        return None
    cg = open_manager(st.cgroup_path, st.cgroup_layout or None)
    res = spec.linux.resources if spec.linux is not None else None
    try:
        cg.create()
    except LauncherError:
        if os.geteuid() == 0 or _limits(res):
            raise
        # Rootless, a cgroupsPath that is not delegated and nothing to limit:
        # run without one, as runc does.
        st.cgroup_path = ""
        st.save()
        return None
    undo.add("cgroup", cg.destroy)
    if res is not None:
        if res.devices is not None:
            from launcher.backend.linux.devices import device_rules

            res.devices = device_rules(spec)  # type: ignore[assignment]
        cg.apply(res)
    return cg


def seccomp_program(spec: Spec) -> tuple[bytes, int] | None:
    """The config's seccomp filter as BPF and seccomp(2) flags, compiled here in
    the parent (carried by a prepared config, else cached: launcher.seccomp.bpf)
    so init only loads it."""
    sec = spec.linux.seccomp if spec.linux is not None else None
    if sec is None:
        return None
    from launcher.spec import security

    prog = security.carried_program(sec)
    if prog is None:
        from launcher.seccomp import bpf

        prog = bpf.program(sec, security.cache_dir())
    return prog, security.flags(sec)


def _limits(res: Any) -> bool:
    """Whether ``linux.resources`` limits anything (device rules aside)."""
    if res is None:
        return False
    data = res.to_json()
    data.pop("devices", None)
    return bool(data)


def _plan(spec: Spec, bundle: str, sys: Syscalls, cg: Any, st: ContainerState,
          opts: CreateOptions) -> init_mod.InitPlan:
    from launcher.backend.linux import cgroupmount

    plan = init_mod.InitPlan(spec, bundle, sys)
    plan.cgroup = cg
    plan.cgroup_binds = (cgroupmount.binds(st.cgroup_layout, st.cgroup_path)
                         if st.cgroup_path else [])
    plan.console_fd = opts.console_fd
    plan.preserve_fds = opts.preserve_fds
    plan.stdin_null = opts.stdin_null
    plan.premount = opts.premount
    h = spec.hooks
    plan.hooks_in_init = bool(h and (h.prestart or h.create_runtime or h.create_container
                                     or h.start_container))
    return plan


def _await_init(spec: Spec, st: ContainerState, plan: init_mod.InitPlan, ch: Channel,
                undo: Undo) -> None:
    """The parent's half of the conversation: id maps, the pid, hooks, ready."""
    kind, payload = _next(ch)
    if kind == "userns":
        from launcher.backend.linux.namespaces import write_id_maps

        write_id_maps(int(payload), spec)
        ch.send("mapped")
        kind, payload = _next(ch)
    if kind != "pid":
        raise RuntimeFailure(f"container init: unexpected message {kind!r}")
    st.pid = int(payload)
    st.pid_start = procinfo.start_time(st.pid)
    undo.add("init", lambda: procinfo.kill_and_wait(st.pid, st.pid_start))
    st.save()
    if plan.hooks_in_init:
        ch.expect("mounted")
        _run_parent_hooks(spec, st)
        ch.send("continue", st.oci_state() | {"status": "created", "pid": st.pid})
    ch.expect("ready")


def _next(ch: Channel) -> tuple[str, Any]:
    kind, payload = ch.recv()
    if kind == "error":
        raise error_from(payload)
    if kind == "eof":
        raise RuntimeFailure("container init exited during setup")
    return kind, payload


def _run_parent_hooks(spec: Spec, st: ContainerState) -> None:
    hooks = spec.hooks
    if hooks is None or not (hooks.prestart or hooks.create_runtime):
        return
    from launcher.backend.linux.hooks import run_hooks

    # The hooks see the container as the spec describes it once create is done.
    state = st.oci_state() | {"status": "created", "pid": st.pid}
    run_hooks(hooks.prestart, state, "prestart")
    run_hooks(hooks.create_runtime, state, "createRuntime")


def write_pid_file(path: str, pid: int) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(str(pid))
    os.rename(tmp, path)


def _rmtree(path: str) -> None:
    from launcher.fsutil import remove_tree

    try:
        remove_tree(path)
    except OSError:
        pass


def _now() -> str:
    import time

    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def _owner() -> str:
    uid = os.geteuid()
    if uid == 0:
        return "root"
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def start(root: str, cid: str) -> ContainerState:
    """Open the exec fifo: init, blocked on it, goes on to exec the process."""
    import select

    st = ContainerState.load(root, cid)
    status = st.status()
    if status != "created":
        raise ConflictError(f"cannot start container {cid} in state {status!r}: "
                            "only a created container can be started")
    if not st.spec.get("process"):
        procinfo.kill_and_wait(st.pid, st.pid_start)
        raise ConflictError(f"cannot start container {cid}: its config has no process")
    fifo = os.path.join(st.dir, EXEC_FIFO)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready and os.read(fd, 1):
                break
            if not st.alive():
                raise RuntimeFailure(f"container {cid} init exited before start")
    finally:
        os.close(fd)
    os.unlink(fifo)
    _poststart(st)
    return st


def _poststart(st: ContainerState) -> None:
    hooks = st.spec.get("hooks") or {}
    if hooks.get("poststart"):
        from launcher.backend.linux.hooks import run_hooks
        from launcher.spec.model import Hooks

        state = st.oci_state() | {"status": "running", "pid": st.pid}
        for w in run_hooks(Hooks.from_json(hooks).poststart, state, "poststart"):
            _warn(w)


def _warn(msg: str) -> None:
    os.write(2, f"launcher: warning: {msg}\n".encode())


def release_after_exec(created: Created) -> None:
    """``run``: tell init to exec, then learn whether the exec worked."""
    ch = created.channel
    assert ch is not None
    ch.send("start")
    ch.close_write()
    try:
        kind, payload = ch.recv()
        if kind == "error":
            raise error_from(payload)
    finally:
        ch.close_read()
    _poststart(created.state)
