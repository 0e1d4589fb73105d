"""The libvirt driver: a machine is a persistent libvirt domain on qemu:///system.

The domain (``launcher-<machine name>``) is defined at ``machine init`` so
``virsh list --all`` shows it, redefined at each start (the SSH port and the
accelerator are chosen then) and undefined by ``machine rm``. Its XML
(:func:`domain_xml`, pure and unit tested) boots the guest exactly as
:func:`launcher.vm.qemu.argv` does: direct kernel boot, the qcow2 overlay with
its backing file, per-VM data as fw_cfg entries ``opt/launcher/<key>``, 9p
shares with the same mount tags, the serial console into ``console.log``.

libvirt 9.0 has no passt backend and its user-mode ``<interface>`` cannot
forward ports, so the NIC is QEMU's own user networking passed through
``<qemu:commandline>`` (netdev ``net0``, as the QEMU driver names it, so the
same HMP ``hostfwd_add net0`` adds forwards at run time). libvirt does not
know that device, so it gets an explicit slot on ``pcie.0`` that libvirt's own
devices do not use (:func:`used_slots`).

QEMU runs as the user running launcher (a static DAC label, no relabelling),
as with the QEMU driver: libvirt never chowns the machine's or the image's
files, and 9p shares write as that user.
"""

from __future__ import annotations

import os

from launcher.errors import ConflictError, RuntimeFailure, UnsupportedError
from launcher.vm.driver import Driver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from launcher.vm.machine import Machine

URI = "qemu:///system"
QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
META_NS = "https://launcher.invalid/xmlns/machine/1"
PIDFILE_DIR = "/run/libvirt/qemu"
LOG_DIR = "/var/log/libvirt/qemu"
DOMAIN_TYPE = {"kvm": "kvm", "tcg": "qemu", "hvf": "hvf"}
NET_SLOT = 0x10  # first choice for the NIC on pcie.0; libvirt fills slots from 0x01
FEATURES = frozenset({"hostfwd-at-runtime", "fw_cfg", "9p", "console-log", "persistent"})
INSTALL_HINT = ("install libvirt (Debian: apt-get install libvirt-daemon "
                "libvirt-daemon-driver-qemu libvirt-dev pkg-config) and libvirt-python "
                "(pip install 'launcher[libvirt]'), or use --driver qemu")


def domain_name(m: Machine) -> str:
    return f"launcher-{m.name}"


def cpu_element(accel: str, arch: str) -> tuple[str, str | None]:
    """(libvirt CPU mode, model) for the CPU :func:`launcher.vm.qemu.cpu_for` picks."""
    from launcher.vm import qemu

    cpu = qemu.cpu_for(accel, arch)
    if cpu == "host":
        return "host-passthrough", None
    if cpu == "max":
        return "maximum", None
    return "custom", cpu


def domain_xml(m: Machine, emulator: str, accel: str, ssh_port: int, *,
               net_slot: int = NET_SLOT, owner: tuple[int, int] = (0, 0),
               uuid: str | None = None) -> str:
    """The domain definition of machine ``m`` (owner: the uid/gid QEMU runs as)."""
    import xml.etree.ElementTree as ET

    from launcher.vm import qemu

    ET.register_namespace("qemu", QEMU_NS)
    ET.register_namespace("launcher", META_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str
            ) -> ET.Element:
        el = ET.SubElement(parent, tag, attrs)
        el.text = text
        return el

    if accel not in DOMAIN_TYPE:
        raise UnsupportedError(f"the libvirt driver cannot use accelerator {accel}")
    dom = ET.Element("domain", type=DOMAIN_TYPE[accel])
    sub(dom, "name", domain_name(m))
    if uuid:
        sub(dom, "uuid", uuid)
    # Marks the domain as this machine's: another launcher root with a machine
    # of the same name must not take it over (see LibvirtDriver._check_ours).
    sub(sub(dom, "metadata"), f"{{{META_NS}}}machine", dir=m.dir)
    sub(dom, "memory", str(m.memory_mb), unit="MiB")
    sub(dom, "vcpu", str(m.cpus))
    os_el = sub(dom, "os")
    sub(os_el, "type", "hvm", arch=m.arch, machine=qemu.MACHINE_TYPE[m.arch])
    sub(os_el, "kernel", m.kernel)
    sub(os_el, "initrd", m.initrd)
    sub(os_el, "cmdline", m.cmdline)
    if m.arch == "x86_64":
        feats = sub(dom, "features")
        sub(feats, "acpi")  # without it libvirt turns ACPI off: poweroff would hang
        sub(feats, "apic")
    mode, model = cpu_element(accel, m.arch)
    cpu = sub(dom, "cpu", mode=mode)
    if model is not None:
        sub(cpu, "model", model)
    sub(dom, "clock", offset="utc")
    for event in ("on_poweroff", "on_reboot", "on_crash"):
        sub(dom, event, "destroy")  # as -no-reboot: a panic (panic=-1) ends the VM
    _fw_cfg(sub(dom, "sysinfo", type="fwcfg"), m)
    _devices(sub(dom, "devices"), m, emulator)
    # QEMU runs as the invoking user, like the QEMU driver; nothing is chowned.
    label = sub(dom, "seclabel", type="static", model="dac", relabel="no")
    sub(label, "label", f"+{owner[0]}:+{owner[1]}")
    cmd = sub(dom, f"{{{QEMU_NS}}}commandline")
    for arg in net_args(ssh_port, net_slot):
        sub(cmd, f"{{{QEMU_NS}}}arg", value=arg)
    return ET.tostring(dom, encoding="unicode")


def _fw_cfg(sysinfo: Any, m: Machine) -> None:
    import xml.etree.ElementTree as ET

    files = m.fw_cfg_files()
    for key in sorted(files):
        ET.SubElement(sysinfo, "entry", name=f"opt/launcher/{key}", file=files[key])


def _devices(devs: Any, m: Machine, emulator: str) -> None:
    import xml.etree.ElementTree as ET

    def sub(parent: Any, tag: str, text: str | None = None, **attrs: str) -> Any:
        el = ET.SubElement(parent, tag, attrs)
        el.text = text
        return el

    sub(devs, "emulator", emulator)
    disk = sub(devs, "disk", type="file", device="disk")
    sub(disk, "driver", name="qemu", type="qcow2", cache="writeback", discard="unmap")
    sub(disk, "source", file=m.disk)
    backing = sub(disk, "backingStore", type="file")
    sub(backing, "format", type="qcow2")
    sub(backing, "source", file=os.path.join(m.image_dir, "disk.qcow2"))
    sub(disk, "target", dev="vda", bus="virtio")
    for tag, path in m.share_tags():
        # squash is QEMU's security_model=none (the QEMU driver's): passthrough
        # whose failed chown/chmod are not reported to the guest.
        fs = sub(devs, "filesystem", type="mount", accessmode="squash")
        sub(fs, "driver", type="path")
        sub(fs, "source", dir=path)
        sub(fs, "target", dir=tag)
    serial = sub(devs, "serial", type="file")
    sub(serial, "source", path=os.path.join(m.run_dir, "console.log"))
    sub(serial, "target", port="0")
    rng = sub(devs, "rng", model="virtio")
    sub(rng, "backend", "/dev/urandom", model="random")
    sub(devs, "controller", type="usb", model="none")
    sub(devs, "memballoon", model="none")


def net_args(ssh_port: int, slot: int) -> list[str]:
    """QEMU's user networking with SSH on loopback, the NIC at ``pcie.0`` ``slot``."""
    return ["-netdev", f"user,id=net0,hostfwd=tcp:127.0.0.1:{ssh_port}-:22",
            "-device", f"virtio-net-pci,netdev=net0,bus=pcie.0,addr={slot:#04x}"]


def used_slots(xml: str) -> set[int]:
    """Slots on PCI bus 0 that libvirt gave its own devices in a domain's XML."""
    import xml.etree.ElementTree as ET

    slots: set[int] = set()
    for addr in ET.fromstring(xml).iter("address"):
        if addr.get("type") == "pci" and int(addr.get("bus", "0"), 0) == 0 \
                and int(addr.get("domain", "0"), 0) == 0:
            slots.add(int(addr.get("slot", "0"), 0))
    return slots


def free_slot(used: set[int]) -> int:
    order: list[int] = [NET_SLOT, *range(NET_SLOT + 1, 0x1f), *range(NET_SLOT - 1, 0, -1)]
    for slot in order:
        if slot not in used:
            return slot
    raise RuntimeFailure("no free PCI slot on pcie.0 for the network device")


def owner_dir(xml: str) -> str | None:
    """The machine directory a domain's metadata names (None: not launcher's)."""
    import xml.etree.ElementTree as ET

    el = ET.fromstring(xml).find(f"metadata/{{{META_NS}}}machine")
    return None if el is None else el.get("dir")


def read_pid(m: Machine) -> int | None:
    try:
        with open(os.path.join(PIDFILE_DIR, domain_name(m) + ".pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _modules() -> tuple[Any, Any]:
    """libvirt and libvirt_qemu, imported now (rare: this driver only)."""
    try:
        import libvirt  # type: ignore[import-untyped,import-not-found,unused-ignore]
        import libvirt_qemu  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        raise UnsupportedError(f"the libvirt driver needs libvirt-python: {INSTALL_HINT}"
                               ) from None
    # Without a handler libvirt prints every error on stderr; they are raised instead.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return libvirt, libvirt_qemu


def _message(exc: BaseException) -> str:
    get = getattr(exc, "get_error_message", None)
    return str(get() if get is not None else exc).strip()


class LibvirtDriver(Driver):
    """Machines as libvirt domains; every call opens (and closes) one connection."""

    NAME = "libvirt"
    FEATURES = FEATURES

    def __init__(self) -> None:
        # Imported at the first connection: alive() (status) needs neither.
        self._lv: Any = None
        self._lvq: Any = None

    def check(self) -> None:
        self._connect().close()

    def _connect(self) -> Any:
        if self._lv is None:
            self._lv, self._lvq = _modules()
        try:
            return self._lv.open(URI)
        except self._lv.libvirtError as exc:
            raise UnsupportedError(f"libvirt is not reachable at {URI} ({_message(exc)}): "
                                   "start libvirtd (and virtlogd), or use --driver qemu"
                                   ) from None

    def _lookup(self, conn: Any, m: Machine, strict: bool = False) -> Any | None:
        """The machine's domain, or None. A domain of that name that belongs to
        another machine (another launcher root, or not launcher's) is never
        touched: None, or ConflictError when ``strict``."""
        try:
            dom = conn.lookupByName(domain_name(m))
        except self._lv.libvirtError:
            return None
        theirs = owner_dir(dom.XMLDesc(0))
        if theirs == m.dir:
            return dom
        if strict:
            raise ConflictError(f"libvirt already has a domain {domain_name(m)} that is not "
                                f"machine {m.name}'s ({theirs or 'not made by launcher'})")
        return None

    def _define(self, conn: Any, m: Machine, accel: str, ssh_port: int) -> Any:
        """Define (or redefine) the domain; the NIC moved off any slot libvirt took."""
        from launcher.vm import qemu

        old = self._lookup(conn, m, strict=True)
        uuid = old.UUIDString() if old is not None else None
        emulator = qemu.binary(m.arch)
        owner = (os.getuid(), os.getgid())
        slot = NET_SLOT
        for _ in range(2):
            xml = domain_xml(m, emulator, accel, ssh_port, net_slot=slot, owner=owner,
                             uuid=uuid)
            try:
                dom = conn.defineXML(xml)
            except self._lv.libvirtError as exc:
                raise RuntimeFailure(f"libvirt refused the domain of machine {m.name}: "
                                     f"{_message(exc)}") from None
            uuid = dom.UUIDString()
            used = used_slots(dom.XMLDesc(0))
            if slot not in used:
                return dom
            slot = free_slot(used)
        raise RuntimeFailure(f"no stable PCI slot for the network device of {m.name}")

    def define(self, m: Machine) -> None:
        conn = self._connect()
        try:
            # The accelerator and the SSH port are chosen at each start, which
            # redefines the domain; until then it holds TCG and no fixed port.
            self._define(conn, m, "tcg", 0)
        finally:
            conn.close()

    def start(self, m: Machine, accel: str) -> None:
        port = m.ssh_port()
        if port is None:
            raise RuntimeFailure(f"machine {m.name} has no SSH port chosen")
        conn = self._connect()
        try:
            dom = self._define(conn, m, accel, port)
            try:
                dom.create()
            except self._lv.libvirtError as exc:
                raise RuntimeFailure(f"libvirt did not start machine {m.name}: "
                                     f"{_message(exc)}") from None
        finally:
            conn.close()

    def alive(self, m: Machine) -> int | None:
        """The domain's QEMU from libvirt's pid file, checked against /proc: no
        connection needed (status runs on every forwarded command)."""
        pid = read_pid(m)
        if pid is None:
            return None
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            return None
        name_ok = f"guest={domain_name(m)},".encode() in cmd
        return pid if name_ok and m.disk.encode() in cmd else None

    def stop(self, m: Machine, timeout: float = 10.0) -> None:
        """SIGTERM (QEMU flushes its disks and exits), then SIGKILL: libvirt's
        graceful destroy waits on its own clock, so ``timeout`` is unused."""
        conn = self._connect()
        try:
            dom = self._lookup(conn, m)
            if dom is None or not dom.isActive():
                return
            try:
                dom.destroyFlags(self._lv.VIR_DOMAIN_DESTROY_GRACEFUL)
            except self._lv.libvirtError:
                try:
                    dom.destroy()
                except self._lv.libvirtError as exc:
                    if dom.isActive():
                        raise RuntimeFailure(f"libvirt cannot stop machine {m.name}: "
                                             f"{_message(exc)}") from None
        finally:
            conn.close()

    def hostfwd(self, m: Machine, proto: str, host_ip: str, host_port: int, guest_port: int,
                add: bool = True) -> None:
        spec = f"{proto}:{host_ip}:{host_port}"
        line = (f"hostfwd_add net0 {spec}-:{guest_port}" if add
                else f"hostfwd_remove net0 {spec}")
        conn = self._connect()
        try:
            dom = self._lookup(conn, m)
            if dom is None or not dom.isActive():
                raise RuntimeFailure(f"machine {m.name} is not running")
            try:
                out = self._lvq.qemuMonitorCommand(
                    dom, line, self._lvq.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)
            except self._lv.libvirtError as exc:
                out = _message(exc)
        finally:
            conn.close()
        if str(out or "").strip():  # QEMU answers nothing on success
            raise RuntimeFailure(f"cannot {'add' if add else 'remove'} forward {spec}: "
                                 f"{str(out).strip()}")

    def undefine(self, m: Machine) -> None:
        conn = self._connect()
        try:
            dom = self._lookup(conn, m)
            if dom is None:
                return
            try:
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
            except self._lv.libvirtError as exc:
                raise RuntimeFailure(f"libvirt cannot undefine {domain_name(m)}: "
                                     f"{_message(exc)}") from None
        finally:
            conn.close()
        try:  # QEMU's stderr, kept by virtlogd: it belongs to the domain
            os.unlink(os.path.join(LOG_DIR, domain_name(m) + ".log"))
        except OSError:
            pass
