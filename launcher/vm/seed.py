"""The seed disk: per-VM data for a guest whose driver has no fw_cfg.

A raw disk image holding one newc cpio archive (launcher.vm.cpio: pure Python,
so any host can make it): first the marker entry ``LAUNCHER-SEED``, then the
same files QEMU would hand over through fw_cfg (host key, authorized key,
hostname, shares). The guest's boot.d/30-machine.sh unpacks it from the second
virtio disk when /sys/firmware/qemu_fw_cfg has no launcher entries. Used when
the machine's driver does not declare ``fw_cfg``, or with
``LAUNCHER_VM_SEED=disk`` with the QEMU driver (QEMU builds or machine types
without fw_cfg).
"""

from __future__ import annotations

import os

from launcher import osflags

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.vm.machine import Machine

MARKER = "LAUNCHER-SEED"
FILE = "seed.img"
ENV = "LAUNCHER_VM_SEED"


def wanted(features: frozenset[str]) -> bool:
    """No fw_cfg in the driver, or asked for where the driver can attach one."""
    return "fw_cfg" not in features or (os.environ.get(ENV) == "disk"
                                         and "seed-disk" in features)


def path(m: Machine) -> str:
    return os.path.join(m.run_dir, FILE)


def image(m: Machine) -> bytes:
    """The disk's bytes: the archive, padded to whole 512-byte sectors."""
    from launcher.vm import cpio

    entries = [(MARKER, cpio.FILE, b"")]
    for key, src in sorted(m.fw_cfg_files().items()):
        with open(src, "rb") as f:
            entries.append((key, cpio.FILE, f.read()))
    data = cpio.newc(entries)
    return data + b"\0" * (-len(data) % 512)


def write(m: Machine) -> str:
    """Write the machine's seed disk into its run directory (private: it holds
    the guest's SSH host key); its path."""
    out = path(m)
    tmp = f"{out}.{os.getpid()}"
    fd = os.open(tmp, osflags.WRITE_NEW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(image(m))
    os.replace(tmp, out)
    return out
