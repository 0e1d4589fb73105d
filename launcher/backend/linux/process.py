"""The last steps before the user's program runs: limits, identity, capabilities.

Shared by container init and by ``exec``.  The order is the one the kernel
forces on us (each step says why).
"""

from __future__ import annotations

import os
import stat

from launcher.backend.linux import syscalls as sc
from launcher.errors import ExecFailure, RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.backend.linux.syscalls import Syscalls
    from launcher.spec.model import Process

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def cap_mask(names: list[str] | None) -> int:
    from launcher.spec.caps import cap_number

    mask = 0
    for name in names or ():
        mask |= 1 << cap_number(name)
    return mask


def set_rlimits(sys: Syscalls, proc: Process) -> None:
    """Before dropping privileges; above the hard limit is an error, as in runc."""
    for rl in proc.rlimits or ():
        res = RLIMITS.get(rl.type or "")
        if res is None:
            raise RuntimeFailure(f"unknown rlimit {rl.type}")
        try:
            sys.setrlimit(res, _rlim(rl.soft or 0), _rlim(rl.hard or 0))
        except (OSError, ValueError) as exc:
            raise RuntimeFailure(
                f"setting {rl.type} to {rl.soft}:{rl.hard}: {getattr(exc, 'strerror', exc)}"
                " (raising a hard limit needs CAP_SYS_RESOURCE)"
            ) from exc


def _rlim(v: int) -> int:
    # RLIM_INFINITY is 2**64-1 in the spec's uint64; Python's resource wants -1.
    return -1 if v >= 2**64 - 1 else v


def set_oom_score_adj(sys: Syscalls, proc: Process) -> None:
    if proc.oom_score_adj is not None:
        try:
            sys.write_file("/proc/self/oom_score_adj", str(proc.oom_score_adj))
        except OSError as exc:
            raise RuntimeFailure(f"setting oom_score_adj: {exc.strerror}") from exc


MAX_ID = 2**32 - 2


def checked_ids(proc: Process) -> tuple[int, int, list[int]]:
    """``process.user``'s uid, gid and additional gids, each a real id.

    (uid_t)-1 means "leave unchanged" to setresuid/setresgid, so 4294967295
    would keep the process root; larger ids would not even fit. launcher-runtime
    takes OCI configs from anyone: refuse them here, whatever checked them before."""
    user = proc.user
    if user is None:
        return 0, 0, []
    uid, gid = user.uid or 0, user.gid or 0
    groups = list(user.additional_gids or [])
    bad = [f"process.user.{name} {n} is out of range (0-{MAX_ID})"
           for name, n in [("uid", uid), ("gid", gid)] + [("additionalGids", g) for g in groups]
           if not 0 <= n <= MAX_ID]
    if bad:
        from launcher.errors import ConfigError

        raise ConfigError(bad)
    return uid, gid, groups


def drop_privileges(sys: Syscalls, proc: Process,
                    seccomp: tuple[bytes, int] | None = None) -> None:
    """Bounding set, then identity, then the other capability sets; the seccomp
    filter (BPF, flags) last, after no_new_privs, or first while init still
    has CAP_SYS_ADMIN when the process keeps the right to gain privileges (as
    runc: the kernel takes a filter only from one or the other)."""
    if seccomp is not None and not proc.no_new_privileges:
        sys.seccomp_load(*seccomp)
    caps = proc.capabilities
    user = proc.user
    from launcher.spec.caps import last_cap

    if caps is not None:
        keep = cap_mask(caps.bounding)
        # PR_CAPBSET_DROP needs CAP_SETPCAP, which the identity change may take away.
        for n in range(last_cap() + 1):
            if not keep & (1 << n):
                sys.prctl(sc.PR_CAPBSET_DROP, n)
    uid, gid, groups = checked_ids(proc)
    # Keep the permitted set across setuid(non-zero); capset below trims it.
    sys.prctl(sc.PR_SET_KEEPCAPS, 1)
    try:
        sys.setgroups(groups)
    except PermissionError:
        pass  # a user namespace with setgroups denied: nothing to drop
    sys.setresgid(gid)
    sys.setresuid(uid)
    sys.prctl(sc.PR_SET_KEEPCAPS, 0)
    if caps is not None:
        sys.capset(cap_mask(caps.effective), cap_mask(caps.permitted), cap_mask(caps.inheritable))
        sys.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
        from launcher.spec.caps import cap_number

        # The kernel only lets a capability into the ambient set when it is
        # both permitted and inheritable; `runc spec` lists ambient caps with
        # no inheritable set, and runc (like us) leaves such ones out.
        allowed = cap_mask(caps.permitted) & cap_mask(caps.inheritable)
        for name in caps.ambient or ():
            n = cap_number(name)
            if allowed & (1 << n):
                sys.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, n)
    if proc.no_new_privileges:
        sys.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    umask = user.umask if user is not None and user.umask is not None else 0o022
    os.umask(umask)
    if seccomp is not None and proc.no_new_privileges:
        sys.seccomp_load(*seccomp)  # what follows: chdir, close_range/close, execve


def env_path(env: list[str] | None) -> str:
    for e in env or ():
        if e.startswith("PATH="):
            return e[5:]
    return DEFAULT_PATH


def find_executable(name: str, env: list[str] | None) -> str:
    """PATH lookup in the *container's* filesystem (we are past pivot_root)."""
    if "/" in name:
        _check_executable(name)
        return name
    for d in env_path(env).split(":"):
        cand = os.path.join(d or ".", name)
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return cand
    raise ExecFailure(f'exec: "{name}": executable file not found in $PATH', 127)


def _check_executable(path: str) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ExecFailure(f'exec: "{path}": no such file or directory', 127) from None
    except OSError as exc:
        raise ExecFailure(f'exec: "{path}": {exc.strerror}', 126) from None
    if stat.S_ISDIR(st.st_mode):
        raise ExecFailure(f'exec: "{path}": is a directory', 126)


def enter_cwd(cwd: str) -> None:
    """chdir, then prove the cwd is inside our root (CVE-2024-21626)."""
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise RuntimeFailure(f"cannot chdir to {cwd}: {exc.strerror}") from exc
    here = os.getcwd()
    if not here.startswith("/"):
        raise RuntimeFailure(f"cwd {cwd} resolves outside the container")


def exec_env(proc: Process, extra: list[str] | None = None) -> dict[str, str]:
    """The environment to exec with; HOME from the container's /etc/passwd for
    the process uid when the config sets none (as runc and crun do), else "/".
    Called inside the container (after pivot_root or setns), before the user
    switch, so the file read is the container's own and still readable."""
    env: dict[str, str] = {}
    for e in [*(proc.env or ()), *(extra or ())]:
        k, _, v = e.partition("=")
        env[k] = v
    if "HOME" not in env:
        env["HOME"] = _home_of(proc.user.uid if proc.user and proc.user.uid else 0)
    return env


def _home_of(uid: int, passwd: str = "/etc/passwd") -> str:
    try:
        fd = os.open(passwd, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return "/"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 4 << 20:
            return "/"  # a FIFO, a device or a huge file: never block, never slurp
        data = os.read(fd, 4 << 20)
    finally:
        os.close(fd)
    for line in data.decode(errors="replace").splitlines():
        f = line.split(":")
        if len(f) >= 7 and f[2] == str(uid) and f[5]:
            return f[5]
    return "/"


def close_fds(keep: tuple[int, ...] = ()) -> None:
    """Close every fd >= 3 that is not in ``keep`` (no stray fds into the container)."""
    lo = 3
    for fd in sorted(k for k in keep if k >= 3):
        os.closerange(lo, fd)
        lo = fd + 1
    os.closerange(lo, 1 << 20)


def exec_error_code(exc: OSError) -> int:
    return 127 if exc.errno == 2 else 126
