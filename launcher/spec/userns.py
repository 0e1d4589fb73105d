"""User namespaces in the spec: rootless mappings and ``--userns``.

A rootless container always gets a user namespace (nothing else lets an
ordinary user make the other namespaces): container root is the caller, and
container ids 1..N are the caller's subordinate ids from ``/etc/subuid`` and
``/etc/subgid`` (written by ``newuidmap``/``newgidmap``, which check them).
Without subordinate ids only root is mapped, as ``unshare -r`` does.

``--userns`` modes (podman's names):

* ``""`` (default): root runs in the host's user namespace; rootless as above.
* ``host``: the host's user namespace (root only: an ordinary user has no other way in).
* ``keep-id``: the caller's uid and gid are the same inside (rootless only), and the
  process runs as them unless ``--user`` says otherwise; the ids below and above
  come from the subordinate ranges.
"""

from __future__ import annotations

import os

from launcher.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.spec.model import IDMapping, Linux, Process

SUBUID_FILE = "/etc/subuid"
SUBGID_FILE = "/etc/subgid"
MODES = ("", "host", "keep-id")
MAX_IDS = 65536  # podman's default size for a rootless user namespace

Ranges = list[tuple[int, int]]  # (first host id, count)


def parse_subids(text: str, name: str, ident: int) -> Ranges:
    """The ranges of ``name`` (or its numeric id) in a subuid/subgid file's text."""
    found: Ranges = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3 or parts[0] not in (name, str(ident)):
            continue
        try:
            start, count = int(parts[1]), int(parts[2])
        except ValueError:
            continue
        if start >= 0 and count > 0:
            found.append((start, count))
    return found


def rootless_maps(own: int, ranges: Ranges, keep_id: bool) -> list[tuple[int, int, int]]:
    """(container id, host id, size) triples for one id kind.

    Default: 0 → ``own``, then 1.. → the subordinate ranges in order.
    keep-id: ``own`` → ``own``, and the subordinate ids fill 0..own-1 and own+1..
    """
    total = min(MAX_IDS - 1, sum(count for _s, count in ranges))
    subs = _take(ranges, total)
    if not keep_id:
        return [(0, own, 1), *_place(subs, 1)]
    if not subs:
        return [(own, own, 1)]
    below = _take(subs, own)
    above = _drop(subs, own)
    return [*_place(below, 0), (own, own, 1), *_place(above, own + 1)]


def _take(ranges: Ranges, n: int) -> Ranges:
    out: Ranges = []
    for start, count in ranges:
        if n <= 0:
            break
        out.append((start, min(count, n)))
        n -= min(count, n)
    return out


def _drop(ranges: Ranges, n: int) -> Ranges:
    out: Ranges = []
    for start, count in ranges:
        if n >= count:
            n -= count
            continue
        out.append((start + n, count - n))
        n = 0
    return out


def _place(ranges: Ranges, first: int) -> list[tuple[int, int, int]]:
    out = []
    for start, count in ranges:
        out.append((first, start, count))
        first += count
    return out


def apply(linux: Linux, process: Process, mode: str, user_given: bool) -> None:
    """Add the user namespace ``mode`` asks for (see the module doc) to ``linux``."""
    if mode not in MODES:
        raise UsageError(f"--userns {mode!r}: expected host or keep-id")
    rootless = os.geteuid() != 0
    if not rootless:
        if mode == "keep-id":
            raise UsageError("--userns keep-id: only for rootless containers (root's ids "
                             "are already the host's)")
        return
    if mode == "host":
        raise UsageError("--userns host: an unprivileged user cannot use the host's user "
                         "namespace (run as root)")
    uid, gid = os.getuid(), os.getgid()
    name = _user_name(uid)
    keep = mode == "keep-id"
    linux.uid_mappings = _maps(uid, parse_subids(_read(SUBUID_FILE), name, uid), keep)
    linux.gid_mappings = _maps(gid, parse_subids(_read(SUBGID_FILE), name, uid), keep)
    from launcher.spec.model import Namespace

    linux.namespaces = [*(linux.namespaces or []), Namespace(type="user")]
    if keep and not user_given and process.user is not None:
        process.user.uid, process.user.gid = uid, gid
        if process.capabilities is not None:
            process.capabilities.effective, process.capabilities.permitted = [], []


def _maps(own: int, ranges: Ranges, keep: bool) -> list[IDMapping]:
    from launcher.spec.model import IDMapping

    return [IDMapping(container_id=c, host_id=h, size=s)
            for c, h, s in rootless_maps(own, ranges, keep)]


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""
