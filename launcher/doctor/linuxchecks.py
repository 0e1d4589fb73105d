"""The Linux host's checks: kernel features and the rootless helpers."""

from __future__ import annotations

from launcher.doctor.base import (
    _FULL_UID_MAP,
    _NS_CONFIG,
    LIMIT_CONTROLLERS,
    NAMESPACES,
    SUBIDS_WANTED,
    Check,
    Probe,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from launcher.paths import Paths


# -- Linux: the kernel and the rootless helpers ---------------------------------------------


def namespaces(p: Probe, paths: Paths) -> Check:
    missing = [n for n in NAMESPACES if not p.exists(f"/proc/self/ns/{n}")]
    if not missing:
        return Check("namespaces", "ok", f"all {len(NAMESPACES)} available: "
                                         f"{', '.join(NAMESPACES)}")
    # Root's containers share the host's user namespace by default; nothing else is optional.
    needed = [n for n in missing if n != "user" or p.euid() != 0]
    configs = " ".join(f"CONFIG_{_NS_CONFIG[n]}=y" for n in missing)
    return Check("namespaces", "fail" if needed else "warn",
                 f"missing in /proc/self/ns: {', '.join(missing)}",
                 f"boot a kernel built with {configs}")


def userns(p: Probe, paths: Paths) -> Check:
    uid_map = " ".join((p.read("/proc/self/uid_map") or "").split())
    where = ("the initial user namespace" if uid_map in ("", _FULL_UID_MAP)
             else f"inside a user namespace (uid_map: {uid_map})")
    if p.euid() == 0:
        return Check("userns", "ok", f"root, in {where}")
    for key, bad, good, why in (
        ("kernel/unprivileged_userns_clone", "0", "1", "unprivileged user namespaces are off"),
        ("user/max_user_namespaces", "0", "15000", "user.max_user_namespaces is 0"),
        ("kernel/apparmor_restrict_unprivileged_userns", "1", "0",
         "AppArmor denies capabilities in unprivileged user namespaces"),
    ):
        if (p.read(f"/proc/sys/{key}") or "").strip() == bad:
            sysctl = key.replace("/", ".")
            return Check("userns", "fail", f"{why} (/proc/sys/{key} = {bad})",
                         f"sysctl -w {sysctl}={good} (to keep it: echo {sysctl}={good} "
                         "> /etc/sysctl.d/99-launcher.conf)")
    limit = (p.read("/proc/sys/user/max_user_namespaces") or "").strip() or "unknown"
    return Check("userns", "ok", f"unprivileged user namespaces allowed (max {limit}), "
                                 f"in {where}")


def overlayfs(p: Probe, paths: Paths) -> Check:
    release = p.kernel_release()
    lines = (p.read("/proc/filesystems") or "").splitlines()
    if any(line.split()[-1:] == ["overlay"] for line in lines):
        found = "overlay in /proc/filesystems"
    elif p.exists(f"/lib/modules/{release}/kernel/fs/overlayfs"):
        found = f"overlay module of {release} available (loaded at the first mount)"
    else:
        return Check("overlayfs", "warn", f"no overlay filesystem in /proc/filesystems nor a "
                     f"module for {release}: containers start from a full copy of the image",
                     "modprobe overlay (or boot a kernel built with CONFIG_OVERLAY_FS)")
    if p.euid() != 0 and _version(release) < (5, 11):
        return Check("overlayfs", "warn", f"{found}, but kernel {release} allows overlay in "
                     "a user namespace only from 5.11: rootless containers use full copies",
                     "upgrade the kernel to 5.11 or later")
    return Check("overlayfs", "ok", found)


def _version(release: str) -> tuple[int, int]:
    """``"6.1.0-18-amd64"`` → ``(6, 1)``."""
    nums = [0, 0]
    for i, part in enumerate(release.split(".")[:2]):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        nums[i] = int(digits or 0)
    return nums[0], nums[1]


def cgroups(p: Probe, paths: Paths) -> Check:
    layout = p.cgroup_layout()
    root = p.euid() == 0
    if layout == "none":
        return Check("cgroups", "fail" if root else "warn",
                     "no cgroup filesystem mounted at /sys/fs/cgroup",
                     "mount -t cgroup2 none /sys/fs/cgroup")
    if root:
        return Check("cgroups", "ok", f"cgroup {layout}, root: containers go under /launcher")
    if layout != "v2":
        return Check("cgroups", "warn", f"cgroup {layout}: only cgroup v2 can be delegated, "
                     "so rootless containers run without resource limits",
                     "boot with systemd.unified_cgroup_hierarchy=1 (add it to "
                     "GRUB_CMDLINE_LINUX in /etc/default/grub, update-grub, reboot)")
    found = p.delegation(layout, p.uid())
    if found is None:
        return Check("cgroups", "warn", f"cgroup v2, but no cgroup of this process is "
                     f"delegated to uid {p.uid()}: rootless containers run without limits",
                     "run launcher in a delegated scope: systemd-run --user --scope -p "
                     "Delegate=yes launcher …; without a user session first: loginctl "
                     f"enable-linger {p.user_name()} and log in again")
    have = " ".join(sorted(found.controllers)) or "none"
    missing = sorted(LIMIT_CONTROLLERS - found.controllers)
    if missing:
        return Check("cgroups", "warn", f"cgroup v2, delegated {found.path} with controllers "
                     f"{have}; missing {', '.join(missing)}: those limits are not applied",
                     "as root: mkdir -p /etc/systemd/system/user@.service.d && printf "
                     "'[Service]\\nDelegate=cpu cpuset io memory pids\\n' > "
                     "/etc/systemd/system/user@.service.d/delegate.conf && systemctl "
                     "daemon-reload; then log in again")
    return Check("cgroups", "ok", f"cgroup v2, delegated {found.path} (controllers: {have})")


def seccomp(p: Probe, paths: Paths) -> Check:
    mode = None
    for line in (p.read("/proc/self/status") or "").splitlines():
        if line.startswith("Seccomp:"):
            mode = line.split(":", 1)[1].strip()
    if mode is None:
        return Check("seccomp", "fail", "the kernel has no seccomp (no Seccomp: line in "
                     "/proc/self/status)", "boot a kernel built with CONFIG_SECCOMP_FILTER=y, "
                     "or run containers with --security-opt seccomp=unconfined")
    lib = p.find_library("seccomp")
    if lib is None:
        return Check("seccomp", "fail", "the kernel has seccomp, but libseccomp.so.2 is not "
                     "found: the default profile cannot be compiled", "apt-get install libseccomp2")
    return Check("seccomp", "ok", f"kernel seccomp (this process: mode {mode}), {lib}")


def _subid_ranges(p: Probe, path: str) -> tuple[str, list[tuple[int, int]]]:
    from launcher.spec.userns import parse_subids

    text = p.read(path) or ""
    return text, parse_subids(text, p.user_name(), p.uid())


def _free_subid_start(*texts: str) -> int:
    """The first id past every range in the files (at least 100000), so the
    suggested range collides with no other user's."""
    end = 100000
    for text in texts:
        for line in text.splitlines():
            fields = line.strip().split(":")
            if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
                end = max(end, int(fields[1]) + int(fields[2]))
    return end


def subids(p: Probe, paths: Paths) -> Check:
    from launcher.spec.userns import SUBGID_FILE, SUBUID_FILE

    if p.euid() == 0:
        return Check("subids", "skip", "root: containers need no subordinate ids")
    user = p.user_name()
    utext, uranges = _subid_ranges(p, SUBUID_FILE)
    gtext, granges = _subid_ranges(p, SUBGID_FILE)
    nuid = sum(count for _start, count in uranges)
    ngid = sum(count for _start, count in granges)
    found = f"{user} has {nuid} subordinate uids ({SUBUID_FILE}) and {ngid} gids ({SUBGID_FILE})"
    if nuid >= SUBIDS_WANTED and ngid >= SUBIDS_WANTED:
        return Check("subids", "ok", found)
    start = _free_subid_start(utext, gtext)
    last = start + SUBIDS_WANTED - 1
    impact = ("only root is mapped in containers: images with files of other users fail"
              if not nuid or not ngid else f"fewer than {SUBIDS_WANTED}: high ids are unmapped")
    return Check("subids", "warn", f"{found}; {impact}",
                 f"usermod --add-subuids {start}-{last} --add-subgids {start}-{last} {user}")


def uidmap(p: Probe, paths: Paths) -> Check:
    from launcher.spec.userns import SUBGID_FILE, SUBUID_FILE

    if p.euid() == 0:
        return Check("uidmap", "skip", "root: writes id maps itself")
    tools = {name: p.which(name) for name in ("newuidmap", "newgidmap")}
    missing = [name for name, path in tools.items() if path is None]
    if not missing:
        return Check("uidmap", "ok", ", ".join(str(path) for path in tools.values()))
    # Without subordinate ids only the user's own id is mapped, which needs no helper.
    has_ids = bool(_subid_ranges(p, SUBUID_FILE)[1] or _subid_ranges(p, SUBGID_FILE)[1])
    return Check("uidmap", "fail" if has_ids else "warn",
                 f"{' and '.join(missing)} not found on PATH"
                 + (": rootless containers cannot map the subordinate ids" if has_ids else ""),
                 "apt-get install uidmap")


def slirp4netns(p: Probe, paths: Paths) -> Check:
    if p.euid() == 0:
        return Check("slirp4netns", "skip", "root: containers use bridge networking")
    found = p.which("slirp4netns")
    if found is not None:
        return Check("slirp4netns", "ok", found)
    return Check("slirp4netns", "warn", "slirp4netns not found on PATH: rootless containers "
                 "can use only --network none or host", "apt-get install slirp4netns")


LINUX_CHECKS: tuple[tuple[str, Callable[[Probe, Paths], Check]], ...] = (
    ("namespaces", namespaces), ("userns", userns), ("overlayfs", overlayfs),
    ("cgroups", cgroups), ("seccomp", seccomp), ("subids", subids), ("uidmap", uidmap),
    ("slirp4netns", slirp4netns),
)
