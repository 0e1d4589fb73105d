"""The native Linux backend: images from the local store, containers through
the same lifecycle code as ``launcher-runtime``, no daemon.

``run`` registers an undo for each host change (bundle dir, name claim,
rootfs mount, runtime state and cgroup, network attachments) so a failure
anywhere — bad input, a missing command, Ctrl-C — leaves nothing behind.
Networking (launcher/network/container.py) is prepared with the spec (the
bundle's /etc files) and set up between create and exec, while init waits at
its start gate; an attached run tears it down as soon as the container exits.
"""

from __future__ import annotations

import os

from launcher.backend.linux import lifecycle, procinfo, teardown
from launcher.backend.linux.lifecycle import Undo
from launcher.backend.linux.record import ContainerRecord, now_rfc3339
from launcher.errors import NotFoundError
from launcher.faults import point

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from launcher.backend.linux.forward import forward_signals
    from launcher.image.store import Image, ImageStore
    from launcher.network.prepare import Prepared
    from launcher.network.runconfig import NetConfig
    from launcher.paths import Paths
    from launcher.spec.model import Spec
    from launcher.spec.request import RunRequest

DEFAULT_IMAGE_NAMES = frozenset({"busybox", "busybox:latest", "docker.io/library/busybox:latest"})


class NativeBackend:
    name = "native"
    features = frozenset({"run", "import", "cgroups", "namespaces"})

    def __init__(self, paths: Paths) -> None:
        self.paths = paths

    @property
    def runtime_root(self) -> str:
        return os.path.join(self.paths.state, "runtime")

    def _image(self, store: ImageStore, req: RunRequest) -> Image:
        """The image to run, by ``--pull`` policy: the store's, the offline default
        image for ``busybox``, or pulled from its registry."""
        if req.pull != "always":
            try:
                return store.get(req.image)
            except NotFoundError:
                if req.pull == "never":
                    raise
            if req.image in DEFAULT_IMAGE_NAMES:
                from launcher.image.bootstrap import ensure_default_image

                return ensure_default_image(store)
        return _pull(store, req)

    def run(self, req: RunRequest, mark: Callable[[str], None]) -> int:
        from launcher.backend.linux.forward import forward_signals
        from launcher.backend.linux.syscalls import real
        from launcher.image.lock import store_lock
        from launcher.image.store import ImageStore

        store = ImageStore(self.paths)
        # Shared store lock from reading the image until the bundle's config.json
        # names its layers (from then on GC sees them in use); released in _run.
        lock = store_lock(self.paths, exclusive=False)
        lock.__enter__()
        undo = Undo()
        undo.add("store lock", lambda: lock.__exit__(None, None, None))
        try:
            image = self._image(store, req)
            mark("image")
            _single_threaded()  # the container is forked from this process
            cid = os.urandom(32).hex()
            # From here every signal either stops the run cleanly (before the
            # container exists) or goes to the container (once it does).
            with forward_signals(None) as fwd:
                return self._run(req, image, cid, real(), undo, mark, fwd)
        finally:
            undo.rollback()

    def _run(self, req: RunRequest, image: Image, cid: str, sys: Any, undo: Undo,
             mark: Callable[[str], None], fwd: forward_signals) -> int:
        from launcher.backend.linux import layout
        from launcher.image.rootfs import prepare_rootfs, release_rootfs
        from launcher.spec.model import dump_spec

        if req.restart != "no" and (req.remove or not req.detach):
            from launcher.errors import UsageError

            why = "--rm" if req.remove else "an attached run (use -d)"
            raise UsageError(f"conflicting options: --restart and {why}")
        netcfg = _net_config(req, image)  # Docker's conflicts: before anything is made
        bundle, creating = layout.make_bundle_dir(self.paths, cid)
        # Until the container exists a failure removes everything; after that
        # only --rm does (_start keeps the bundle and name of the others).
        undo.add("bundle", lambda: layout.remove_tree(bundle))
        undo.add("creation lock", lambda: os.close(creating))
        point("run.bundle")
        if req.name:  # after the bundle: a name whose bundle is gone is stale
            self._claim_name(req.name, cid, undo)
            point("run.name")
        rootfs = os.path.join(bundle, "rootfs")
        os.mkdir(rootfs, 0o700)
        undo.add("rootfs", lambda: release_rootfs(bundle, sys.umount2))
        net = _net_prepare(self.paths, netcfg, req, cid, bundle)
        point("run.network")
        spec = self._spec(req, image, cid, rootfs, net)
        if image.config.volumes or req.volumes:
            from launcher.backend.linux.volmounts import volume_mounts

            spec.mounts = [*(spec.mounts or []),
                           *volume_mounts(self.paths, image, bundle, req.volumes)]
        spec.mounts = [*(spec.mounts or []), *net.mounts]  # /etc/hosts, resolv.conf, hostname
        if req.init:
            _add_init(spec)
        dump_spec(spec, os.path.join(bundle, "config.json"), durable=False)
        undo.run("store lock")  # GC now sees this container's layers in use
        point("run.spec")
        rec = _record(req, image, cid, bundle, spec)
        point("run.record")
        mark("spec")
        if req.detach:
            return _detach(self.paths, rec, undo)

        def premount() -> None:  # runs in container init, in its own mount namespace
            prepare_rootfs(image.layer_dirs, bundle, sys.mount)

        return self._start(req, rec, spec, sys, undo, mark, premount, fwd, netcfg)

    def _spec(self, req: RunRequest, image: Image, cid: str, rootfs: str,
              net: Prepared) -> Spec:
        import resource

        from launcher.spec.build import ANNOTATION_IMAGE_ID, ANNOTATION_IMAGE_LAYERS, build_spec

        user_ids = None
        user = req.user or image.config.user or ""
        if user and not all(p.isdigit() for p in user.split(":", 1)):
            # The overlay is mounted later, inside the container: read the
            # layers themselves (top-most wins, whiteouts honoured).
            from launcher.image.userdb import resolve_user_in_layers

            user_ids = resolve_user_in_layers(image.layer_dirs, user)
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        spec = build_spec(req, image.config, container_id=cid, rootfs=rootfs,
                          host_nofile_hard=hard, user_ids=user_ids,
                          netns_path=net.netns_path, hostname=net.hostname,
                          cgroups=_cgroup_place(), warn=_warn)
        if spec.annotations is not None:  # what image GC must keep for this container
            spec.annotations[ANNOTATION_IMAGE_ID] = image.id
            spec.annotations[ANNOTATION_IMAGE_LAYERS] = ",".join(image.diff_ids)
        return spec

    def _start(self, req: RunRequest, rec: ContainerRecord, spec: Spec, sys: Any,
               undo: Undo, mark: Callable[[str], None], premount: Callable[[], None],
               fwd: forward_signals, netcfg: NetConfig) -> int:
        cid, bundle = rec.id, rec.bundle
        opts = lifecycle.CreateOptions()
        opts.gate = "pipe"
        opts.subreaper = True
        opts.stdin_null = not req.interactive
        opts.cgroup_parent = "launcher"
        opts.trace = mark
        opts.premount = premount
        mine = -1
        if req.tty:
            from launcher.backend.linux.console import console_pair

            mine, opts.console_fd = console_pair()
        root = self.runtime_root
        # Registered first: delete --force of a container that never came to be
        # is a no-op, and a signal between the two lines must not leak it.
        undo.add("container", lambda: teardown.delete(root, cid, force=True))
        created = lifecycle.create(root, cid, bundle, sys, opts, spec)
        point("run.created")
        if not req.remove:  # the container exists: it keeps its bundle, name, changes
            undo.forget("bundle")
            undo.forget("name")
            undo.forget("rootfs")
        if netcfg.kind in ("bridge", "container", "slirp4netns"):
            from launcher.network import container as network

            paths = self.paths
            # Registered first, as "container" above: teardown of what was never
            # set up is a no-op, and a signal during setup must not leak a veth.
            undo.add("network", lambda: network.teardown(paths, cid))
            network.setup(paths, cid, created.state.pid, created.state.pid_start, netcfg)
            mark("network")
        pid = created.state.pid
        # Before the exec: once the command runs (and may say "ready") a signal
        # must reach it, even while we still wait to hear that the exec worked.
        fwd.target = pid
        lifecycle.release_after_exec(created)
        mark("started")
        rec.started_at = now_rfc3339()
        rec.save()
        undo.run("creation lock")
        point("run.started")
        if req.tty:
            from launcher.backend.linux.ttyproxy import proxy

            code = proxy(mine, pid, req.interactive)
        else:
            code = procinfo.wait_exit(pid)
        mark("exited")
        undo.run("network")  # the veth went with the namespace; the lease, rules, peers now
        if not req.remove:  # what `ps -a` shows: Exited (code) … ago
            from launcher.backend.linux.containers import oom_killed

            rec.exit_code, rec.finished_at = code, now_rfc3339()
            rec.oom_killed = oom_killed(self.paths, cid)
            rec.save()
        return code

    def _claim_name(self, name: str, cid: str, undo: Undo) -> None:
        """One symlink per name: creating it is atomic, so one of N racers wins.
        A name whose container bundle is gone (its creator died between the
        two) is stale and taken over."""
        from launcher.backend.linux.names import claim

        link = claim(self.paths, name, cid)
        undo.add("name", lambda: os.unlink(link))


def _cgroup_place() -> tuple[str, frozenset[str] | None] | None:
    """Where container cgroups go: /launcher for root; for a rootless user the
    delegated cgroup2 subtree, or None (no cgroup: v1, hybrid, not delegated)."""
    from launcher.spec.build import CGROUP_PARENT

    if os.geteuid() == 0:
        return CGROUP_PARENT, None
    from launcher.backend.linux.cgroups import delegation
    from launcher.host import cgroup_layout

    found = delegation.find(cgroup_layout(), os.getuid())
    if found is None:
        return None
    return f"{found.path.rstrip('/')}{CGROUP_PARENT}", found.controllers


def _warn(message: str) -> None:
    from launcher import log

    log.warning(message)


def _net_config(req: RunRequest, image: Image) -> NetConfig:
    import sys

    from launcher.network.runconfig import from_request

    cfg = from_request(req, (image.config.exposed_ports or {}).keys(),
                       lambda line: sys.stderr.write(line + "\n"))
    if cfg.kind == "bridge" and os.geteuid() != 0:
        from launcher.errors import UsageError

        raise UsageError(f"--network {cfg.mode}: bridge networks need root; rootless "
                         "containers use slirp4netns (the default), host or none")
    return cfg


def _net_prepare(paths: Paths, cfg: NetConfig, req: RunRequest, cid: str,
                 bundle: str) -> Prepared:
    """The bundle's /etc files and network.json; what the spec needs of them."""
    import posixpath

    from launcher.network.prepare import prepare

    mine = {posixpath.normpath(v.destination) for v in req.volumes}
    return prepare(paths, cfg, cid, bundle, mine)


def _pull(store: ImageStore, req: RunRequest) -> Image:
    import sys

    from launcher.image import platform
    from launcher.image.progress import for_terminal
    from launcher.image.pull import pull
    from launcher.image.reference import parse

    ref = parse(req.image)
    if req.pull != "always":
        sys.stderr.write(f"Unable to find image '{ref.familiar()}' locally\n")
    reporter = for_terminal(False)
    try:
        want = platform.parse(req.platform) if req.platform else None
        return pull(store, ref, platform=want, reporter=reporter).image
    finally:
        reporter.close()


def _single_threaded() -> None:
    """Refuse to fork with other threads alive (a pull's workers are joined)."""
    import sys

    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        from launcher.errors import RuntimeFailure

        raise RuntimeFailure("internal error: threads still running before the container fork")


def _record(req: RunRequest, image: Image, cid: str, bundle: str,
            spec: Spec) -> ContainerRecord:
    rec = ContainerRecord(cid, bundle)
    rec.name = req.name or ""
    rec.image = req.image
    rec.image_id = image.id
    rec.command = list(spec.process.args or []) if spec.process else []
    rec.created = now_rfc3339()
    rec.remove = req.remove
    rec.labels = {**(image.config.labels or {}), **dict(req.labels)}
    rec.stop_timeout = req.stop_timeout
    rec.restart_policy = req.restart
    rec.log_driver, rec.log_opts = req.log_driver, dict(req.log_opts)
    rec.open_stdin = req.interactive
    rec.save()
    return rec


def _detach(paths: Paths, rec: ContainerRecord, undo: Undo) -> int:
    """``run -d``: hand the container to its monitor, wait for its one status
    line, print the id. The monitor is a fork of this CLI (single-threaded, as
    checked before the container fork) in a session of its own: no second
    interpreter to start and no modules to import again."""
    import sys

    from launcher.errors import LauncherError

    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
        if pid == 0:
            _monitor_child(paths, rec.id, r, w)
    finally:
        os.close(w)
    point("run.detach")
    chunks = []
    with os.fdopen(r, "rb") as status:
        while chunk := status.read(4096):
            chunks.append(chunk)
    line = b"".join(chunks).decode(errors="replace").strip()
    if line == "ok":
        undo.run("creation lock")
        undo.forget("bundle")  # the monitor owns the container now
        undo.forget("name")
        undo.forget("rootfs")
        sys.stdout.write(rec.id + "\n")
        sys.stdout.flush()
        return 0
    os.waitpid(pid, 0)
    if not line:  # it died before reporting: its runtime state and cgroups are ours to remove
        from launcher.backend.linux.containers import runtime_root
        from launcher.network import container as network

        teardown.delete(runtime_root(paths), rec.id, force=True)
        network.teardown(paths, rec.id)  # before the bundle (and its network.json) goes
    code, message = "125", "the container monitor exited without starting the container"
    if line.startswith("error "):
        parts = line.split(" ", 2)
        code, message = parts[1], parts[2] if len(parts) > 2 else message
    err = LauncherError(message)
    err.exit_code = int(code) if code.isdigit() else 125
    raise err


def _monitor_child(paths: Paths, cid: str, r: int, w: int) -> None:
    """The forked monitor: never returns into the CLI's stack (its undo steps
    and buffered output belong to the parent)."""
    import _signal  # type: ignore[import-not-found]

    code = 1
    try:
        os.setsid()
        for sig in (1, 2, 3, 10, 12, 15, 28):  # SIGPIPE stays ignored
            _signal.signal(sig, _signal.SIG_DFL)
        os.close(r)
        os.closerange(3, w)
        os.closerange(w + 1, 1 << 16)
        from launcher.backend.linux import monitor

        code = monitor.main([paths.storage, paths.state, paths.config, cid, str(w)])
    except BaseException:  # reported through the status pipe or in monitor.log
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


INIT_CANDIDATES = ("/usr/bin/tini-static", "/usr/bin/catatonit", "/usr/libexec/podman/catatonit")
INIT_PATH = "/run/launcher-init"  # where the container sees it (podman: /run/podman-init)


def _add_init(spec: Spec) -> None:
    """``--init``: a static init from the host (tini, as Docker's docker-init, or
    catatonit) bind-mounted read-only and run as PID 1 in front of the command.
    ``LAUNCHER_INIT`` names another one. It must be static: nothing of the
    image is loaded into it, and nothing of it needs the image's libraries."""
    from launcher.errors import ImageError, UnsupportedError
    from launcher.image.bootstrap import check_static
    from launcher.spec.model import Mount

    chosen = os.environ.get("LAUNCHER_INIT") or next(
        (p for p in INIT_CANDIDATES if os.path.isfile(p)), None)
    if chosen is None:
        raise UnsupportedError("--init needs a static init on this host: install tini "
                               "(tini-static) or catatonit, or set LAUNCHER_INIT")
    try:
        check_static(chosen)
    except ImageError as exc:
        raise UnsupportedError(f"--init: {chosen} cannot serve as init: {exc}") from None
    spec.mounts = [*(spec.mounts or []), Mount(destination=INIT_PATH, type="bind",
                                               source=chosen, options=["bind", "ro"])]
    if spec.process is not None:
        spec.process.args = [INIT_PATH, "--", *(spec.process.args or [])]
