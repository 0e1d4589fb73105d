"""The QEMU driver: a machine is one daemonized QEMU process.

Everything QEMU needs is on its command line (:func:`argv`, pure and unit
tested): direct kernel boot (no bootloader, no firmware menu), the disk as
a qcow2 overlay over the cached image, user networking with SSH forwarded
from 127.0.0.1 only, per-VM data through ``-fw_cfg``, host shares over 9p,
the serial console into a log file, and a QMP socket. ``-daemonize`` makes
QEMU return only once its devices exist (a taken port fails the start, with
QEMU's message) and writes the pid file status is derived from.
"""

from __future__ import annotations

import os
import sys

from launcher.errors import RuntimeFailure, UnsupportedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.vm.machine import Machine

FEATURES = frozenset({"hostfwd-at-runtime", "fw_cfg", "seed-disk", "9p", "console-log",
                      "qmp"})
MACHINE_TYPE = {"x86_64": "q35", "aarch64": "virt"}
BINARY = {"x86_64": "qemu-system-x86_64", "aarch64": "qemu-system-aarch64"}
CONSOLE = {"x86_64": "ttyS0", "aarch64": "ttyAMA0"}  # the first serial port of q35 / virt



def _opt(value: str) -> str:
    """A value inside a QEMU option list: commas are doubled."""
    return value.replace(",", ",,")


def binary(arch: str) -> str:
    import shutil

    name = BINARY.get(arch)
    if name is None:
        raise UnsupportedError(f"no QEMU system emulator is known for {arch}")
    found = shutil.which(name)
    if found is None:
        hint = ("brew install qemu" if sys.platform == "darwin"
                else "apt-get install qemu-system-x86 qemu-utils")
        raise UnsupportedError(f"{name} not found on PATH (install QEMU: {hint})")
    return found


def cpu_for(accel: str, arch: str) -> str:
    if accel in ("kvm", "hvf"):
        return "host"
    return "max" if arch == "x86_64" else "cortex-a72"


def argv(m: Machine, qemu: str, accel: str) -> list[str]:
    """QEMU's command line for machine ``m`` under ``accel``."""
    run = m.run_dir
    machine = MACHINE_TYPE[m.arch]
    args = [qemu, "-name", f"launcher-{m.name},process=launcher-{m.name}", "-nodefaults",
            "-machine", f"{machine},accel={accel}", "-cpu", cpu_for(accel, m.arch),
            "-smp", str(m.cpus), "-m", f"{m.memory_mb}M",
            "-kernel", m.kernel, "-initrd", m.initrd, "-append", m.cmdline,
            "-drive", f"file={_opt(m.disk)},format=qcow2,if=virtio,cache=writeback,"
                      "discard=unmap",
            "-netdev", f"user,id=net0,hostfwd=tcp:127.0.0.1:{m.ssh_port()}-:22",
            "-device", "virtio-net-pci,netdev=net0",
            "-device", "virtio-rng-pci",
            "-display", "none",
            "-serial", f"file:{_opt(os.path.join(run, 'console.log'))}",
            "-qmp", f"unix:{_opt(os.path.join(run, 'qmp.sock'))},server=on,wait=off",
            "-pidfile", os.path.join(run, "qemu.pid"),
            "-daemonize", "-no-reboot"]
    from launcher.vm import seed

    if os.path.exists(seed.path(m)):  # written by ops.start when fw_cfg is not to be used
        args += ["-drive", f"file={_opt(seed.path(m))},format=raw,if=virtio,readonly=on"]
    else:
        for key in sorted(m.fw_cfg_files()):
            args += ["-fw_cfg", f"name=opt/launcher/{key},file={_opt(m.fw_cfg_files()[key])}"]
    for tag, path in m.share_tags():
        # security_model=none: the guest sees the host's owners and modes, and
        # writes as the user running QEMU (files stay the user's on the host).
        args += ["-virtfs", f"local,path={_opt(path)},mount_tag={tag},security_model=none,"
                            f"id={tag}"]
    return args


def start(m: Machine, accel: str) -> int:
    """Start QEMU daemonized; its pid. RuntimeFailure with QEMU's own words."""
    import subprocess

    qemu = binary(m.arch)
    os.makedirs(m.run_dir, mode=0o700, exist_ok=True)
    for stale in ("qemu.pid", "qmp.sock"):
        try:
            os.unlink(os.path.join(m.run_dir, stale))
        except FileNotFoundError:
            pass
    res = subprocess.run(argv(m, qemu, accel), stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, check=False, timeout=120)
    if res.returncode != 0:
        msg = " ".join(res.stderr.strip().splitlines()[-2:]) or f"exit status {res.returncode}"
        raise RuntimeFailure(f"QEMU did not start machine {m.name}: {msg}")
    pid = read_pid(m)
    if pid is None:
        raise RuntimeFailure(f"QEMU started machine {m.name} but wrote no pid file")
    return pid


def read_pid(m: Machine) -> int | None:
    try:
        with open(os.path.join(m.run_dir, "qemu.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def alive(m: Machine) -> int | None:
    """QEMU's pid when the pid file names a live QEMU of this machine."""
    pid = read_pid(m)
    if pid is None:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # exists, another user's: check its name below
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
    except FileNotFoundError:
        return None
    except OSError:
        return pid  # no /proc (macOS): trust kill(0)
    return pid if f"launcher-{m.name},".encode() in cmd else None


def stop(m: Machine, timeout: float = 10.0) -> None:
    """``quit`` over QMP, then SIGTERM, then SIGKILL; waits for the process."""
    import signal

    from launcher.vm.qmp import Qmp, QmpError

    pid = alive(m)
    if pid is None:
        return
    try:
        with Qmp(os.path.join(m.run_dir, "qmp.sock"), timeout=2.0) as q:
            q.execute("quit")
    except QmpError:
        pass
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
        if _wait_gone(m, timeout if sig is None else 5.0):
            return
    raise RuntimeFailure(f"QEMU (pid {pid}) of machine {m.name} does not exit")


def _wait_gone(m: Machine, timeout: float) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive(m) is None:
            return True
        time.sleep(0.05)
    return alive(m) is None


def hostfwd(m: Machine, proto: str, host_ip: str, host_port: int, guest_port: int,
            add: bool = True) -> None:
    """Add (or remove) a forward from the host to the guest while it runs."""
    from launcher.vm.qmp import Qmp

    spec = f"{proto}:{host_ip}:{host_port}"
    line = (f"hostfwd_add net0 {spec}-:{guest_port}" if add
            else f"hostfwd_remove net0 {spec}")
    with Qmp(os.path.join(m.run_dir, "qmp.sock")) as q:
        out = q.hmp(line)
    if out:  # QEMU answers nothing on success
        raise RuntimeFailure(f"cannot {'add' if add else 'remove'} forward {spec}: {out}")
