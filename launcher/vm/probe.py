"""Probe boots: does this kernel reach userspace under an accelerator?

QEMU runs the guest kernel with the marker-only initramfs (``probe.img``:
its init prints :data:`launcher.vm.accel.PROBE_MARKER` and powers off),
console on stdout. The marker within the timeout proves the accelerator;
anything else (QEMU refusing the accelerator, a kernel that hangs in early
boot as on a paravirtual ``/dev/kvm``) disproves it. The same boot, timed, is
the floor the ``machine start`` benchmark compares against.
"""

from __future__ import annotations

import os

from launcher.vm.accel import PROBE_MARKER


def argv(arch: str, accel: str, kernel: str, initrd: str) -> list[str]:
    from launcher.vm import qemu

    return [qemu.binary(arch), "-nodefaults", "-machine",
            f"{qemu.MACHINE_TYPE[arch]},accel={accel}", "-cpu", qemu.cpu_for(accel, arch),
            "-m", "256M", "-kernel", kernel, "-initrd", initrd,
            "-append", f"console={qemu.CONSOLE[arch]} quiet panic=-1", "-display", "none",
            "-serial", "stdio", "-no-reboot"]


def boot(arch: str, accel: str, kernel: str, initrd: str, timeout: float
         ) -> tuple[float | None, str]:
    """(seconds from spawning QEMU to the marker, "") or (None, why not)."""
    import select
    import subprocess
    import time

    t0 = time.monotonic()
    proc = subprocess.Popen(argv(arch, accel, kernel, initrd), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    seen = b""
    try:
        fd = proc.stdout.fileno()
        while True:
            left = t0 + timeout - time.monotonic()
            ready = select.select([fd], [], [], left)[0] if left > 0 else []
            if not ready:
                return None, f"the probe boot did not finish within {timeout:.0f} s"
            chunk = os.read(fd, 65536)
            if not chunk:
                proc.wait()
                err = proc.stderr.read().decode(errors="replace").strip().splitlines()
                return None, f"QEMU failed: {err[0] if err else proc.returncode}"
            seen = (seen + chunk)[-4096:]
            if PROBE_MARKER.encode() in seen:
                return time.monotonic() - t0, ""
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def why_not(arch: str, accel: str, kernel: str, initrd: str, timeout: float) -> str | None:
    """None when ``accel`` boots the probe, else why not."""
    secs, why = boot(arch, accel, kernel, initrd, timeout)
    return None if secs is not None else why
