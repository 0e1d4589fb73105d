"""Small filesystem helpers that stay off :mod:`shutil` (which costs ~15 ms to
import: ``fnmatch`` → ``re`` → ``enum``) on the container start/stop path."""

from __future__ import annotations

import os
import stat


def remove_tree(path: str) -> None:
    """``rm -rf path`` without following symlinks, fd-relative all the way down
    (a container may have planted links in its upper layer). Missing is fine."""
    parent, name = os.path.split(path.rstrip("/") or "/")
    try:
        dfd = os.open(parent or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        _remove_entry(dfd, name)
    except PermissionError:
        if os.geteuid() == 0:
            raise
        # Rootless: what the container wrote is owned by subordinate ids.
        _remove_in_userns(path)
    finally:
        os.close(dfd)


def _remove_in_userns(path: str) -> None:
    """``rm -rf`` as root of a user namespace mapping the caller's uid and its
    subordinate ids (util-linux ``unshare --map-auto``, through newuidmap), the
    only place those ids' files can be removed without real root."""
    import shutil
    import subprocess

    tool = shutil.which("unshare")
    if tool is None:
        raise PermissionError(13, "files of subordinate ids and no unshare(1)", path)
    res = subprocess.run([tool, "--map-auto", "--map-root-user", "--", "rm", "-rf",
                          "--one-file-system", "--", path],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        why = (res.stderr.strip().splitlines() or ["failed"])[-1]
        raise PermissionError(13, f"removing as the user namespace's root: {why}", path)


def _remove_entry(dfd: int, name: str) -> None:
    """Remove ``name`` below ``dfd``; an entry another remover took first is fine
    (``rm -f`` racing the attached ``--rm`` CLI that cleans up the same bundle)."""
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=dfd)
            return
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=dfd)
    except FileNotFoundError:
        return
    try:
        if os.fstat(fd).st_dev != st.st_dev:
            raise OSError(16, "refusing to remove across a mount point", name)
        with os.scandir(fd) as it:
            names = [e.name for e in it]
        for child in names:
            _remove_entry(fd, child)
    finally:
        os.close(fd)
    try:
        os.rmdir(name, dir_fd=dfd)
    except FileNotFoundError:
        pass
