"""The OCI verbs that end things: kill, delete — and the signal that never
hits a recycled pid."""

from __future__ import annotations

import os

from launcher.backend.linux import procinfo
from launcher.backend.linux.procinfo import SIGKILL
from launcher.backend.linux.state import ContainerState
from launcher.errors import ConflictError, LauncherError, RuntimeFailure


def kill(root: str, cid: str, sig: int, all_procs: bool) -> None:
    st = ContainerState.load(root, cid)
    status = st.status()
    # --all signals whatever is left in the cgroup, which may be nothing once
    # init is gone (runc allows it then too, e.g. to reap a stopped container).
    if status in ("stopped", "creating") and not all_procs:
        raise ConflictError(f"container {cid} is not running")
    if all_procs and st.cgroup_path:
        from launcher.backend.linux.cgroups import open_manager

        for pid in open_manager(st.cgroup_path, st.cgroup_layout or None).pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return
    signal_pid(st.pid, st.pid_start, sig)


def signal_pid(pid: int, start: int | None, sig: int) -> None:
    """Signal through a pidfd opened *then* verified: a recycled pid is never hit."""
    from launcher.backend.linux.syscalls import real

    s = real()
    try:
        pidfd = s.pidfd_open(pid)
    except OSError as exc:
        raise ConflictError(f"process {pid} is gone") from exc
    try:
        if not procinfo.is_alive(pid, start):
            raise ConflictError(f"process {pid} is gone")
        s.pidfd_send_signal(pidfd, sig)
    except OSError as exc:
        raise RuntimeFailure(f"signalling pid {pid}: {exc.strerror}") from exc
    finally:
        os.close(pidfd)


def delete(root: str, cid: str, force: bool) -> None:
    """Remove a stopped (or, with force, any) container and everything it holds."""
    from launcher.errors import NotFoundError, StateError

    try:
        st = ContainerState.load(root, cid)
    except NotFoundError:
        if force:  # as runc: forcing the removal of nothing succeeds
            return
        raise
    except StateError:
        if not force:
            raise
        _rmtree(os.path.join(root, cid))
        return
    status = st.status()
    if status != "stopped" and not force:
        raise ConflictError(f"cannot delete container {cid} that is {status}: "
                            "stop it first or use --force")
    cg = None
    if st.cgroup_path:
        from launcher.backend.linux.cgroups import open_manager

        cg = open_manager(st.cgroup_path, st.cgroup_layout or None)
        if status == "paused":
            cg.thaw()
    if status != "stopped":
        procinfo.kill_and_wait(st.pid, st.pid_start)
    if cg is not None:
        try:
            for pid in cg.pids():  # no pid namespace: init's death leaves others
                os.kill(pid, SIGKILL)
        except (OSError, LauncherError):
            pass
        cg.destroy()
    _poststop(st)
    _rmtree(st.dir)


def _rmtree(path: str) -> None:
    from launcher.fsutil import remove_tree

    try:
        remove_tree(path)
    except OSError:
        pass


def _poststop(st: ContainerState) -> None:
    hooks = st.spec.get("hooks") or {}
    if hooks.get("poststop"):
        from launcher.backend.linux.hooks import run_hooks
        from launcher.spec.model import Hooks

        state = st.oci_state() | {"status": "stopped"}
        for w in run_hooks(Hooks.from_json(hooks).poststop, state, "poststop"):
            os.write(2, f"launcher: warning: {w}\n".encode())


def set_frozen(root: str, cid: str, freeze: bool) -> None:
    """Pause (freeze the cgroup) a running container, or resume a paused one."""
    from launcher.backend.linux.cgroups import open_manager

    st = ContainerState.load(root, cid)
    status = st.status()
    want = "running" if freeze else "paused"
    if status != want:
        verb = "pause" if freeze else "resume"
        raise ConflictError(f"cannot {verb} container {cid}: it is {status}, not {want}")
    if not st.cgroup_path:
        from launcher.errors import UnsupportedError

        verb = "pause" if freeze else "resume"
        raise UnsupportedError(f"cannot {verb} container {cid}: it has no cgroup "
                               "(rootless: only a delegated cgroup v2 gives one)")
    cg = open_manager(st.cgroup_path, st.cgroup_layout or None)
    cg.freeze() if freeze else cg.thaw()
