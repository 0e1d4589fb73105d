"""A container's whole filesystem as one directory fd, for ``launcher cp``.

Everything ``cp`` reads or writes in a container is resolved from this fd with
``openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`` (``launcher.image.resolve``),
so no symlink in the container — absolute, ``../../..``, or magic — reaches
the host (SECURITY.md rule 1).

* **Live** (running, paused, created: its init exists): ``/proc/<pid>/root``,
  opened through a ``/proc/<pid>`` directory fd whose ``stat`` shows the start
  time recorded at creation — a recycled pid is never taken for the container.
  The container's mounts (volumes, read-only binds, its /proc) are there as
  it sees them, so a write under a ``:ro`` volume fails with EROFS.
* **Stopped** (exited, or never started): this process moves into a private
  mount namespace (``unshare(CLONE_NEWNS)`` + ``/`` made rprivate: nothing it
  mounts is seen by the host, and the kernel drops it all when the process
  ends, even on SIGKILL), mounts the container's overlay (image layers +
  the bundle's ``upper``/``work``, read-only for ``--read-only``) on the
  bundle's ``rootfs`` and its bind mounts (volumes) the way its init does
  (``rootfs.mount_one``), and detaches it all (``MNT_DETACH``) when done.
  Kernel mounts (/proc, /dev, tmpfs) are not rebuilt: what is copied there
  goes to the container's own layer, as with Docker.

A container between runs of a restart policy, or whose runtime state is
unreadable, is refused: its overlay may be mounted again at any moment, and
two overlays on one upper directory corrupt it.
"""

from __future__ import annotations

import os

from launcher.errors import ConflictError, RuntimeFailure, StateError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from launcher.backend.linux.containers import Container
    from launcher.backend.linux.syscalls import Syscalls
    from launcher.paths import Paths
    from launcher.spec.model import Mount, Spec

_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_private_ns: list[bool] = []  # this process already has its own mount namespace


class Root:
    """An open container root: ``fd`` (O_PATH directory), ``spec`` (its config),
    whether it is ``live``; a context manager that releases it."""

    __slots__ = ("_sys", "_target", "fd", "live", "spec")

    def __init__(self, fd: int, spec: Spec, live: bool) -> None:
        self.fd = fd
        self.spec = spec
        self.live = live
        self._sys: Syscalls | None = None
        self._target = ""  # the mount point to detach (stopped containers)

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self._sys is not None and self._target:
            target, self._target = self._target, ""
            self._sys.umount2(target, 2)  # MNT_DETACH: the overlay and every bind on it


def open_root(paths: Paths, c: Container, ref: str, sys_: Syscalls | None = None) -> Root:
    """The root of container ``c`` (``ref``: how the user named it, for messages);
    ``sys_``: the kernel seam for a stopped container's mounts (default: the real one)."""
    from launcher.backend.linux.lifecycle import load_bundle_spec

    if c.status in ("restarting", "dead"):
        why = ("is restarting (its restart policy)" if c.status == "restarting"
               else "has unreadable runtime state")
        raise ConflictError(f"cannot copy files of container {ref}: it {why}; try again when "
                            "it is running or stopped")
    spec = load_bundle_spec(c.record.bundle)
    if c.pid > 0:
        return Root(_live_root(paths, c, ref), spec, True)
    if sys_ is None:
        from launcher.backend.linux.syscalls import real

        sys_ = real()
    return _stopped_root(paths, c, spec, sys_)


def _live_root(paths: Paths, c: Container, ref: str) -> int:
    from launcher.backend.linux.containers import runtime_root
    from launcher.backend.linux.state import ContainerState

    gone = ConflictError(f"container {ref} stopped while the copy began: try again")
    try:
        st = ContainerState.load(runtime_root(paths), c.id)
        proc = os.open(f"/proc/{st.pid}", _PATH_DIR)
    except (OSError, StateError):
        raise gone from None
    try:
        # The start time read through this very fd: if the pid was recycled
        # since the state was read, the fd names the new process and we stop.
        fd = os.open("stat", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc)
        try:
            raw = os.read(fd, 4096)
        finally:
            os.close(fd)
        fields = raw[raw.rfind(b")") + 2 :].split()
        if st.pid_start is not None and int(fields[19]) != st.pid_start:
            raise gone
        return os.open("root", _PATH_DIR, dir_fd=proc)
    except (OSError, IndexError, ValueError):
        raise gone from None
    finally:
        os.close(proc)


def _stopped_root(paths: Paths, c: Container, spec: Spec, sys_: Syscalls) -> Root:
    from launcher.backend.linux import rootfs

    bundle = c.record.bundle
    target = rootfs.root_path(spec, bundle)
    layers = layer_dirs(paths, spec)
    _enter_private_namespace(sys_)
    _mount_overlay(sys_, bundle, target, layers)
    root = Root(-1, spec, False)
    root._sys, root._target = sys_, target
    try:
        root.fd = os.open(target, _PATH_DIR | os.O_NOFOLLOW)
        ctx = rootfs.RootfsContext(bundle)
        for m in _binds(spec):
            rootfs.mount_one(sys_, root.fd, m, ctx)
        if spec.root is not None and spec.root.readonly:
            from launcher.backend.linux import syscalls as sc

            sys_.mount(None, f"/proc/self/fd/{root.fd}", None,
                       sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY, None)
    except BaseException:
        root.close()
        raise
    return root


def _binds(spec: Spec) -> Iterator[Mount]:
    from launcher.backend.linux import mountopts

    for m in spec.mounts or ():
        if m.type == "bind" or mountopts.parse(m.options).is_bind:
            yield m


def layer_dirs(paths: Paths, spec: Spec) -> list[str]:
    """The image's layer directories, base first (the spec's layer annotation)."""
    from launcher.spec.build import ANNOTATION_IMAGE_LAYERS

    diff_ids = (spec.annotations or {}).get(ANNOTATION_IMAGE_LAYERS, "")
    dirs = []
    for d in diff_ids.split(","):
        if not d:
            continue
        hex_ = d.split(":", 1)[-1]
        if len(hex_) != 64 or not all(ch in "0123456789abcdef" for ch in hex_):
            raise StateError(f"container config names an invalid layer {d!r}")
        dirs.append(os.path.join(paths.layers, hex_))
    return dirs


def _enter_private_namespace(sys_: Syscalls) -> None:
    from launcher.backend.linux import syscalls as sc

    if _private_ns:
        return
    try:
        sys_.unshare(sc.CLONE_NEWNS)
        sys_.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE, None)
    except OSError as exc:
        raise RuntimeFailure("cannot open the filesystem of a stopped container: a private "
                             f"mount namespace was refused ({exc.strerror})") from exc
    _private_ns.append(True)


def _mount_overlay(sys_: Syscalls, bundle: str, target: str, layers: list[str]) -> None:
    """The container's root at ``target`` as its init mounts it: an overlay, or
    the plain directory left by the copy fallback (image/rootfs.py)."""
    from launcher.backend.linux import syscalls as sc
    from launcher.image.rootfs import UPPER, WORK, overlay_options

    upper, work = os.path.join(bundle, UPPER), os.path.join(bundle, WORK)
    try:
        if not os.path.isdir(upper) and os.listdir(target):
            sys_.mount(target, target, None, sc.MS_BIND, None)  # a copy: just pin it
            return
        if not layers:
            raise RuntimeFailure(f"container bundle {bundle} names no image layers")
        os.makedirs(upper, 0o700, exist_ok=True)  # never started: as prepare_rootfs makes them
        os.makedirs(work, 0o700, exist_ok=True)
        # Layers named by fd (/proc/self/fd/N): no path length or ',' ':' trouble.
        fds = [os.open(p, _PATH_DIR) for p in [*reversed(layers), upper, work]]
        try:
            names = [f"/proc/self/fd/{fd}" for fd in fds]
            sys_.mount("overlay", target, "overlay", 0,
                       overlay_options(names[:-2], names[-2], names[-1]))
        finally:
            for fd in fds:
                os.close(fd)
    except OSError as exc:
        raise RuntimeFailure(f"mounting the filesystem of the stopped container at {target}: "
                             f"{exc.strerror or exc}") from exc
