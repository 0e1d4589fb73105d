"""Checks of every host: QEMU, accelerators, libvirt and disk space for machines."""

from __future__ import annotations

import os

from launcher import fastjson, host
from launcher.doctor.base import ACCEL_CACHE, DISK_FAIL, DISK_WARN, Check, GiB, Probe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from launcher.paths import Paths


# -- every host: machines and storage --------------------------------------------------------


def qemu(p: Probe, paths: Paths) -> Check:
    from launcher.vm import qemu as vmqemu

    plat = p.platform()
    arch = p.arch()
    name = vmqemu.BINARY.get(arch)
    if name is None:
        return Check("qemu", "skip", f"no QEMU system emulator is known for {arch}")
    found = p.qemu_binary(arch)
    if found is not None:
        return Check("qemu", "ok", found)
    if host.os_name(plat) == "linux":
        package = "qemu-system-x86" if arch == "x86_64" else "qemu-system-arm"
        return Check("qemu", "warn", f"{name} not found on PATH: needed only for "
                     "`launcher machine`", f"apt-get install {package} qemu-utils")
    return Check("qemu", "fail", f"{name} not found on PATH: containers here run in a QEMU "
                 "machine", vmqemu.install_hint(plat))


def accelerator(p: Probe, paths: Paths) -> Check:
    from launcher.vm import accel

    results = [(a, p.accel_problem(a)) for a in accel.candidates(p.platform())]
    cache = os.path.join(paths.state, *ACCEL_CACHE)
    cached = _cached_accels(p, cache)
    note = (f"last proved at `machine start`: {', '.join(cached)}" if cached
            else "the probe boot at `machine start` decides")
    detail = "; ".join(f"{a}: {why or 'ok'}" for a, why in results) + f" ({note})"
    hardware = [(a, why) for a, why in results if a != "tcg"]
    if not hardware:
        return Check("accelerator", "warn", f"{detail}: no hardware accelerator is known "
                     "for this host; machines use software emulation (slow)")
    broken = [(a, why) for a, why in hardware if why is not None]
    if broken:
        a, why = broken[0]
        return Check("accelerator", "warn", f"{detail}; machines fall back to tcg (slow)",
                     _accel_fix(a, why or "", p.user_name()))
    if cached == ["tcg"]:
        return Check("accelerator", "warn", f"{detail}; {hardware[0][0]} passes the cheap "
                     "checks but its probe boot failed", f"see `launcher machine inspect`; "
                     f"to prove it again at the next start: rm {cache}")
    return Check("accelerator", "ok", detail)


def _cached_accels(p: Probe, cache: str) -> list[str]:
    """Accelerators cached for this host kernel and CPU (key: release|arch|kernel|qemu)."""
    text = p.read(cache)
    if not text:
        return []
    try:
        doc = fastjson.loads(text)
    except ValueError:
        return []
    release, arch = p.kernel_release(), p.arch()
    found = set()
    for key, value in (doc.items() if isinstance(doc, dict) else ()):
        parts = str(key).split("|")
        if len(parts) >= 2 and parts[0] == release and parts[1] == arch \
                and isinstance(value, dict) and isinstance(value.get("accel"), str):
            found.add(value["accel"])
    return sorted(found)


def _accel_fix(accel: str, why: str, user: str) -> str:
    if accel == "kvm":
        if "does not exist" in why:
            return ("enable virtualization (VT-x/AMD-V) in the firmware, then modprobe "
                    "kvm_intel (or kvm_amd)")
        if "readable" in why:
            return f"usermod -aG kvm {user}, then log in again"
        return "modprobe kvm_intel (or kvm_amd)"
    if accel == "hvf":
        return "HVF needs a Mac with hardware virtualization (and not a VM without nesting)"
    if accel == "whpx":
        return ("Enable-WindowsOptionalFeature -Online -FeatureName HypervisorPlatform "
                "(as administrator), then reboot")
    return ""


def libvirt(p: Probe, paths: Paths) -> Check:
    if p.has_module("libvirt"):
        return Check("libvirt", "ok", "libvirt-python is installed (machine driver libvirt)")
    return Check("libvirt", "warn", "libvirt-python is not installed: machines use the qemu "
                 "driver (the default); libvirt is optional", "pip install 'launcher[libvirt]'")


def disk(p: Probe, paths: Paths) -> Check:
    where = paths.storage
    while not p.exists(where):  # not made yet: the filesystem it will be made on
        parent = os.path.dirname(where)
        if parent == where:
            break
        where = parent
    try:
        free = p.free_bytes(where)
    except OSError as exc:
        return Check("disk", "warn", f"cannot read the free space of {where}: {exc.strerror}")
    at = f" (at {where})" if where != paths.storage else ""
    detail = f"{free / GiB:.1f} GiB free for {paths.storage}{at}"
    fix = (f"free space on the filesystem of {where} (launcher system prune -a), or use "
           "--root DIR on a larger disk")
    if free < DISK_FAIL:
        return Check("disk", "fail", f"{detail}: under {DISK_FAIL // GiB} GiB", fix)
    if free < DISK_WARN:
        return Check("disk", "warn", f"{detail}: under {DISK_WARN // GiB} GiB", fix)
    return Check("disk", "ok", detail)


PORTABLE_CHECKS: tuple[tuple[str, Callable[[Probe, Paths], Check]], ...] = (
    ("qemu", qemu), ("accelerator", accelerator), ("libvirt", libvirt), ("disk", disk),
)
