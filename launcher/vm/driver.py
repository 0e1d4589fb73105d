"""The VM driver interface: what runs a machine's guest, and one factory.

A machine names its driver in its record (``m.driver``); :func:`for_machine`
is the one place that picks the implementation. Callers read ``FEATURES``
instead of asking which driver they hold::

    Driver                     qemu (QemuDriver)          libvirt (launcher.vm.libvirt)
      check()     at init      nothing to check           libvirt-python, libvirtd up
      define(m)   at init      nothing to do              a persistent domain
      start(m, accel)          a daemonized QEMU          redefine + create the domain
      alive(m) -> pid | None   pid file + /proc           libvirt's pid file + /proc
      stop(m, timeout)         QMP quit, TERM, KILL       destroy (graceful, then hard)
      hostfwd(m, …, add)       HMP over our QMP socket    HMP through libvirt
      undefine(m) at rm        nothing to do              undefine the domain

Status is never cached: ``alive`` looks at the live process on every call.
"""

from __future__ import annotations

from launcher.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.vm.machine import Machine

NAMES = ("qemu", "libvirt")


class Driver:
    """The interface. Failures raise RuntimeFailure in the driver's own words."""

    NAME = ""
    FEATURES: frozenset[str] = frozenset()

    def check(self) -> None:
        """UnsupportedError when this driver cannot work on this host (at init)."""

    def define(self, m: Machine) -> None:
        """Register machine ``m`` with the driver at init (undone by :meth:`undefine`)."""

    def start(self, m: Machine, accel: str) -> None:
        """Boot ``m`` under ``accel`` with SSH forwarded from ``m.ssh_port()``."""
        raise NotImplementedError

    def alive(self, m: Machine) -> int | None:
        """The pid of ``m``'s running QEMU, or None; derived from reality every call."""
        raise NotImplementedError

    def stop(self, m: Machine, timeout: float = 10.0) -> None:
        """Make sure ``m`` no longer runs (the guest was asked to power off before)."""
        raise NotImplementedError

    def hostfwd(self, m: Machine, proto: str, host_ip: str, host_port: int, guest_port: int,
                add: bool = True) -> None:
        """Add (or remove) a forward from ``host_ip:host_port`` to the guest's port."""
        raise NotImplementedError

    def undefine(self, m: Machine) -> None:
        """Forget machine ``m`` (at rm); a no-op when it was never defined."""


class QemuDriver(Driver):
    """The portable baseline: :mod:`launcher.vm.qemu`, one daemonized QEMU."""

    NAME = "qemu"

    def __init__(self) -> None:
        from launcher.vm import qemu

        self.FEATURES = qemu.FEATURES

    def start(self, m: Machine, accel: str) -> None:
        from launcher.vm import qemu

        qemu.start(m, accel)

    def alive(self, m: Machine) -> int | None:
        from launcher.vm import qemu

        return qemu.alive(m)

    def stop(self, m: Machine, timeout: float = 10.0) -> None:
        from launcher.vm import qemu

        qemu.stop(m, timeout)

    def hostfwd(self, m: Machine, proto: str, host_ip: str, host_port: int, guest_port: int,
                add: bool = True) -> None:
        from launcher.vm import qemu

        qemu.hostfwd(m, proto, host_ip, host_port, guest_port, add)


def get(name: str) -> Driver:
    """The driver called ``name``; UsageError for an unknown one."""
    if name == "qemu":
        return QemuDriver()
    if name == "libvirt":
        from launcher.vm.libvirt import LibvirtDriver

        return LibvirtDriver()
    raise UsageError(f"unknown driver {name!r} ({', '.join(NAMES)})")


def for_machine(m: Machine) -> Driver:
    """The driver machine ``m`` was created with."""
    return get(m.driver)
