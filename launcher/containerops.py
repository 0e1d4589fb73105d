"""The core behind the container commands (``ps``, ``rm``): the CLI parses and
prints, this module acts, through the backend that holds the containers."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from launcher.backend.linux.containers import Container
    from launcher.paths import Paths


def _native(paths: Paths) -> None:
    from launcher.backend.select import require_native

    require_native()  # containers live with the backend: fail clearly where there is none


def list_containers(paths: Paths, *, all_: bool, filters: list[str] | None = None
                    ) -> tuple[list[Container], list[str]]:
    """Containers (running ones only unless ``all_`` or a status filter), newest
    first, that pass every ``KEY=VALUE`` filter (``ps --filter``); and warnings."""
    from launcher.backend.linux import containers

    checks = [_filter(text) for text in filters or []]  # bad filters fail before any work
    all_ = all_ or any(f.startswith("status=") for f in filters or [])
    _native(paths)
    found, problems = containers.list_all(paths)
    return [c for c in found if (all_ or c.running) and all(ok(c) for ok in checks)], problems


FILTER_KEYS = ("status", "name", "id", "label", "exited", "ancestor")


def _filter(text: str) -> Callable[[Container], bool]:
    """One ``--filter KEY=VALUE`` as a predicate, with Docker's meanings."""
    from launcher.errors import UsageError

    key, eq, value = text.partition("=")
    if not eq or key not in FILTER_KEYS:
        raise UsageError(f'invalid filter "{text}": want KEY=VALUE with KEY one of '
                         + ", ".join(FILTER_KEYS))
    if key == "status":
        return lambda c: c.status == value
    if key == "name":
        return lambda c: value in c.record.name
    if key == "id":
        return lambda c: c.id.startswith(value)
    if key == "exited":
        if not value.isdigit():
            raise UsageError(f'invalid filter "{text}": exited wants an exit code')
        return lambda c: c.status == "exited" and c.record.exit_code == int(value)
    if key == "ancestor":
        return lambda c: value in (c.record.image, c.record.image_id,
                                   c.record.image_id.split(":", 1)[-1][:12])
    lkey, leq, lvalue = value.partition("=")
    return lambda c: lkey in c.record.labels and (not leq or c.record.labels[lkey] == lvalue)




def remove(paths: Paths, refs: list[str], *, force: bool) -> tuple[list[str], list[str]]:
    """``rm``: the refs removed, and one error message per ref that was not."""
    from launcher.backend.linux import containers
    from launcher.errors import LauncherError

    _native(paths)
    done: list[str] = []
    errors: list[str] = []
    for ref in refs:
        try:
            containers.remove(paths, containers.find(paths, ref, tolerant=force), force)
            done.append(ref)
        except LauncherError as exc:
            errors.append(str(exc))
    return done, errors


def prune(paths: Paths) -> list[str]:
    """Remove every container that is not running; their ids."""
    from launcher.backend.linux import containers

    _native(paths)
    from launcher.backend.linux.layout import being_created
    from launcher.backend.linux.names import prune_stale

    removed: list[str] = []
    for c in containers.list_all(paths)[0]:
        if not c.running and not being_created(c.record.bundle):
            containers.remove(paths, c, force=False)
            removed.append(c.id)
    prune_stale(paths)
    containers.prune_orphan_runtime(paths)
    _prune_network(paths)
    return removed


def _prune_network(paths: Paths) -> None:
    """Endpoints, leases and firewall rules of containers that are gone (a run
    killed half-way, a removal that died); the firewall rebuilt if flushed.
    Every container that still has a bundle keeps what it has: one being
    created right now included."""
    from launcher.backend.linux.containers import bundles_dir
    from launcher.network.manage import prune_stale

    try:
        live = set(os.listdir(bundles_dir(paths)))
    except FileNotFoundError:
        live = set()
    prune_stale(paths, live)


def logs(paths: Paths, ref: str, *, follow: bool, tail: int | None, timestamps: bool,
         since: float | None = None) -> Iterator[tuple[str, bytes]]:
    """``logs``: (stream, bytes) records of a detached container's log, oldest first.
    With ``follow`` it goes on until the container has stopped and all is read."""
    from launcher.backend.linux import containers
    from launcher.backend.linux.logfile import read_logs
    from launcher.backend.linux.monitor import LOG_FILE
    from launcher.errors import UnsupportedError

    _native(paths)
    c = containers.find(paths, ref)
    if c.record.log_driver == "none":
        raise UnsupportedError('configured logging driver does not support reading: '
                               f'container {ref} was run with --log-driver none')
    path = os.path.join(c.record.bundle, LOG_FILE)
    if not os.path.exists(path) and not c.running:
        if not c.record.started_at:
            return iter(())
        raise UnsupportedError(f"container {ref} ran attached: its output went to the "
                               "terminal, not to a log (use run -d)")
    cid = c.id

    def stopped() -> bool:
        try:
            return not containers.load(paths, cid).running
        except Exception:
            return True

    return iter(read_logs(path, tail=tail, since=since, timestamps=timestamps,
                          follow=follow, stop=stopped))
