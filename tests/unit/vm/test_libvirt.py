"""The libvirt driver without libvirt: the domain XML parsed back, and the driver
against a fake ``libvirt`` module that records what it is asked."""

from __future__ import annotations

import os
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.errors import ConflictError, RuntimeFailure, UnsupportedError
from launcher.paths import Paths
from launcher.vm import libvirt as lv
from launcher.vm.machine import Machine

Q = "{" + lv.QEMU_NS + "}"


def _machine(paths: Paths, tmp: Path) -> Machine:
    m = Machine(paths, "dev")
    m.arch, m.cpus, m.memory_mb = "x86_64", 4, 3072
    m.image_dir, m.cmdline = str(tmp / "img,x"), "console=ttyS0 quiet x=<&>"
    m.shares = ["/home/me", "/srv/a,b"]
    return m


def _at(el: ET.Element, path: str) -> ET.Element:
    found = el.find(path)
    assert found is not None, path
    return found


def _xml(m: Machine, accel: str = "tcg", **kw: object) -> ET.Element:
    text = lv.domain_xml(m, "/usr/bin/qemu-system-x86_64", accel, 40022,
                         owner=(1000, 1000), **kw)  # type: ignore[arg-type]
    return ET.fromstring(text)


def test_domain_xml_boots_the_guest_as_the_qemu_driver_does(paths: Paths,
                                                            tmp_path: Path) -> None:
    m = _machine(paths, tmp_path)
    dom = _xml(m)
    assert dom.get("type") == "qemu"  # TCG
    assert dom.findtext("name") == "launcher-dev"
    assert _at(dom, "memory").attrib == {"unit": "MiB"} and dom.findtext("memory") == "3072"
    assert dom.findtext("vcpu") == "4"
    ostype = _at(dom, "os/type")
    assert (ostype.get("machine"), ostype.get("arch"), ostype.text) == ("q35", "x86_64", "hvm")
    assert dom.findtext("os/kernel") == os.path.join(m.image_dir, "vmlinuz")
    assert dom.findtext("os/initrd") == os.path.join(m.image_dir, "initrd.img")
    assert dom.findtext("os/cmdline") == "console=ttyS0 quiet x=<&>"  # escaped, round trip
    assert _at(dom, "cpu").get("mode") == "maximum"  # -cpu max
    assert dom.find("features/acpi") is not None
    assert [dom.findtext(e) for e in ("on_poweroff", "on_reboot", "on_crash")] == \
        ["destroy"] * 3
    disk = _at(dom, "devices/disk")
    assert _at(disk, "source").get("file") == m.disk
    assert _at(disk, "target").attrib == {"dev": "vda", "bus": "virtio"}
    assert _at(disk, "driver").get("type") == "qcow2"
    assert _at(disk, "backingStore/source").get("file") == \
        os.path.join(m.image_dir, "disk.qcow2")
    assert _at(dom, "devices/rng").get("model") == "virtio"
    assert _at(dom, "devices/serial/source").get("path") == \
        os.path.join(m.run_dir, "console.log")
    assert _at(dom, "devices/memballoon").get("model") == "none"


def test_fw_cfg_shares_and_owner(paths: Paths, tmp_path: Path) -> None:
    m = _machine(paths, tmp_path)
    dom = _xml(m)
    assert _at(dom, "sysinfo").get("type") == "fwcfg"
    entries = {e.get("name"): e.get("file") for e in dom.iterfind("sysinfo/entry")}
    assert entries == {f"opt/launcher/{k}": v for k, v in m.fw_cfg_files().items()}
    shares = [(_at(fs, "target").get("dir"), _at(fs, "source").get("dir"), fs.get("accessmode"))
              for fs in dom.iterfind("devices/filesystem")]
    assert shares == [("share0", "/home/me", "squash"), ("share1", "/srv/a,b", "squash")]
    assert [t for t, _ in m.share_tags()] == ["share0", "share1"]  # the same tags
    label = _at(dom, "seclabel")
    assert (label.get("model"), label.get("relabel"), label.findtext("label")) == \
        ("dac", "no", "+1000:+1000")
    meta = _at(dom, f"metadata/{{{lv.META_NS}}}machine")
    assert meta is not None and meta.get("dir") == m.dir


def test_the_nic_is_qemus_user_network_at_an_explicit_slot(paths: Paths,
                                                           tmp_path: Path) -> None:
    dom = _xml(_machine(paths, tmp_path), net_slot=0x11)
    args = [a.get("value") for a in dom.iterfind(f"{Q}commandline/{Q}arg")]
    assert args == ["-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:40022-:22",
                    "-device", "virtio-net-pci,netdev=net0,bus=pcie.0,addr=0x11"]
    assert dom.find("devices/interface") is None  # libvirt adds no NIC of its own


def test_kvm_uses_the_host_cpu(paths: Paths, tmp_path: Path) -> None:
    dom = _xml(_machine(paths, tmp_path), "kvm", uuid="0f0e0d0c-0b0a-0908-0706-050403020100")
    assert dom.get("type") == "kvm" and _at(dom, "cpu").get("mode") == "host-passthrough"
    assert dom.findtext("uuid") == "0f0e0d0c-0b0a-0908-0706-050403020100"
    assert lv.cpu_element("tcg", "aarch64") == ("custom", "cortex-a72")
    with pytest.raises(UnsupportedError):
        _xml(_machine(paths, tmp_path), "whpx")


def test_slots_and_owner_read_back() -> None:
    xml = ("<domain><metadata><m:machine xmlns:m='" + lv.META_NS + "' dir='/x'/></metadata>"
           "<devices><disk><address type='pci' domain='0x0000' bus='0x00' slot='0x10'/></disk>"
           "<rng><address type='pci' domain='0x0000' bus='0x03' slot='0x00'/></rng>"
           "<c><address type='drive' controller='0' bus='0' unit='0'/></c>"
           "<c><address type='pci' domain='0x0000' bus='0x00' slot='0x1f' function='0x2'/></c>"
           "</devices></domain>")
    assert lv.used_slots(xml) == {0x10, 0x1f}
    assert lv.free_slot({0x10, 0x1f}) == 0x11
    assert lv.free_slot(set()) == lv.NET_SLOT
    with pytest.raises(RuntimeFailure):
        lv.free_slot(set(range(0x20)))
    assert lv.owner_dir(xml) == "/x"
    assert lv.owner_dir("<domain><name>other</name></domain>") is None


def test_missing_libvirt_python_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "libvirt", None)
    with pytest.raises(UnsupportedError, match=r"pip install 'launcher\[libvirt\]'"):
        lv.LibvirtDriver().check()


def test_alive_needs_libvirts_pid_file_naming_this_machine(
        paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    m = _machine(paths, tmp_path)
    monkeypatch.setattr(lv, "PIDFILE_DIR", str(tmp_path))
    pidfile = tmp_path / "launcher-dev.pid"
    d = lv.LibvirtDriver()
    assert d.alive(m) is None  # no pid file: not running
    pidfile.write_text(str(os.getpid()))  # alive, but pytest
    assert d.alive(m) is None
    fake = subprocess.Popen(["sh", "-c", "sleep 60", "guest=launcher-dev,debug-threads=on",
                             m.disk])  # a process whose argv names it like libvirt's QEMU
    try:
        pidfile.write_text(str(fake.pid))
        cmdline = Path(f"/proc/{fake.pid}/cmdline")
        for _ in range(500):  # until the child has exec'd (its argv is no longer ours)
            if b"guest=launcher-dev" in cmdline.read_bytes():
                break
            __import__("time").sleep(0.01)
        assert d.alive(m) == fake.pid
    finally:
        fake.kill()
        fake.wait()
    assert d.alive(m) is None


# -- the driver against a fake libvirt ---------------------------------------------------

class FakeError(Exception):
    def get_error_message(self) -> str:
        return str(self)


class FakeDomain:
    def __init__(self, conn: FakeConn, xml: str) -> None:
        self.conn, self.xml, self.active = conn, xml, False

    def XMLDesc(self, flags: int) -> str:  # libvirt's method names
        # libvirt adds addresses to its own devices; the fake takes NET_SLOT once
        if self.conn.take_slot:
            self.conn.take_slot = False
            return self.xml.replace("<devices>", "<devices><address type='pci' "
                                    f"domain='0' bus='0' slot='{lv.NET_SLOT:#x}'/>")
        return self.xml

    def UUIDString(self) -> str:
        return "uuid-1"

    def create(self) -> None:
        if self.conn.fail_start:
            raise FakeError("internal error: qemu unexpectedly closed the monitor")
        self.active = True
        self.conn.log.append("create")

    def isActive(self) -> bool:
        return self.active

    def destroyFlags(self, flags: int) -> None:
        self.conn.log.append(f"destroy {flags}")
        self.active = False

    def destroy(self) -> None:
        self.destroyFlags(0)

    def undefine(self) -> None:
        self.conn.log.append("undefine")
        del self.conn.domains[self.conn.name_of(self)]


class FakeConn:
    def __init__(self) -> None:
        self.domains: dict[str, FakeDomain] = {}
        self.log: list[str] = []
        self.fail_start = self.take_slot = False

    def name_of(self, dom: FakeDomain) -> str:
        return next(k for k, v in self.domains.items() if v is dom)

    def lookupByName(self, name: str) -> FakeDomain:
        if name not in self.domains:
            raise FakeError(f"Domain not found: no domain with matching name '{name}'")
        return self.domains[name]

    def defineXML(self, xml: str) -> FakeDomain:
        name = ET.fromstring(xml).findtext("name") or ""
        self.log.append(f"define {name}")
        dom = self.domains.get(name) or FakeDomain(self, xml)
        dom.xml = xml
        self.domains[name] = dom
        return dom

    def close(self) -> int:
        return 0


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeConn]:
    conn = FakeConn()
    mod = types.ModuleType("libvirt")
    mod.libvirtError = FakeError  # type: ignore[attr-defined]
    mod.VIR_DOMAIN_DESTROY_GRACEFUL = 1  # type: ignore[attr-defined]
    mod.open = lambda uri: conn  # type: ignore[attr-defined]
    mod.registerErrorHandler = lambda f, ctx: None  # type: ignore[attr-defined]
    qmod = types.ModuleType("libvirt_qemu")
    qmod.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP = 1  # type: ignore[attr-defined]

    def monitor(dom: FakeDomain, line: str, flags: int) -> str:
        conn.log.append(f"hmp {line}")
        return "Invalid host forwarding rule" if "999" in line else ""

    qmod.qemuMonitorCommand = monitor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "libvirt", mod)
    monkeypatch.setitem(sys.modules, "libvirt_qemu", qmod)
    monkeypatch.setattr("launcher.vm.qemu.binary", lambda arch: "/usr/bin/qemu-system-x86_64")
    yield conn


def _started(paths: Paths, tmp: Path) -> Machine:
    m = _machine(paths, tmp)
    os.makedirs(m.run_dir)
    (Path(m.run_dir) / "ssh-port").write_text("40022")
    return m


def test_define_start_hostfwd_stop_undefine(fake: FakeConn, paths: Paths,
                                            tmp_path: Path) -> None:
    m, d = _started(paths, tmp_path), lv.LibvirtDriver()
    d.define(m)
    assert "hostfwd=tcp:127.0.0.1:0-:22" in fake.domains["launcher-dev"].xml
    d.start(m, "tcg")
    assert "hostfwd=tcp:127.0.0.1:40022-:22" in fake.domains["launcher-dev"].xml
    d.hostfwd(m, "tcp", "0.0.0.0", 8080, 80)
    d.hostfwd(m, "tcp", "0.0.0.0", 8080, 80, add=False)
    with pytest.raises(RuntimeFailure, match="Invalid host forwarding rule"):
        d.hostfwd(m, "tcp", "0.0.0.0", 999, 80)
    d.stop(m)
    d.undefine(m)
    d.undefine(m)  # gone already: nothing to do
    assert fake.log == ["define launcher-dev", "define launcher-dev", "create",
                        "hmp hostfwd_add net0 tcp:0.0.0.0:8080-:80",
                        "hmp hostfwd_remove net0 tcp:0.0.0.0:8080",
                        "hmp hostfwd_add net0 tcp:0.0.0.0:999-:80", "destroy 1", "undefine"]


def test_the_nic_moves_off_a_slot_libvirt_took(fake: FakeConn, paths: Paths,
                                               tmp_path: Path) -> None:
    fake.take_slot = True
    lv.LibvirtDriver().start(_started(paths, tmp_path), "tcg")
    assert f"addr={lv.NET_SLOT + 1:#04x}" in fake.domains["launcher-dev"].xml
    assert fake.log == ["define launcher-dev", "define launcher-dev", "create"]


def test_a_failed_start_says_libvirts_words(fake: FakeConn, paths: Paths,
                                            tmp_path: Path) -> None:
    fake.fail_start = True
    with pytest.raises(RuntimeFailure, match="qemu unexpectedly closed the monitor"):
        lv.LibvirtDriver().start(_started(paths, tmp_path), "tcg")


def test_another_machines_domain_is_never_touched(fake: FakeConn, paths: Paths,
                                                  tmp_path: Path) -> None:
    fake.defineXML("<domain><name>launcher-dev</name><metadata><m:machine xmlns:m='"
                   + lv.META_NS + "' dir='/other/root/machines/dev'/></metadata></domain>")
    m, d = _started(paths, tmp_path), lv.LibvirtDriver()
    with pytest.raises(ConflictError, match="/other/root"):
        d.define(m)
    with pytest.raises(RuntimeFailure, match="not running"):
        d.hostfwd(m, "tcp", "127.0.0.1", 8080, 80)
    d.stop(m)
    d.undefine(m)
    assert "launcher-dev" in fake.domains and fake.log == ["define launcher-dev"]


def test_libvirtd_unreachable(fake: FakeConn, paths: Paths,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(uri: str) -> None:
        raise FakeError("Failed to connect socket to '/var/run/libvirt/libvirt-sock'")

    monkeypatch.setattr(sys.modules["libvirt"], "open", refuse)
    with pytest.raises(UnsupportedError, match="start libvirtd"):
        lv.LibvirtDriver().check()
