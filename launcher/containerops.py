"""The core behind the container commands (``ps``, ``rm``): the CLI parses and
prints, this module acts, through the backend that holds the containers."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.backend.linux.containers import Container
    from launcher.paths import Paths


def _native(paths: Paths) -> None:
    from launcher.backend.select import select_backend

    select_backend(paths)  # containers live with the backend: fail clearly where there is none


def list_containers(paths: Paths, *, all_: bool) -> tuple[list[Container], list[str]]:
    """Containers (running ones only unless ``all_``), newest first, and warnings."""
    from launcher.backend.linux import containers

    _native(paths)
    found, problems = containers.list_all(paths)
    return [c for c in found if all_ or c.running], problems


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
    removed: list[str] = []
    for c in containers.list_all(paths)[0]:
        if not c.running:
            containers.remove(paths, c, force=False)
            removed.append(c.id)
    return removed
