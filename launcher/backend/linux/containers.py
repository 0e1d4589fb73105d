"""The containers of one launcher root: listing, lookup and removal.

A container is a bundle directory ``storage/containers/<id>`` holding its
record (record.py). Its status is derived on every read from the runtime
state under ``state/runtime/<id>`` (pid + start time): ``running``,
``paused``, ``created`` (init waiting to exec), ``exited`` (its process is
gone, whatever the record last said), or ``dead`` (unreadable runtime state).
Lookup goes as Docker's: an exact name, a full id, or a unique id prefix.
"""

from __future__ import annotations

import os

from launcher.backend.linux.record import ContainerRecord
from launcher.errors import ConflictError, LauncherError, NotFoundError, StateError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.paths import Paths

_STATUS = {"creating": "created", "created": "created", "running": "running",
           "paused": "paused", "stopped": "exited"}


class Container:
    __slots__ = ("pid", "record", "status")

    def __init__(self, record: ContainerRecord, status: str, pid: int) -> None:
        self.record = record
        self.status = status
        self.pid = pid  # 0 unless running/paused/created

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "restarting")


def bundles_dir(paths: Paths) -> str:
    return os.path.join(paths.storage, "containers")


def runtime_root(paths: Paths) -> str:
    return os.path.join(paths.state, "runtime")


def load(paths: Paths, cid: str, tolerant: bool = False) -> Container:
    """The container ``cid`` (an exact id) with its status derived now.
    ``tolerant`` (``rm -f``): a corrupt record is replaced by an empty one."""
    from launcher.backend.linux.state import ContainerState, check_id

    bundle = os.path.join(bundles_dir(paths), check_id(cid))
    try:
        rec = ContainerRecord.load(bundle)
    except FileNotFoundError:
        if not os.path.isdir(bundle):
            raise NotFoundError(f"No such container: {cid}") from None
        rec = ContainerRecord(cid, bundle)  # made, but its creator died before the record
    except StateError:
        if not tolerant:
            raise
        rec = ContainerRecord(cid, bundle)
    try:
        st = ContainerState.load(runtime_root(paths), cid)
    except NotFoundError:
        if rec.restarting:
            return Container(rec, "restarting", 0)
        return Container(rec, "exited" if rec.started_at else "created", 0)
    except StateError:
        return Container(rec, "dead", 0)
    status = _STATUS.get(st.status(), "exited")
    if status == "created" and rec.restarting:
        status = "restarting"  # the monitor is bringing up the next run
    return Container(rec, status, st.pid if status != "exited" else 0)


def list_all(paths: Paths) -> tuple[list[Container], list[str]]:
    """Every container, newest first, and a warning per one that cannot be read."""
    found: list[Container] = []
    problems: list[str] = []
    try:
        names = os.listdir(bundles_dir(paths))
    except FileNotFoundError:
        names = []
    for cid in names:
        try:
            found.append(load(paths, cid))
        except NotFoundError:
            continue  # a bundle being created or removed right now
        except LauncherError as exc:
            problems.append(str(exc))
    found.sort(key=lambda c: c.record.created, reverse=True)
    return found, problems


def find(paths: Paths, ref: str, tolerant: bool = False) -> Container:
    """By name, full id, or unique id prefix (as ``docker rm``/``inspect`` resolve)."""
    link = os.path.join(paths.state, "names", ref)
    if ref and "/" not in ref and ref not in (".", ".."):
        try:
            return load(paths, os.readlink(link), tolerant)
        except (FileNotFoundError, NotFoundError):
            pass
    try:
        ids = os.listdir(bundles_dir(paths))
    except FileNotFoundError:
        ids = []
    if ref in ids:
        return load(paths, ref, tolerant)
    hits = [cid for cid in ids if ref and cid.startswith(ref)]
    if len(hits) > 1:
        raise ConflictError(f"multiple containers match {ref!r}: be more specific")
    if not hits:
        raise NotFoundError(f"No such container: {ref}")
    return load(paths, hits[0], tolerant)


def remove(paths: Paths, container: Container, force: bool) -> None:
    """``rm``: refuse a running container unless forced; then kill it, and remove
    its runtime state, cgroups, network attachments, bundle (rootfs, volumes)
    and name."""
    from launcher.backend.linux import layout, teardown
    from launcher.backend.linux.syscalls import real
    from launcher.faults import point
    from launcher.image.rootfs import release_rootfs

    rec = container.record
    if container.running and not force:
        raise ConflictError(f"cannot remove container {rec.name or rec.id[:12]}: container "
                            "is running: stop the container before removing or force remove")
    if not force and layout.being_created(rec.bundle):
        raise ConflictError(f"cannot remove container {rec.id[:12]}: it is being created "
                            "(use rm -f to remove it anyway)")
    if container.running:  # its monitor must not restart it after the kill below
        _mark_stopped(rec.bundle)
    teardown.delete(runtime_root(paths), rec.id, force=True)
    point("rm.runtime")
    # The monitor records the exit (and closes the log) in the bundle once the
    # process is gone: removing the tree under it could leave a record behind.
    layout.wait_for_keeper(rec.bundle)
    from launcher.network import container as network

    network.teardown(paths, rec.id)  # leases, rules, peers' hosts: before network.json goes
    point("rm.network")
    release_rootfs(rec.bundle, real().umount2)
    point("rm.rootfs")
    _release_names(paths, rec)
    point("rm.names")
    layout.remove_tree(rec.bundle)


def _mark_stopped(bundle: str) -> None:
    from launcher.backend.linux.monitor import STOPPED_MARKER

    try:
        with open(os.path.join(bundle, STOPPED_MARKER), "w"):
            pass
    except OSError:
        pass  # no bundle to speak of: nothing will restart it


def prune_orphan_runtime(paths: Paths) -> list[str]:
    """Runtime state (and so cgroups) of ids that have no bundle: what a
    removal killed half-way could leave. Removed; their ids."""
    from launcher.backend.linux import teardown
    from launcher.backend.linux.state import list_ids

    root = runtime_root(paths)
    ids = list_ids(root)  # not the runtime's own dot entries (.seccomp)
    bundles = bundles_dir(paths)
    orphans = [cid for cid in ids if not os.path.isdir(os.path.join(bundles, cid))]
    for cid in orphans:
        teardown.delete(root, cid, force=True)
    return orphans


def _release_names(paths: Paths, rec: ContainerRecord) -> None:
    """Unlink the name(s) pointing at this container (all of them when the record,
    and so the name, could not be read)."""
    names_dir = os.path.join(paths.state, "names")
    try:
        candidates = [rec.name] if rec.name else os.listdir(names_dir)
    except FileNotFoundError:
        return
    for name in candidates:
        link = os.path.join(names_dir, name)
        try:
            if os.readlink(link) == rec.id:
                os.unlink(link)
        except OSError:
            pass


def oom_killed(paths: Paths, cid: str) -> bool:
    """Whether the OOM killer acted in the container's cgroup (read at its exit,
    before the cgroup is removed)."""
    from launcher import host
    from launcher.backend.linux import stats
    from launcher.backend.linux.state import ContainerState

    try:
        st = ContainerState.load(runtime_root(paths), cid)
        sample = stats.read_stats(st.cgroup_path, st.cgroup_layout or host.cgroup_layout())
    except (LauncherError, OSError):
        return False
    return bool(sample.oom_kills)
