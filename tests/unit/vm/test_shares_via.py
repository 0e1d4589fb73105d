"""How a machine's shares reach the guest: 9p, or reverse sshfs (sftp) where
QEMU has no 9p (Windows) or LAUNCHER_SHARES_VIA asks for it."""

from __future__ import annotations

import pytest

from launcher.errors import UsageError
from launcher.paths import Paths
from launcher.vm import qemu
from launcher.vm.hostpath import TRANSPORT_ENV, default_transport
from launcher.vm.machine import Machine


def test_the_default_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRANSPORT_ENV, raising=False)
    assert default_transport("linux") == "9p" and default_transport("darwin") == "9p"
    assert default_transport("win32") == "sftp"
    monkeypatch.setenv(TRANSPORT_ENV, "sftp")
    assert default_transport("linux") == "sftp"
    monkeypatch.setenv(TRANSPORT_ENV, "9p")
    with pytest.raises(UsageError, match="no 9p"):
        default_transport("win32")
    monkeypatch.setenv(TRANSPORT_ENV, "nfs")
    with pytest.raises(UsageError, match="expected 9p or sftp"):
        default_transport("linux")


def test_sftp_shares_are_no_virtfs_devices(tmp_path: object) -> None:
    m = Machine(Paths("S", "T", "C"), "default")
    m.shares, m.image_dir, m.cmdline = ["/home/me"], "IMG", "console=ttyS0"
    assert any("mount_tag=share0" in a for a in qemu.argv(m, "qemu", "tcg", "linux"))
    m.shares_via = "sftp"
    assert not any("mount_tag" in a for a in qemu.argv(m, "qemu", "tcg", "linux"))
