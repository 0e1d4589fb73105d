"""The syscall name tables of launcher's default seccomp profile (:mod:`.default`).

Names cover every ABI the filter covers (x86_64, x86, x32; aarch64, arm):
libseccomp ignores a name an architecture does not have, so the 32-bit
spellings (``_llseek``, ``fstat64``, ``socketcall``, ``*_time64``) sit next to
the 64-bit ones. Grouped by purpose, not sorted, so a reviewer can see what a
group grants.
"""

from __future__ import annotations

ALLOWED: tuple[str, ...] = (
    # files and descriptors
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "open", "openat", "openat2", "creat", "close", "close_range", "dup", "dup2",
    "dup3", "lseek", "_llseek", "fcntl", "fcntl64", "ioctl", "flock", "fsync", "fdatasync",
    "sync", "syncfs", "sync_file_range", "fallocate", "fadvise64", "fadvise64_64", "readahead",
    "truncate", "truncate64", "ftruncate", "ftruncate64", "sendfile", "sendfile64", "splice",
    "tee", "vmsplice", "copy_file_range", "cachestat", "pipe", "pipe2",
    # metadata, directories, links
    "stat", "stat64", "lstat", "lstat64", "fstat", "fstat64", "fstatat64", "newfstatat",
    "statx", "statfs", "statfs64", "fstatfs", "fstatfs64", "access", "faccessat",
    "faccessat2", "getdents", "getdents64", "getcwd", "chdir", "fchdir", "mkdir", "mkdirat",
    "rmdir", "mknod", "mknodat", "link", "linkat", "symlink", "symlinkat", "unlink",
    "unlinkat", "rename", "renameat", "renameat2", "readlink", "readlinkat", "chmod", "fchmod",
    "fchmodat", "fchmodat2", "chown", "chown32", "fchown", "fchown32", "fchownat", "lchown",
    "lchown32", "umask", "utime", "utimes", "utimensat", "utimensat_time64", "futimesat",
    "statmount", "listmount",
    # extended attributes
    "getxattr", "lgetxattr", "fgetxattr", "getxattrat", "setxattr", "lsetxattr", "fsetxattr",
    "setxattrat", "listxattr", "llistxattr", "flistxattr", "listxattrat", "removexattr",
    "lremovexattr", "fremovexattr", "removexattrat",
    # polling and events
    "select", "_newselect", "pselect6", "pselect6_time64", "poll", "ppoll", "ppoll_time64",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait",
    "epoll_wait_old", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "inotify_init",
    "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "fanotify_mark",
    # asynchronous I/O (io_uring is not here: see NEVER)
    "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
    "io_pgetevents_time64",
    # memory
    "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync",
    "mlock", "mlock2", "mlockall", "munlock", "munlockall", "remap_file_pages", "membarrier",
    "memfd_create", "memfd_secret", "pkey_alloc", "pkey_free", "pkey_mprotect", "mseal",
    "map_shadow_stack", "process_mrelease", "getrandom",
    # processes and threads (clone, clone3, personality: special rules in default.py)
    "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "waitpid",
    "set_tid_address", "set_robust_list", "get_robust_list", "futex", "futex_time64",
    "futex_waitv", "futex_wake", "futex_wait", "futex_requeue", "rseq", "prctl",
    "get_thread_area", "set_thread_area", "restart_syscall", "getpid", "getppid", "gettid",
    "getpgid", "setpgid", "getpgrp", "getsid", "setsid", "pidfd_open", "pidfd_send_signal",
    "seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
    "sched_setparam", "sched_getscheduler", "sched_setscheduler", "sched_getattr",
    "sched_setattr", "sched_get_priority_max", "sched_get_priority_min",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "getpriority", "setpriority",
    "nice", "ioprio_get", "ioprio_set", "getcpu", "getrlimit", "ugetrlimit", "setrlimit",
    "prlimit64", "getrusage", "times", "sysinfo", "uname", "olduname", "capget", "capset",
    # credentials (the kernel checks CAP_SETUID/CAP_SETGID)
    "getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid",
    "getegid32", "getresuid", "getresuid32", "getresgid", "getresgid32", "getgroups",
    "getgroups32", "setuid", "setuid32", "setgid", "setgid32", "setreuid", "setreuid32",
    "setregid", "setregid32", "setresuid", "setresuid32", "setresgid", "setresgid32",
    "setgroups", "setgroups32", "setfsuid", "setfsuid32", "setfsgid", "setfsgid32",
    # signals
    "kill", "tkill", "tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
    "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
    "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaction", "sigprocmask", "sigreturn",
    "sigpending", "sigsuspend", "signal", "sigaltstack", "signalfd", "signalfd4", "pause",
    # time and timers (setting the clock: CAP_SYS_TIME, in GATED)
    "time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres",
    "clock_getres_time64", "clock_nanosleep", "clock_nanosleep_time64", "nanosleep",
    "adjtimex", "alarm", "getitimer", "setitimer", "timer_create", "timer_delete",
    "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
    "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
    "timerfd_settime", "timerfd_settime64",
    # sockets (socket itself: special rules in default.py; socketcall is the 32-bit x86
    # multiplexer, whose socket family sits behind a pointer seccomp cannot read)
    "socketpair", "socketcall", "bind", "connect", "listen", "accept", "accept4",
    "getsockname", "getpeername", "getsockopt", "setsockopt", "shutdown", "send", "sendto",
    "sendmsg", "sendmmsg", "recv", "recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64",
    # System V and POSIX IPC (isolated by the IPC namespace; ipc: the 32-bit multiplexer)
    "ipc", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop",
    "semtimedop_time64", "semctl", "shmget", "shmat", "shmdt", "shmctl", "mq_open",
    "mq_unlink", "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive",
    "mq_timedreceive_time64", "mq_notify", "mq_getsetattr",
)  # fmt: skip

# Host-architecture-only grants, as a Docker ``includes.arches`` list: names.
BY_ARCH: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("amd64",), ("arch_prctl", "modify_ldt")),
    (("arm64",), ("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2",
                  "breakpoint", "cacheflush", "set_tls")),
)  # fmt: skip

# Allowed with any one of the capabilities, EPERM without. The kernel checks most
# of these capabilities itself; the filter also shuts the bug surface behind them.
GATED: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("CAP_SYS_ADMIN",), (
        "mount", "umount", "umount2", "mount_setattr", "move_mount", "open_tree",
        "open_tree_attr", "fsopen", "fsconfig", "fsmount", "fspick", "pivot_root", "unshare",
        "setns", "quotactl", "quotactl_fd", "lookup_dcookie", "fanotify_init", "sethostname",
        "setdomainname")),
    (("CAP_BPF", "CAP_SYS_ADMIN"), ("bpf",)),
    (("CAP_PERFMON", "CAP_SYS_ADMIN"), ("perf_event_open",)),
    (("CAP_SYSLOG", "CAP_SYS_ADMIN"), ("syslog",)),
    (("CAP_DAC_READ_SEARCH",), ("open_by_handle_at", "name_to_handle_at")),
    (("CAP_SYS_BOOT",), ("reboot",)),
    (("CAP_SYS_MODULE",), ("init_module", "finit_module", "delete_module")),
    (("CAP_SYS_TIME",), ("settimeofday", "stime", "clock_settime", "clock_settime64",
                         "clock_adjtime", "clock_adjtime64")),
    (("CAP_SYS_PACCT",), ("acct",)),
    (("CAP_SYS_RAWIO",), ("iopl", "ioperm")),
    (("CAP_SYS_NICE",), ("mbind", "set_mempolicy", "get_mempolicy", "set_mempolicy_home_node",
                         "move_pages", "migrate_pages")),
    (("CAP_SYS_TTY_CONFIG",), ("vhangup",)),
    (("CAP_SYS_CHROOT",), ("chroot",)),
)  # fmt: skip

# Cross-process inspection: ptrace could bypass seccomp before Linux 4.8, so it and
# its siblings need CAP_SYS_PTRACE on older kernels and are allowed from 4.8 on.
PTRACE_MIN_KERNEL = "4.8"
PTRACE: tuple[str, ...] = ("ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
                           "pidfd_getfd", "process_madvise")  # fmt: skip

# EPERM whatever the capabilities: obsolete, host-global, or a large attack surface.
NEVER: tuple[str, ...] = (
    "add_key", "keyctl", "request_key",  # the keyring is not namespaced
    "kexec_load", "kexec_file_load", "create_module", "get_kernel_syms", "query_module",
    "io_uring_setup", "io_uring_enter", "io_uring_register",  # bypasses seccomp, CVE trail
    "userfaultfd",  # stalls kernel copies: an exploit primitive
    "swapon", "swapoff", "nfsservctl", "uselib", "ustat", "sysfs", "_sysctl", "vm86",
    "vm86old", "bdflush", "pciconfig_iobase", "pciconfig_read", "pciconfig_write",
)  # fmt: skip
