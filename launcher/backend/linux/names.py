"""Container names: one symlink ``state/names/<name> -> <id>`` per name.

Creating a symlink is atomic, so of N racers for one name exactly one wins.
A container's bundle is made before its name is claimed and removed after
the name is released, so a link whose bundle does not exist is *stale* (its
creator was killed in between): ``claim`` takes it over and ``prune_stale``
removes it. Both do that under an flock on the names directory, so two
claimers never both decide the same link is stale and unlink each other's.
"""

from __future__ import annotations

import os

from launcher.errors import ConflictError
from launcher.locks import DirLock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.paths import Paths


def names_dir(paths: Paths) -> str:
    return os.path.join(paths.state, "names")


def claim(paths: Paths, name: str, cid: str) -> str:
    """Point ``name`` at ``cid``; the link's path. ConflictError if it is in use."""
    directory = names_dir(paths)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    link = os.path.join(directory, name)
    try:
        os.symlink(cid, link)
        return link
    except FileExistsError:
        pass
    with DirLock(directory):
        owner = _target(link)
        if owner is None or _is_stale(paths, owner):  # released meanwhile, or stale
            if owner is not None:
                os.unlink(link)
            try:
                os.symlink(cid, link)
                return link
            except FileExistsError:  # a racer outside the lock got it first
                owner = _target(link)
    raise ConflictError(f'the container name "{name}" is already in use by '
                        f'container "{owner}"')


def prune_stale(paths: Paths) -> list[str]:
    """Remove the names whose container bundle no longer exists; those names."""
    directory = names_dir(paths)
    removed: list[str] = []
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return removed
    with DirLock(directory):
        for name in entries:
            owner = _target(os.path.join(directory, name))
            if owner is not None and _is_stale(paths, owner):
                os.unlink(os.path.join(directory, name))
                removed.append(name)
    return removed


def _target(link: str) -> str | None:
    try:
        return os.readlink(link)
    except OSError:
        return None


def _is_stale(paths: Paths, cid: str) -> bool:
    return not os.path.isdir(os.path.join(paths.storage, "containers", cid))

