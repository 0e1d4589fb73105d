"""The root filesystem of one container: an overlay of the image's layers.

``container_dir/rootfs`` is an overlayfs mount: ``lowerdir`` = the layer
directories, top-most first; ``upperdir``/``workdir`` = ``container_dir/upper``
and ``container_dir/work`` (same filesystem, as overlay requires). The mount
itself goes through the injected ``mount(source, target, fstype, flags, data)``
(the backend's syscalls seam; a recorder in unit tests).

Option length: mount(2) copies at most one page of options, so ~40 layers
under a long storage path overflow it (and ``,``/``:`` in a path would break
the syntax). Then every directory is opened ``O_PATH`` and named as
``/proc/self/fd/N`` (~18 bytes a layer, ~220 layers a page; overlay stops at
500 anyway). Chosen over Docker's chdir-and-relative-paths trick because the
cwd is process-wide (unsafe in a process that may have threads or fork
later), and over a farm of short symlinks because there is nothing to create
or clean up and nothing to re-resolve: the kernel resolves fds we hold
(SECURITY.md rule 1).

Fallback: when overlay is refused (EINVAL, EPERM, ENODEV: no overlay module,
storage on overlay/NFS, a user namespace without support), the layers are
copied into ``rootfs`` in order with whiteouts applied (copytree.py) and a
note says so — slower and bigger, but the container runs.
"""

from __future__ import annotations

import errno
import os

from launcher.errors import ImageError, RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    MountFn = Callable[[str, str, str, int, str], None]
    UmountFn = Callable[[str, int], None]

ROOTFS = "rootfs"
UPPER = "upper"
WORK = "work"
MNT_DETACH = 2
FALLBACK_ERRNOS = (errno.EINVAL, errno.EPERM, errno.ENODEV, errno.EOPNOTSUPP, errno.ENOSYS)
_SPECIAL = (",", ":", "\\", "\n")


def prepare_rootfs(
    layer_dirs: list[str],
    container_dir: str,
    mount: MountFn,
    *,
    note: Callable[[str], None] | None = None,
) -> str:
    """Mount (or copy) the layers, base layer first in ``layer_dirs``, as
    ``container_dir/rootfs``; return that path. ``note`` receives the message
    when falling back to a copy (default: stderr)."""
    if not layer_dirs:
        raise ImageError("the image has no layers")
    rootfs, upper, work = (os.path.join(container_dir, n) for n in (ROOTFS, UPPER, WORK))
    for d in (rootfs, upper, work):
        os.makedirs(d, 0o700, exist_ok=True)
    _copy_root_attrs(layer_dirs[-1], upper)
    lowers = list(reversed(layer_dirs))
    fds: list[int] = []
    try:
        data = overlay_options(lowers, upper, work)
        if len(data) >= _page_size() or _special([*lowers, upper, work]):
            fds = [_open_path(p) for p in [*lowers, upper, work]]
            names = [f"/proc/self/fd/{fd}" for fd in fds]
            data = overlay_options(names[:-2], names[-2], names[-1])
        if len(data) >= _page_size():
            raise OSError(errno.EINVAL, f"{len(layer_dirs)} layers do not fit one overlay mount")
        mount("overlay", rootfs, "overlay", 0, data)
    except OSError as exc:
        if exc.errno not in FALLBACK_ERRNOS:
            raise RuntimeFailure(f"mount overlay on {rootfs}: {exc.strerror}") from None
        _copy_fallback(layer_dirs, container_dir, exc, note)
    finally:
        for fd in fds:
            os.close(fd)
    return rootfs


def overlay_options(lowers: list[str], upper: str, work: str) -> str:
    """Overlay mount data; ``lowers`` top-most first."""
    return f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}"


def release_rootfs(container_dir: str, umount: UmountFn) -> None:
    """Detach the rootfs mount (if any) and remove rootfs, upper and work."""
    rootfs = os.path.join(container_dir, ROOTFS)
    try:
        umount(rootfs, MNT_DETACH)
    except OSError as exc:
        # EPERM unprivileged: nothing of ours is mounted in this namespace
        # (a rootless overlay lives in the container's); checked just below.
        rootless = exc.errno == errno.EPERM and os.geteuid() != 0
        if exc.errno not in (errno.EINVAL, errno.ENOENT) and not rootless:
            raise RuntimeFailure(f"umount {rootfs}: {exc.strerror}") from None
    if _mounted_under(rootfs):
        # never rmtree through a mount: it would delete layer or host files
        raise RuntimeFailure(f"{rootfs} is still mounted; not removing it")
    from launcher.fsutil import remove_tree

    for name in (ROOTFS, UPPER, WORK):
        remove_tree(os.path.join(container_dir, name))


def _copy_fallback(
    layer_dirs: list[str], container_dir: str, exc: OSError, note: Callable[[str], None] | None
) -> None:
    import shutil

    from launcher.image.copytree import copy_layers

    rootfs = os.path.join(container_dir, ROOTFS)
    (note or _stderr)(
        f"overlayfs is unavailable ({exc.strerror or exc}); copying {len(layer_dirs)} "
        f"layer(s) into {rootfs} instead (slower, uses more disk)"
    )
    for name in (UPPER, WORK):
        shutil.rmtree(os.path.join(container_dir, name), ignore_errors=True)
    copy_layers(layer_dirs, rootfs)


def _copy_root_attrs(src: str, dst: str) -> None:
    """The merged root shows the upper dir's owner and mode: take the top layer's."""
    st = os.stat(src)
    if os.geteuid() == 0:
        os.chown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, st.st_mode & 0o7777)


def _open_path(path: str) -> int:
    return os.open(path, getattr(os, "O_PATH", 0) | os.O_DIRECTORY | os.O_CLOEXEC)


def _special(paths: list[str]) -> bool:
    return any(c in p for p in paths for c in _SPECIAL)


def _page_size() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):  # pragma: no cover
        return 4096


def _mounted_under(path: str) -> bool:
    """Is anything mounted at or below ``path`` (in our mount namespace)?"""
    from launcher.mountinfo import mounted_under

    try:
        return mounted_under(path)
    except OSError:
        return os.path.ismount(path)


def _stderr(message: str) -> None:
    import sys

    sys.stderr.write(f"launcher: note: {message}\n")
