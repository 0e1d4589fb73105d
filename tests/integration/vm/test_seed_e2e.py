"""Per-VM data through the seed disk instead of fw_cfg (LAUNCHER_VM_SEED=disk):
the guest gets its pinned host key, authorized key, hostname and shares from
the cpio on its second disk. One boot for the module."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.vm.conftest import Vm

pytestmark = [pytest.mark.vm, pytest.mark.slow]

NAME = "lt-seed"


@pytest.fixture(scope="module")
def svm() -> Iterator[Vm]:
    base = Path(tempfile.mkdtemp(prefix="lt-seed-"))
    share = base / "share"
    share.mkdir()
    v = Vm(base / "root", share)
    v.env["LAUNCHER_MACHINE"] = NAME
    v.env["LAUNCHER_VM_SEED"] = "disk"
    try:
        res = v.cli("machine", "init", "--memory", "1g", "--cpus", "2", "-v", str(share), NAME)
        assert res.returncode == 0, res.stderr
        res = v.cli("machine", "start", NAME)  # the login proves the pinned key arrived
        assert res.returncode == 0, res.stderr
        yield v
    finally:
        v.cli("machine", "rm", "-f", NAME, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def test_the_guest_is_configured_from_the_seed_disk(svm: Vm) -> None:
    seed = svm.root / "state" / "machines" / NAME / "seed.img"
    assert seed.exists() and seed.stat().st_mode & 0o777 == 0o600
    res = svm.cli("machine", "ssh", NAME, "cat /proc/sys/kernel/hostname; "
                  "ls /sys/firmware/qemu_fw_cfg/by_name/opt/launcher 2>&1 || echo no-fw-cfg; "
                  "ls /run/launcher/seed")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.split()
    assert lines[0] == NAME and "no-fw-cfg" in lines and "LAUNCHER-SEED" in lines
    (svm.share / "f").write_text("shared\n")
    res = svm.vm("run", "--rm", "-v", f"{svm.share}:/s", "busybox", "cat", "/s/f")
    assert (res.returncode, res.stdout) == (0, "shared\n"), res.stderr


def test_the_seed_goes_with_the_machine_stopping(svm: Vm) -> None:
    assert svm.cli("machine", "stop", NAME).returncode == 0
    assert not (svm.root / "state" / "machines" / NAME / "seed.img").exists()
