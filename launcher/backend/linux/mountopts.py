"""Translate OCI mount options (``ro``, ``nosuid``, ``rbind``, ``rprivate`` …) to mount(2) flags."""

from __future__ import annotations

from launcher.backend.linux import syscalls as sc

# option -> (clear?, flag)
FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, sc.MS_SYNCHRONOUS),
    "atime": (True, sc.MS_NOATIME),
    "bind": (False, sc.MS_BIND),
    "defaults": (False, 0),
    "dev": (True, sc.MS_NODEV),
    "diratime": (True, sc.MS_NODIRATIME),
    "dirsync": (False, sc.MS_DIRSYNC),
    "exec": (True, sc.MS_NOEXEC),
    "mand": (False, sc.MS_MANDLOCK),
    "noatime": (False, sc.MS_NOATIME),
    "nodev": (False, sc.MS_NODEV),
    "nodiratime": (False, sc.MS_NODIRATIME),
    "noexec": (False, sc.MS_NOEXEC),
    "nomand": (True, sc.MS_MANDLOCK),
    "norelatime": (True, sc.MS_RELATIME),
    "nostrictatime": (True, sc.MS_STRICTATIME),
    "nosuid": (False, sc.MS_NOSUID),
    "nosymfollow": (False, sc.MS_NOSYMFOLLOW),
    "rbind": (False, sc.MS_BIND | sc.MS_REC),
    "relatime": (False, sc.MS_RELATIME),
    "remount": (False, sc.MS_REMOUNT),
    "ro": (False, sc.MS_RDONLY),
    "rw": (True, sc.MS_RDONLY),
    "strictatime": (False, sc.MS_STRICTATIME),
    "suid": (True, sc.MS_NOSUID),
    "sync": (False, sc.MS_SYNCHRONOUS),
    "lazytime": (False, sc.MS_LAZYTIME),
    "nolazytime": (True, sc.MS_LAZYTIME),
    "silent": (False, sc.MS_SILENT),
    "loud": (True, sc.MS_SILENT),
}

PROPAGATION: dict[str, int] = {
    "private": sc.MS_PRIVATE,
    "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE,
    "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE,
    "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}

# Options that are neither flags nor filesystem data: handled by the runtime.
IGNORED = frozenset({"tmpcopyup", "idmap", "ridmap", "copy-symlink", "nocopyup", "copyup"})

# Recursive read-only etc. (mount_setattr, kernel >= 5.12); "rro" is the common one.
RECURSIVE = frozenset({"rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec",
                       "rnoatime", "ratime", "rrelatime", "rnorelatime", "rstrictatime",
                       "rnodiratime", "rdiratime", "rnosymfollow", "rsymfollow"})


class MountOptions:
    """Parsed options: flags to set, propagation flags, fs data, recursive attrs."""

    __slots__ = ("data", "flags", "propagation", "recursive")

    def __init__(self, flags: int, propagation: list[int], data: str, recursive: list[str]) -> None:
        self.flags = flags
        self.propagation = propagation
        self.data = data
        self.recursive = recursive

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & sc.MS_BIND)


def parse(options: list[str] | None) -> MountOptions:
    flags = 0
    prop: list[int] = []
    data: list[str] = []
    rec: list[str] = []
    for opt in options or ():
        if opt in FLAGS:
            clear, bit = FLAGS[opt]
            flags = flags & ~bit if clear else flags | bit
        elif opt in PROPAGATION:
            prop.append(PROPAGATION[opt])
        elif opt in RECURSIVE:
            rec.append(opt)
        elif opt in IGNORED:
            continue
        else:
            data.append(opt)
    return MountOptions(flags, prop, ",".join(data), rec)
