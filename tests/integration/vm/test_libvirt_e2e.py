"""The libvirt driver end to end: one machine booted as a libvirt domain (TCG
here), a container run in it, a port published to the host, then stop and rm
leave no domain and no files. One boot for the whole module."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.vm.conftest import Vm, fetch, free_port

pytestmark = [pytest.mark.vm, pytest.mark.slow]

NAME = "lt-libvirt"
DOMAIN = f"launcher-{NAME}"
URI = "qemu:///system"


def _domain() -> Any:
    import libvirt  # type: ignore[import-untyped]

    conn = libvirt.open(URI)
    try:
        return conn.lookupByName(DOMAIN)
    except libvirt.libvirtError:
        return None


def _remove_stale_domain() -> None:
    """A domain of this name left by an interrupted earlier run (its machine
    directory is gone): launcher would refuse to take it over."""
    import libvirt

    dom = _domain()
    if dom is None:
        return
    xml = dom.XMLDesc(0)
    marker = 'dir="'
    machine_dir = xml.split(marker, 1)[1].split('"', 1)[0] if marker in xml else ""
    if machine_dir and not os.path.exists(machine_dir):
        try:
            dom.destroy()
        except libvirt.libvirtError:
            pass  # not running
        dom.undefine()


@pytest.fixture(scope="module")
def lvm(libvirtd: None) -> Iterator[Vm]:
    _remove_stale_domain()
    base = Path(tempfile.mkdtemp(prefix="lt-libvirt-"))
    share = base / "share"
    share.mkdir()
    v = Vm(base / "root", share)
    v.env["LAUNCHER_MACHINE"] = NAME  # what `--backend vm` commands use
    try:
        res = v.cli("machine", "init", "--driver", "libvirt", "--memory", "1g", "--cpus", "2",
                    "-v", str(share), NAME)
        assert res.returncode == 0, res.stderr
        res = v.cli("machine", "start", NAME)
        assert res.returncode == 0, res.stderr
        assert "libvirt started:" in res.stderr and "ssh banner:" in res.stderr
        yield v
    finally:
        v.cli("machine", "rm", "-f", NAME, timeout=120)  # no-op once the last test ran
        _remove_stale_domain()
        shutil.rmtree(base, ignore_errors=True)


def test_the_machine_is_a_running_persistent_domain(lvm: Vm) -> None:
    (row,) = [json.loads(line) for line in
              lvm.cli("machine", "ls", "--format", "json").stdout.splitlines()]
    assert (row["Name"], row["Status"], row["Driver"]) == (NAME, "running", "libvirt")
    dom = _domain()
    assert dom is not None
    assert dom.isActive() and dom.isPersistent()
    pid = Path(f"/run/libvirt/qemu/{DOMAIN}.pid").read_text().strip()
    assert row["Detail"].startswith(f"pid {pid},")


def test_a_container_runs_in_it_with_the_share(lvm: Vm) -> None:
    res = lvm.vm("run", "--rm", "busybox", "echo", "hi")
    assert (res.returncode, res.stdout) == (0, "hi\n"), res.stderr
    (lvm.share / "in.txt").write_text("over 9p\n")  # mounted by tag, as with QEMU
    res = lvm.vm("run", "--rm", "-v", f"{lvm.share}:/data", "busybox", "cat", "/data/in.txt")
    assert res.stdout == "over 9p\n", res.stderr
    res = lvm.cli("machine", "ssh", NAME, "cat /sys/firmware/qemu_fw_cfg/by_name/opt/"
                  "launcher/hostname/raw")  # per-VM data through <sysinfo type='fwcfg'>
    assert res.stdout == NAME, res.stderr


def test_a_published_port_is_reached_from_the_host(lvm: Vm) -> None:
    www = lvm.share / "www"
    www.mkdir(exist_ok=True)
    (www / "index.html").write_text("served through libvirt\n")
    port = free_port()
    res = lvm.vm("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:80", "-v",
                 f"{www}:/www:ro", "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
    assert res.returncode == 0, res.stderr
    try:
        assert fetch(f"http://127.0.0.1:{port}/", 60) == "served through libvirt\n"
    finally:
        assert lvm.vm("rm", "-f", "web").returncode == 0


def test_stop_then_rm_leave_no_domain_and_no_files(lvm: Vm) -> None:
    res = lvm.cli("machine", "stop", NAME)
    assert res.returncode == 0, res.stderr
    row = json.loads(lvm.cli("machine", "ls", "--format", "json").stdout)
    assert row["Status"] == "stopped"
    dom = _domain()
    assert dom is not None and not dom.isActive()
    res = lvm.cli("machine", "rm", NAME)
    assert res.returncode == 0, res.stderr
    assert _domain() is None
    for leftover in (lvm.root / "storage" / "machines" / NAME,
                     lvm.root / "state" / "machines" / NAME,
                     Path(f"/etc/libvirt/qemu/{DOMAIN}.xml"),
                     Path(f"/run/libvirt/qemu/{DOMAIN}.pid"),
                     Path(f"/var/log/libvirt/qemu/{DOMAIN}.log")):
        assert not leftover.exists(), leftover
