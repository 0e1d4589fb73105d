"""Reading /proc/self/mountinfo (Linux only; no imports beyond os)."""

from __future__ import annotations

import os


class MountEntry:
    __slots__ = ("fstype", "mount_point", "optional", "root", "super_options")

    def __init__(self, mount_point: str, root: str, fstype: str, optional: list[str],
                 super_options: str) -> None:
        self.mount_point = mount_point
        self.root = root
        self.fstype = fstype
        self.optional = optional  # "shared:N", "master:N", …
        self.super_options = super_options


def unescape(field: bytes) -> bytes:
    """mountinfo escapes space, tab, newline and backslash as ``\\ooo``."""
    if b"\\" not in field:
        return field
    out, i = bytearray(), 0
    while i < len(field):
        if field[i] == 0x5C and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(int(field[i + 1 : i + 4], 8))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return bytes(out)


def entries(path: str = "/proc/self/mountinfo") -> list[MountEntry]:
    with open(path, "rb") as f:
        data = f.read()
    out: list[MountEntry] = []
    for line in data.split(b"\n"):
        left, sep, right = line.partition(b" - ")
        fields = left.split(b" ")
        if not sep or len(fields) < 6:
            continue
        tail = right.split(b" ")
        out.append(MountEntry(
            os.fsdecode(unescape(fields[4])), os.fsdecode(unescape(fields[3])),
            os.fsdecode(tail[0]), [os.fsdecode(x) for x in fields[6:]],
            os.fsdecode(tail[2]) if len(tail) > 2 else "",
        ))
    return out


def containing(path: str, mounts: list[MountEntry] | None = None) -> MountEntry | None:
    """The mount that holds ``path`` (longest mount point prefix; the last wins)."""
    real = os.path.realpath(path)
    best: MountEntry | None = None
    for m in mounts if mounts is not None else entries():
        mp = m.mount_point
        if (real == mp or real.startswith(mp.rstrip("/") + "/")) and (
                best is None or len(mp) >= len(best.mount_point)):
            best = m
    return best


def mounted_under(path: str, mounts: list[MountEntry] | None = None) -> bool:
    """Is anything mounted at or below ``path``?"""
    real = os.path.realpath(path)
    return any(m.mount_point == real or m.mount_point.startswith(real.rstrip("/") + "/")
               for m in (mounts if mounts is not None else entries()))
