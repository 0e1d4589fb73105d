"""The kernel seam: every namespace, mount, credential and capability syscall.

Logic modules (namespaces, rootfs, process) receive a ``Syscalls`` object and
call only its methods, so their ordering and arguments are unit-tested with a
recorder (``tests/unit/backend/linux/conftest.py``) without root.  ``LinuxSyscalls``
is the real implementation, through ctypes on the C library.

ctypes is loaded on first use: a process that only reads state never pays the
~5 ms it costs to import.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

# clone(2) / unshare(2) flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000
MNT_DETACH = 0x2

# The new mount API (Linux 5.2: open_tree, move_mount; 5.12: mount_setattr).
# A mount is built detached, given its flags, then attached through an fd, so
# nothing re-resolves a path between making a mount and setting its flags.
SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_MOUNT_SETATTR = 442
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 0x1
OPEN_TREE_CLOEXEC = 0o2000000  # O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70  # the atime field: RELATIME (0), NOATIME, STRICTATIME
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

# prctl(2)
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

_LINUX_CAPABILITY_VERSION_3 = 0x20080522
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

# Syscalls glibc has no wrapper for, by machine. Newer syscalls (>= 424) share
# one number on every architecture.
_SYSCALL_NR = {
    "x86_64": {"pivot_root": 155, "capget": 125, "capset": 126},
    "aarch64": {"pivot_root": 41, "capget": 90, "capset": 91},
    "riscv64": {"pivot_root": 41, "capget": 90, "capset": 91},
    "ppc64le": {"pivot_root": 203, "capget": 183, "capset": 184},
    "s390x": {"pivot_root": 217, "capget": 184, "capset": 185},
}
SYS_PIDFD_SEND_SIGNAL = 424
SYS_PIDFD_OPEN = 434


if TYPE_CHECKING:

    class Syscalls(Protocol):
        """What the container setup code may ask of the kernel."""

        def unshare(self, flags: int) -> None: ...
        def setns(self, fd: int, nstype: int) -> None: ...
        def mount(
            self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
        ) -> None: ...
        def umount2(self, target: str, flags: int) -> None: ...
        def open_tree(self, dirfd: int, path: str, flags: int) -> int: ...
        def mount_setattr(self, fd: int, path: str, flags: int, attr_set: int, attr_clr: int,
                          propagation: int) -> None: ...
        def move_mount(self, from_fd: int, from_path: str, to_fd: int, to_path: str,
                       flags: int) -> None: ...
        def pivot_root(self, new_root: str, put_old: str) -> None: ...
        def sethostname(self, name: str) -> None: ...
        def setdomainname(self, name: str) -> None: ...
        def prctl(self, option: int, arg2: int = 0, arg3: int = 0) -> int: ...
        def capset(self, effective: int, permitted: int, inheritable: int) -> None: ...
        def capget(self) -> tuple[int, int, int]: ...
        def setgroups(self, gids: list[int]) -> None: ...
        def setresgid(self, gid: int) -> None: ...
        def setresuid(self, uid: int) -> None: ...
        def setrlimit(self, resource: int, soft: int, hard: int) -> None: ...
        def write_file(self, path: str, data: str) -> None: ...
        def loopback_up(self) -> None: ...
        def seccomp_load(self, program: bytes, flags: int) -> None: ...


_SECCOMP_NR = {"x86_64": 317, "aarch64": 277}
_SECCOMP_SET_MODE_FILTER = 1


def _errno_error(op: str, target: str = "") -> OSError:
    import ctypes

    err = ctypes.get_errno()
    msg = f"{op}: {os.strerror(err)}"
    return OSError(err, msg, target) if target else OSError(err, msg)


class LinuxSyscalls:
    """Real syscalls through ctypes. One instance per process is plenty."""

    def __init__(self) -> None:
        import ctypes

        self._ct: Any = ctypes
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._libc.syscall.restype = ctypes.c_long
        self._libc.mount.argtypes = [
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_char_p,
        ]
        self._libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                                     ctypes.c_ulong, ctypes.c_ulong]
        self._nr = _SYSCALL_NR.get(os.uname().machine, {})

    # namespaces
    def unshare(self, flags: int) -> None:
        if self._libc.unshare(flags) != 0:
            raise _errno_error("unshare")

    def setns(self, fd: int, nstype: int) -> None:
        if self._libc.setns(fd, nstype) != 0:
            raise _errno_error("setns")

    # mounts
    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None:
        enc = os.fsencode
        rc = self._libc.mount(
            enc(source) if source is not None else None,
            enc(target),
            enc(fstype) if fstype is not None else None,
            flags,
            enc(data) if data else None,
        )
        if rc != 0:
            raise _errno_error(f"mount {source or fstype} on {target}", target)

    def umount2(self, target: str, flags: int) -> None:
        if self._libc.umount2(os.fsencode(target), flags) != 0:
            raise _errno_error(f"umount {target}", target)

    def open_tree(self, dirfd: int, path: str, flags: int) -> int:
        """An fd of the mount at ``path`` (with OPEN_TREE_CLONE: a detached copy of
        it, with AT_RECURSIVE its submounts too). ENOSYS before Linux 5.2."""
        ct: Any = self._ct
        fd = int(self._libc.syscall(SYS_OPEN_TREE, ct.c_int(dirfd), os.fsencode(path),
                                    ct.c_uint(flags)))
        if fd < 0:
            raise _errno_error(f"open_tree {path or dirfd}", path)
        return fd

    def mount_setattr(self, fd: int, path: str, flags: int, attr_set: int, attr_clr: int,
                      propagation: int) -> None:
        """Set (and clear) mount attributes and propagation. ENOSYS before Linux 5.12."""
        ct: Any = self._ct
        # struct mount_attr { __u64 attr_set, attr_clr, propagation, userns_fd; }
        attr = (ct.c_uint64 * 4)(attr_set, attr_clr, propagation, 0)
        if self._libc.syscall(SYS_MOUNT_SETATTR, ct.c_int(fd), os.fsencode(path),
                              ct.c_uint(flags), ct.byref(attr), ct.c_size_t(32)) != 0:
            raise _errno_error("mount_setattr", path)

    def move_mount(self, from_fd: int, from_path: str, to_fd: int, to_path: str,
                   flags: int) -> None:
        ct: Any = self._ct
        if self._libc.syscall(SYS_MOVE_MOUNT, ct.c_int(from_fd), os.fsencode(from_path),
                              ct.c_int(to_fd), os.fsencode(to_path), ct.c_uint(flags)) != 0:
            raise _errno_error("move_mount", to_path)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        nr = self._nr.get("pivot_root")
        if nr is None:
            raise OSError(38, f"pivot_root: unsupported machine {os.uname().machine}")
        if self._libc.syscall(nr, os.fsencode(new_root), os.fsencode(put_old)) != 0:
            raise _errno_error("pivot_root", new_root)

    # identity
    def sethostname(self, name: str) -> None:
        raw = name.encode()
        if self._libc.sethostname(raw, len(raw)) != 0:
            raise _errno_error("sethostname")

    def setdomainname(self, name: str) -> None:
        raw = name.encode()
        if self._libc.setdomainname(raw, len(raw)) != 0:
            raise _errno_error("setdomainname")

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0) -> int:
        rc = int(self._libc.prctl(option, arg2, arg3, 0, 0))
        if rc < 0:
            raise _errno_error(f"prctl({option})")
        return rc

    def seccomp_load(self, program: bytes, flags: int) -> None:
        """``seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)``: ``program`` is raw BPF
        (8-byte instructions, launcher.seccomp.bpf)."""
        ct: Any = self._ct
        buf = ct.create_string_buffer(program, len(program))
        # struct sock_fprog { unsigned short len; struct sock_filter *filter; }: the
        # length in the first word's low bits (little-endian hosts), then the pointer
        prog = (ct.c_uint64 * 2)(len(program) // 8, ct.addressof(buf))
        nr = _SECCOMP_NR.get(os.uname().machine)
        if nr is None:
            raise OSError(f"seccomp: no syscall number known for {os.uname().machine}")
        if self._libc.syscall(nr, _SECCOMP_SET_MODE_FILTER, flags, ct.byref(prog)) != 0:
            raise _errno_error("seccomp")

    def _cap_struct(self) -> tuple[Any, Any]:
        """capget/capset's header and two data words (the 64-bit sets split in two)."""
        ct: Any = self._ct
        header = (ct.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (ct.c_uint32 * 6)()  # [eff0, prm0, inh0, eff1, prm1, inh1]
        return header, data

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        hdr, data = self._cap_struct()
        for i in (0, 1):
            shift = 32 * i
            data[3 * i] = (effective >> shift) & 0xFFFFFFFF
            data[3 * i + 1] = (permitted >> shift) & 0xFFFFFFFF
            data[3 * i + 2] = (inheritable >> shift) & 0xFFFFFFFF
        ct = self._ct
        if self._libc.syscall(self._nr["capset"], ct.byref(hdr), ct.byref(data)) != 0:
            raise _errno_error("capset")

    def capget(self) -> tuple[int, int, int]:
        hdr, data = self._cap_struct()
        ct = self._ct
        if self._libc.syscall(self._nr["capget"], ct.byref(hdr), ct.byref(data)) != 0:
            raise _errno_error("capget")
        eff = data[0] | (data[3] << 32)
        prm = data[1] | (data[4] << 32)
        inh = data[2] | (data[5] << 32)
        return int(eff), int(prm), int(inh)

    def setgroups(self, gids: list[int]) -> None:
        os.setgroups(gids)

    def setresgid(self, gid: int) -> None:
        os.setresgid(gid, gid, gid)

    def setresuid(self, uid: int) -> None:
        os.setresuid(uid, uid, uid)

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        import resource as _resource

        _resource.setrlimit(resource, (soft, hard))

    def pidfd_open(self, pid: int) -> int:
        fd = int(self._libc.syscall(SYS_PIDFD_OPEN, pid, 0))
        if fd < 0:
            raise _errno_error("pidfd_open")
        return fd

    def pidfd_send_signal(self, pidfd: int, sig: int) -> None:
        if self._libc.syscall(SYS_PIDFD_SEND_SIGNAL, pidfd, sig, None, 0) != 0:
            raise _errno_error("pidfd_send_signal")

    def loopback_up(self) -> None:
        """Bring ``lo`` up in this (new) network namespace, as runc and Docker do.

        An ioctl on a datagram socket made through libc: the ``socket`` module
        costs ~9 ms to import and this runs on every container start."""
        import fcntl

        fd = int(self._libc.socket(2, 2 | os.O_CLOEXEC, 0))  # AF_INET, SOCK_DGRAM
        if fd < 0:
            raise _errno_error("socket")
        try:
            ifr = bytearray(b"lo".ljust(40, b"\0"))
            fcntl.ioctl(fd, SIOCGIFFLAGS, ifr)
            flags = int.from_bytes(ifr[16:18], "little") | IFF_UP
            ifr[16:18] = flags.to_bytes(2, "little")
            fcntl.ioctl(fd, SIOCSIFFLAGS, ifr)
        finally:
            os.close(fd)

    def write_file(self, path: str, data: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)


_real: LinuxSyscalls | None = None


def real() -> LinuxSyscalls:
    """The process-wide real syscall object (created on first use)."""
    global _real
    if _real is None:
        _real = LinuxSyscalls()
    return _real
