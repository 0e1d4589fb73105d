"""Shares over reverse sshfs in a real guest, as Windows hosts get them (QEMU
has no 9p there), forced here with LAUNCHER_SHARES_VIA=sftp: the host agent
serves the share over its SSH connection and ``-v`` binds it as with 9p."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.vm.conftest import Vm, booted

pytestmark = [pytest.mark.vm, pytest.mark.slow]


@pytest.fixture(scope="module")
def sftp_vm() -> Iterator[Vm]:
    # a space in the shared path, as Windows home folders often have
    yield from booted("lt-vm-sftp-", "my share", {"LAUNCHER_SHARES_VIA": "sftp"})


def test_a_bind_mount_over_sftp(sftp_vm: Vm) -> None:
    (sftp_vm.share / "in.txt").write_text("from the host\n")
    res = sftp_vm.vm("run", "--rm", "-v", f"{sftp_vm.share}:/data", "busybox", "sh", "-c",
                     "cat /data/in.txt && echo from the container > /data/out.txt")
    assert (res.returncode, res.stdout) == (0, "from the host\n"), res.stderr
    assert (sftp_vm.share / "out.txt").read_text() == "from the container\n"


def test_no_9p_device_for_an_sftp_machine(sftp_vm: Vm) -> None:
    machine = (sftp_vm.root / "storage" / "machines" / "default" / "machine.json").read_text()
    assert '"shares_via": "sftp"' in machine
    cmdline = Path(f"/proc/{sftp_vm.qemu_pid()}/cmdline").read_bytes()
    assert b"-virtfs" not in cmdline
