"""Host paths as a machine sees them: the same path on macOS and Linux, a
``/mnt/<drive>/…`` path for a Windows one.

The guest mounts each shared host directory at :func:`guest_path` of it (the
``shares`` list the host hands the guest holds those), and ``-v`` sources are
rewritten the same way before a command is forwarded:

* ``/Users/me/src`` → ``/Users/me/src`` (macOS, Linux: unchanged);
* ``C:\\Users\\me\\My Src`` or ``C:/Users/me/My Src`` → ``/mnt/c/Users/me/My Src``
  (drive letters lower-cased, as WSL does; spaces kept; ``..`` resolved);
* ``\\\\server\\share\\dir`` (UNC) and ``\\\\?\\`` paths → refused: no drive letter
  to place them under.

Every function takes the host's ``sys.platform`` (default: this one), so the
Windows rules are unit-tested on any host. Only ``ntpath``/``posixpath`` are
used, never the running host's ``os.path``, for the same reason.
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import sys

from launcher.errors import UsageError

WINDOWS = ("win32", "cygwin")


def is_windows(host: str | None = None) -> bool:
    return (host or sys.platform) in WINDOWS


def _drive_path(path: str) -> bool:
    """``C:\\…`` or ``C:/…``: a drive letter, a colon, a separator."""
    return len(path) >= 3 and path[0].isascii() and path[0].isalpha() and path[1] == ":" \
        and path[2] in "\\/"


def is_host_path(source: str, host: str | None = None) -> bool:
    """Whether a ``-v`` source names a host directory (else: a named volume)."""
    if is_windows(host):
        return _drive_path(source) or source.startswith(("\\\\", "//", "/", "\\", "."))
    return source.startswith(("/", "."))


def split_bind(spec: str, host: str | None = None) -> tuple[str, str]:
    """A ``-v`` value as (source, the rest with its leading ``:``); a Windows
    source keeps its drive letter (``C:\\src:/src:ro`` → (``C:\\src``, ``:/src:ro``))."""
    start = 2 if is_windows(host) and _drive_path(spec) else 0
    colon = spec.find(":", start)
    return (spec, "") if colon < 0 else (spec[:colon], spec[colon:])


def guest_path(path: str, host: str | None = None) -> str:
    """Where host directory ``path`` (absolute) is mounted in the machine."""
    if not is_windows(host):
        return posixpath.normpath(path)
    if path.startswith(("\\\\", "//")):
        raise UsageError(f"cannot share {path}: network (UNC) paths have no drive letter; "
                         "map the share to a drive first")
    if not _drive_path(path):
        raise UsageError(f"cannot share {path}: expected an absolute path like C:\\Users\\me")
    rest = ntpath.normpath(path[2:]).replace("\\", "/")
    return posixpath.join("/mnt", path[0].lower(), rest.lstrip("/")).rstrip("/") \
        or f"/mnt/{path[0].lower()}"


def contains(share: str, path: str, host: str | None = None) -> bool:
    """Whether host path ``path`` is ``share`` or inside it (Windows: any case,
    either separator)."""
    if is_windows(host):
        a, b = ntpath.normcase(ntpath.normpath(share)), ntpath.normcase(ntpath.normpath(path))
        return b == a or b.startswith(a.rstrip("\\") + "\\")
    a, b = posixpath.normpath(share), posixpath.normpath(path)
    return b == a or b.startswith(a.rstrip("/") + "/")


TRANSPORT_ENV = "LAUNCHER_SHARES_VIA"  # 9p or sftp, read at machine init


def default_transport(host: str | None = None) -> str:
    """How a new machine's shares reach the guest: 9p where QEMU has it (not on
    Windows), else sftp; ``LAUNCHER_SHARES_VIA`` picks one (sftp works anywhere)."""
    chosen = os.environ.get(TRANSPORT_ENV, "")
    if chosen not in ("", "9p", "sftp"):
        raise UsageError(f"{TRANSPORT_ENV}={chosen!r}: expected 9p or sftp")
    if chosen == "9p" and is_windows(host):
        raise UsageError("QEMU for Windows has no 9p: shares go over sftp there")
    return chosen or ("sftp" if is_windows(host) else "9p")
