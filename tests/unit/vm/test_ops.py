from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from launcher.errors import ConflictError, RuntimeFailure, UnsupportedError, UsageError
from launcher.paths import Paths
from launcher.vm import driver, ops
from launcher.vm.machine import Machine
from tests.unit.vm.conftest import make_image


@pytest.mark.parametrize(("text", "mib"), [("2g", 2048), ("512m", 512), ("1.5G", 1536),
                                           ("2048", 2048), ("10gb", 10240), ("1GiB", 1024)])
def test_parse_size(text: str, mib: int) -> None:
    assert ops.parse_size(text, "--memory") == mib


def test_parse_size_refuses_garbage() -> None:
    with pytest.raises(UsageError, match="invalid --memory"):
        ops.parse_size("lots", "--memory")


def test_init_makes_keys_and_fw_cfg_and_refuses_twice(paths: Paths, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    img = make_image(tmp_path / "img")
    monkeypatch.setattr(ops, "_qemu_img", lambda m: Path(m.disk).write_bytes(b"qcow2"))
    m = ops.init(paths, "dev", image=str(img), shares=[str(tmp_path)])
    fw = m.fw_cfg_files()
    assert Path(fw["hostname"]).read_text() == "dev"
    assert Path(fw["shares"]).read_text() == f"share0 {tmp_path}\n"
    assert Path(fw["authorized_keys"]).read_text() == Path(m.client_key + ".pub").read_text()
    assert Path(fw["ssh_host_ed25519_key"]).read_bytes().startswith(
        b"-----BEGIN OPENSSH PRIVATE KEY-----")
    assert Path(m.host_key_pub).read_text().startswith("ssh-ed25519 ")
    assert oct(os.stat(m.client_key).st_mode & 0o777) == "0o600"
    assert m.problem() is None
    with pytest.raises(ConflictError):
        ops.init(paths, "dev", image=str(img))


def test_a_failed_init_leaves_nothing(paths: Paths, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    img = make_image(tmp_path / "img")

    def fail(m: object) -> None:
        raise RuntimeFailure("qemu-img cannot create the disk: no space")

    monkeypatch.setattr(ops, "_qemu_img", fail)
    with pytest.raises(RuntimeFailure):
        ops.init(paths, "dev", image=str(img))
    assert os.listdir(os.path.join(paths.storage, "machines")) == []


@pytest.mark.parametrize("kwargs", [{"cpus": 0}, {"memory_mb": 64}, {"driver": "vbox"},
                                    {"shares": ["relative/dir"]}, {"image": "/nonexistent"}])
def test_bad_init_arguments_make_nothing(paths: Paths, kwargs: dict[str, object]) -> None:
    with pytest.raises((UsageError, Exception)):
        ops.init(paths, "dev", **kwargs)  # type: ignore[arg-type]
    assert not os.path.exists(os.path.join(paths.storage, "machines", "dev"))


def test_libvirt_without_libvirt_python_makes_nothing(paths: Paths, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "libvirt", None)  # import libvirt → ImportError
    with pytest.raises(UnsupportedError, match="libvirt-python"):
        ops.init(paths, "dev", image=str(make_image(tmp_path / "img")), driver="libvirt")
    assert not os.path.exists(os.path.join(paths.storage, "machines", "dev"))


def test_a_failed_init_undefines_what_the_driver_defined(
        paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    class Recorder(driver.Driver):
        def define(self, m: Machine) -> None:
            calls.append(f"define {m.name}")

        def undefine(self, m: Machine) -> None:
            calls.append(f"undefine {m.name}")

    def no_save(m: Machine) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(driver, "get", lambda name: Recorder())
    monkeypatch.setattr(ops, "_qemu_img", lambda m: Path(m.disk).write_bytes(b"qcow2"))
    monkeypatch.setattr(Machine, "save", no_save)
    with pytest.raises(OSError):
        ops.init(paths, "dev", image=str(make_image(tmp_path / "img")))
    assert calls == ["define dev", "undefine dev"]
    assert os.listdir(os.path.join(paths.storage, "machines")) == []
