"""fork(), optionally straight into a cgroup2 directory (clone3 CLONE_INTO_CGROUP).

Moving a running process into a cgroup2 cgroup takes the kernel's global
cgroup_threadgroup_rwsem for writing, which waits for an RCU grace period:
~20 ms here, the single largest cost of starting a container on a v2 or
hybrid host.  A child *born* in the cgroup (clone3 with CLONE_INTO_CGROUP,
Linux 5.7+) skips the migration entirely; crun does the same.

Python's own fork hooks run around the raw syscall exactly as ``os.fork``
runs them (PyOS_BeforeFork / PyOS_AfterFork_*), with the GIL held throughout
(the syscall goes through ``ctypes.PyDLL``), so the child's interpreter state
is what ``os.fork`` would leave.  Callers must be single-threaded, as for any
fork here.  Any refusal (old kernel, seccomp) falls back to ``os.fork``.
"""

from __future__ import annotations

import os

SYS_CLONE3 = 435
CLONE_INTO_CGROUP = 0x200000000
SIGCHLD = 17

_broken: list[bool] = []


def fork_into_cgroup(cgroup_dir: str | None) -> tuple[int, bool]:
    """(pid, born_in_cgroup): 0 in the child, as with os.fork."""
    if cgroup_dir is None or _broken:
        return os.fork(), False
    try:
        cg_fd = os.open(cgroup_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return os.fork(), False
    try:
        pid = _clone3(cg_fd)
    finally:
        if pid != 0:
            os.close(cg_fd)
    if pid < 0:
        _broken.append(True)
        return os.fork(), False
    return pid, True


def _clone3(cg_fd: int) -> int:
    import ctypes

    api = ctypes.pythonapi
    libc = ctypes.PyDLL(None, use_errno=True)  # PyDLL: keep the GIL across the call
    libc.syscall.restype = ctypes.c_long
    args = (ctypes.c_uint64 * 11)()
    args[0] = CLONE_INTO_CGROUP  # flags
    args[4] = SIGCHLD  # exit_signal
    args[10] = cg_fd  # cgroup
    api.PyOS_BeforeFork()
    pid = int(libc.syscall(ctypes.c_long(SYS_CLONE3), ctypes.byref(args),
                           ctypes.c_size_t(ctypes.sizeof(args))))
    if pid == 0:
        api.PyOS_AfterFork_Child()
    else:
        api.PyOS_AfterFork_Parent()
    return pid
