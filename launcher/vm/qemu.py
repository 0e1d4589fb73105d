"""The QEMU driver: a machine is one daemonized QEMU process.

Everything QEMU needs is on its command line (:func:`argv`, pure and unit
tested): direct kernel boot (no bootloader, no firmware menu), the disk as
a qcow2 overlay over the cached image, user networking with SSH forwarded
from 127.0.0.1 only, per-VM data through ``-fw_cfg``, host shares over 9p,
the serial console into a log file, and a QMP socket. ``-daemonize`` makes
QEMU return only once its devices exist (a taken port fails the start, with
QEMU's message) and writes the pid file status is derived from.

Windows hosts differ (``host`` = ``sys.platform``, so this is tested anywhere):
no ``-daemonize`` (QEMU is started detached, launcher.vm.hostproc, and the pid
file is awaited), QMP on a loopback TCP port instead of a UNIX socket, WHPX
with the in-kernel irqchip off (WHPX's own one cannot run a stock Linux), and
no 9p (Windows builds of QEMU have no ``-virtfs``).
"""

from __future__ import annotations

import os
import sys

from launcher.errors import RuntimeFailure, UnsupportedError
from launcher.vm.hostpath import is_windows

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
        hint = install_hint()
        raise UnsupportedError(f"{name} not found on PATH (install QEMU: {hint})")
    return found


def install_hint(host: str | None = None) -> str:
    """How to install QEMU on this kind of host."""
    plat = host or sys.platform
    if plat == "darwin":
        return "brew install qemu"
    if is_windows(plat):
        return "winget install SoftwareFreedomConservancy.QEMU (or: choco install qemu)"
    return "apt-get install qemu-system-x86 qemu-system-arm qemu-utils"


def cpu_for(accel: str, arch: str) -> str:
    if accel in ("kvm", "hvf"):
        return "host"
    return "max" if arch == "x86_64" else "cortex-a72"


def qmp_address(m: Machine, host: str | None = None) -> str | tuple[str, int]:
    """Where QEMU's monitor listens: a UNIX socket, or (Windows) 127.0.0.1 and
    the port chosen at start (``qmp.port``)."""
    if not is_windows(host):
        return os.path.join(m.run_dir, "qmp.sock")
    try:
        with open(os.path.join(m.run_dir, "qmp.port")) as f:
            return ("127.0.0.1", int(f.read().strip()))
    except (OSError, ValueError):
        return ("127.0.0.1", 0)  # not running: connecting fails, as a missing socket would


def _accel_args(machine: str, accel: str) -> list[str]:
    if accel == "whpx":
        return ["-machine", machine, "-accel", "whpx,kernel-irqchip=off"]
    return ["-machine", f"{machine},accel={accel}"]


def argv(m: Machine, qemu: str, accel: str, host: str | None = None,
         qmp_port: int = 0) -> list[str]:
    """QEMU's command line for machine ``m`` under ``accel`` on ``host``
    (``sys.platform``; Windows needs ``qmp_port``)."""
    run = m.run_dir
    windows = is_windows(host)
    qmp = (f"tcp:127.0.0.1:{qmp_port},server=on,wait=off" if windows
           else f"unix:{_opt(os.path.join(run, 'qmp.sock'))},server=on,wait=off")
    args = [qemu, "-name", f"launcher-{m.name},process=launcher-{m.name}", "-nodefaults",
            *_accel_args(MACHINE_TYPE[m.arch], accel), "-cpu", cpu_for(accel, m.arch),
            "-smp", str(m.cpus), "-m", f"{m.memory_mb}M",
            "-kernel", m.kernel, "-initrd", m.initrd, "-append", m.cmdline,
            "-drive", f"file={_opt(m.disk)},format=qcow2,if=virtio,cache=writeback,"
                      "discard=unmap",
            "-netdev", f"user,id=net0,hostfwd=tcp:127.0.0.1:{m.ssh_port()}-:22",
            "-device", "virtio-net-pci,netdev=net0",
            "-device", "virtio-rng-pci",
            "-display", "none",
            "-serial", f"file:{_opt(os.path.join(run, 'console.log'))}",
            "-qmp", qmp,
            "-pidfile", os.path.join(run, "qemu.pid"),
            *([] if windows else ["-daemonize"]), "-no-reboot"]
    from launcher.vm import seed

    if os.path.exists(seed.path(m)):  # written by ops.start when fw_cfg is not to be used
        args += ["-drive", f"file={_opt(seed.path(m))},format=raw,if=virtio,readonly=on"]
    else:
        for key in sorted(m.fw_cfg_files()):
            args += ["-fw_cfg", f"name=opt/launcher/{key},file={_opt(m.fw_cfg_files()[key])}"]
    for tag, path in [] if windows or m.shares_via != "9p" else m.share_tags():
        # security_model=none: the guest sees the host's owners and modes, and
        # writes as the user running QEMU (files stay the user's on the host).
        args += ["-virtfs", f"local,path={_opt(path)},mount_tag={tag},security_model=none,"
                            f"id={tag}"]
    return args


def start(m: Machine, accel: str) -> int:
    """Start QEMU in the background; its pid. RuntimeFailure with QEMU's own words."""
    import subprocess

    qemu = binary(m.arch)
    os.makedirs(m.run_dir, mode=0o700, exist_ok=True)
    for stale in ("qemu.pid", "qmp.sock", "qmp.port"):
        try:
            os.unlink(os.path.join(m.run_dir, stale))
        except FileNotFoundError:
            pass
    if is_windows():
        return _start_detached(m, qemu, accel)
    res = subprocess.run(argv(m, qemu, accel), stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, check=False, timeout=120)
    if res.returncode != 0:
        msg = " ".join(res.stderr.strip().splitlines()[-2:]) or f"exit status {res.returncode}"
        raise RuntimeFailure(f"QEMU did not start machine {m.name}: {msg}")
    pid = read_pid(m)
    if pid is None:
        raise RuntimeFailure(f"QEMU started machine {m.name} but wrote no pid file")
    return pid


def _start_detached(m: Machine, qemu: str, accel: str, timeout: float = 60.0) -> int:
    """Windows: QEMU detached from this console, its errors in ``qemu.log``; the
    pid once QEMU has written its pid file (its devices exist then)."""
    import subprocess
    import time

    from launcher.vm import hostproc
    from launcher.vm.ops import free_port

    port = free_port()
    with open(os.path.join(m.run_dir, "qmp.port"), "w") as f:
        f.write(f"{port}\n")
    log_path = os.path.join(m.run_dir, "qemu.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv(m, qemu, accel, qmp_port=port), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, **hostproc.spawn_flags())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = read_pid(m)
        if pid is not None:
            return pid
        if proc.poll() is not None:
            with open(log_path, errors="replace") as f:
                msg = " ".join(f.read().strip().splitlines()[-2:])
            raise RuntimeFailure(f"QEMU did not start machine {m.name}: "
                                 f"{msg or f'exit status {proc.returncode}'}")
        time.sleep(0.05)
    raise RuntimeFailure(f"QEMU started machine {m.name} but wrote no pid file")


def read_pid(m: Machine) -> int | None:
    try:
        with open(os.path.join(m.run_dir, "qemu.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def alive(m: Machine) -> int | None:
    """QEMU's pid when the pid file names a live QEMU of this machine."""
    from launcher.vm import hostproc

    pid = read_pid(m)
    if pid is None or not hostproc.exists(pid):
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
    except FileNotFoundError:
        return None if os.path.isdir("/proc/self") else pid  # no /proc: trust the check
    except OSError:
        return pid
    return pid if f"launcher-{m.name},".encode() in cmd else None


def stop(m: Machine, timeout: float = 10.0) -> None:
    """``quit`` over QMP, then SIGTERM, then SIGKILL; waits for the process."""
    from launcher.vm import hostproc
    from launcher.vm.qmp import Qmp, QmpError

    pid = alive(m)
    if pid is None:
        return
    try:
        with Qmp(qmp_address(m), timeout=2.0) as q:
            q.execute("quit")
    except QmpError:
        pass
    for force in (None, False, True):
        if force is not None and not hostproc.terminate(pid, force):
            return
        if _wait_gone(m, timeout if force is None else 5.0):
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
    with Qmp(qmp_address(m)) as q:
        out = q.hmp(line)
    if out:  # QEMU answers nothing on success
        raise RuntimeFailure(f"cannot {'add' if add else 'remove'} forward {spec}: {out}")
