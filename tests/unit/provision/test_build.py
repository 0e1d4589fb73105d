"""provision/build.py's reproducible disk: two trees with the same content made
at different times give byte-identical ext4 images."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[3] / "provision" / "build.py"
spec = importlib.util.spec_from_file_location("provision_build", HERE)
assert spec is not None and spec.loader is not None
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)


def test_used_inodes_are_all_but_the_free_ranges() -> None:
    text = ("Inode count:  20\nFree inodes:  13\nGroup 0: (Blocks 0-9)\n  Free inodes: 4-10\n"
            "Group 1: (Blocks 10-19)\n  Free inodes: 12, 15-20\nGroup 2:\n  Free inodes: \n")
    assert build.used_inodes(text) == [1, 2, 3, 11, 13, 14]


def _tree(root: Path) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("launcher\n")
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "tool").write_bytes(b"\x7fELF" + bytes(5000))
    (root / "usr" / "bin" / "link").symlink_to("tool")
    build.normalize_times(str(root))
    (root / "var" / "tmp").mkdir(parents=True)  # made after the times were set


@pytest.mark.skipif(shutil.which("mkfs.ext4") is None or shutil.which("debugfs") is None,
                    reason="needs e2fsprogs")
def test_the_disk_is_byte_for_byte_reproducible(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "DISK_SIZE", "16M")
    digests = []
    for n in (1, 2):
        root = tmp_path / f"root{n}"
        _tree(root)
        out = tmp_path / f"disk{n}.qcow2"
        build.make_disk(str(root), str(out))
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
        time.sleep(1.1)  # the second tree's ctimes are a second later
    assert digests[0] == digests[1]
    assert not any(p.name.endswith(".raw") for p in tmp_path.iterdir())
    assert os.path.exists(tmp_path / "disk1.qcow2")


def test_each_arch_has_its_serial_console() -> None:
    assert "console=ttyS0" in build.cmdline("x86_64")
    assert "console=ttyAMA0" in build.cmdline("aarch64")
