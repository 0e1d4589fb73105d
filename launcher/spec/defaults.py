"""The default container config: ``runc spec``'s shape with hardened defaults.

Differences from ``runc spec`` (see SECURITY.md "Hardened defaults"): podman's
11 capabilities with empty inheritable and ambient sets; a private cgroup
namespace; more masked paths (/proc/interrupts, /sys/devices/virtual/powercap);
``terminal`` off unless asked for. Like ``runc spec`` the root is read-only
(:func:`launcher.spec.build.build_spec` follows ``--read-only`` instead).
Seccomp is the backend's business.
"""

from __future__ import annotations

from launcher.spec.caps import PODMAN_DEFAULT_CAPS
from launcher.spec.model import (
    Capabilities,
    DeviceRule,
    Linux,
    Mount,
    Namespace,
    Process,
    Resources,
    Rlimit,
    Root,
    Spec,
    User,
)

OCI_VERSION = "1.2.0"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_HOSTNAME = "launcher"
DEFAULT_NOFILE = 1024  # runc spec's RLIMIT_NOFILE; build_spec raises it

MASKED_PATHS = (
    "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
    "/proc/timer_stats", "/sys/firmware", "/sys/devices/virtual/powercap",
)  # fmt: skip
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
NAMESPACES = ("pid", "network", "ipc", "uts", "mount", "cgroup")

_NOSUID_NOEXEC_NODEV = ["nosuid", "noexec", "nodev"]


def default_mounts() -> list[Mount]:
    """/proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys and /sys/fs/cgroup."""
    return [
        Mount(destination="/proc", type="proc", source="proc", options=[*_NOSUID_NOEXEC_NODEV]),
        Mount(destination="/dev", type="tmpfs", source="tmpfs",
              options=["nosuid", "strictatime", "mode=755", "size=65536k"]),
        Mount(destination="/dev/pts", type="devpts", source="devpts",
              options=["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        Mount(destination="/dev/shm", type="tmpfs", source="shm",
              options=[*_NOSUID_NOEXEC_NODEV, "mode=1777", "size=65536k"]),
        Mount(destination="/dev/mqueue", type="mqueue", source="mqueue",
              options=[*_NOSUID_NOEXEC_NODEV]),
        Mount(destination="/sys", type="sysfs", source="sysfs",
              options=[*_NOSUID_NOEXEC_NODEV, "ro"]),
        Mount(destination="/sys/fs/cgroup", type="cgroup", source="cgroup",
              options=[*_NOSUID_NOEXEC_NODEV, "relatime", "ro"]),
    ]  # fmt: skip


def default_process(args: list[str] | tuple[str, ...] = ("sh",), terminal: bool = False) -> Process:
    """Root in ``/`` running ``args`` with podman's capabilities and no_new_privs."""
    caps = list(PODMAN_DEFAULT_CAPS)
    return Process(
        terminal=terminal,
        user=User(uid=0, gid=0),
        args=list(args),
        env=[DEFAULT_PATH, "TERM=xterm"] if terminal else [DEFAULT_PATH],
        cwd="/",
        capabilities=Capabilities(
            bounding=caps, effective=list(caps), inheritable=[], permitted=list(caps), ambient=[]
        ),
        rlimits=[Rlimit(type="RLIMIT_NOFILE", hard=DEFAULT_NOFILE, soft=DEFAULT_NOFILE)],
        no_new_privileges=True,
    )


def default_linux() -> Linux:
    """New namespaces (but user and time), deny-all device cgroup, masked /proc and /sys."""
    return Linux(
        resources=Resources(devices=[DeviceRule(allow=False, access="rwm")]),
        namespaces=[Namespace(type=t) for t in NAMESPACES],
        masked_paths=list(MASKED_PATHS),
        readonly_paths=list(READONLY_PATHS),
    )


def default_spec(args: list[str] | tuple[str, ...] = ("sh",), terminal: bool = False) -> Spec:
    """A fresh default Spec running ``args`` as root in ``/`` of ``rootfs``."""
    return Spec(
        oci_version=OCI_VERSION,
        process=default_process(args, terminal),
        root=Root(path="rootfs", readonly=True),
        hostname=DEFAULT_HOSTNAME,
        mounts=default_mounts(),
        linux=default_linux(),
    )
