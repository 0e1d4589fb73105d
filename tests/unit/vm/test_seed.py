"""The seed disk carries the fw_cfg files as a cpio archive the guest unpacks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from launcher.paths import Paths
from launcher.vm import qemu, seed
from launcher.vm.machine import Machine


@pytest.fixture
def m(paths: Paths) -> Machine:
    mach = Machine(paths, "default")
    os.makedirs(os.path.join(mach.dir, "fw_cfg"))
    os.makedirs(mach.run_dir)
    for key, path in mach.fw_cfg_files().items():
        Path(path).write_text(f"{key} data\n")
    return mach


def test_the_seed_disk_unpacks_to_the_fw_cfg_files(m: Machine, tmp_path: Path) -> None:
    path = seed.write(m)
    data = Path(path).read_bytes()
    assert len(data) % 512 == 0 and os.stat(path).st_mode & 0o777 == 0o600
    out = tmp_path / "unpacked"
    out.mkdir()
    # exactly what the guest does with /dev/vdb
    subprocess.run(["busybox", "cpio", "-i", "-d", "-H", "newc"], input=data, cwd=out,
                   check=True, capture_output=True)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([seed.MARKER, *m.fw_cfg_files()])
    assert (out / "hostname").read_text() == "hostname data\n"


def test_qemu_gets_the_seed_disk_instead_of_fw_cfg(m: Machine) -> None:
    assert any(a.startswith("name=opt/launcher/") for a in qemu.argv(m, "qemu", "tcg"))
    seed.write(m)
    args = qemu.argv(m, "qemu", "tcg")
    assert "-fw_cfg" not in args
    assert f"file={seed.path(m)},format=raw,if=virtio,readonly=on" in args


def test_when_it_is_wanted(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not seed.wanted(qemu.FEATURES)
    assert seed.wanted(frozenset({"9p"}))
    monkeypatch.setenv(seed.ENV, "disk")
    assert seed.wanted(qemu.FEATURES)
    assert not seed.wanted(frozenset({"fw_cfg"}))  # a driver that cannot attach one
