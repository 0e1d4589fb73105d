from __future__ import annotations

import sys

import pytest

from launcher.errors import UsageError
from launcher.paths import Paths
from launcher.vm import driver, qemu
from launcher.vm.libvirt import LibvirtDriver
from launcher.vm.machine import Machine


def test_the_factory_picks_by_name_and_by_machine(paths: Paths) -> None:
    assert isinstance(driver.get("qemu"), driver.QemuDriver)
    assert driver.get("qemu").FEATURES == qemu.FEATURES
    m = Machine(paths, "dev")
    m.driver = "libvirt"
    assert isinstance(driver.for_machine(m), LibvirtDriver)
    with pytest.raises(UsageError, match="unknown driver 'vbox'"):
        driver.get("vbox")


def test_features_are_data_each_driver_declares() -> None:
    for name in driver.NAMES:
        feats = driver.get(name).FEATURES
        assert isinstance(feats, frozenset) and "hostfwd-at-runtime" in feats
    assert "qmp" in driver.get("qemu").FEATURES
    assert "qmp" not in driver.get("libvirt").FEATURES  # libvirt owns QEMU's monitor


def test_the_libvirt_driver_is_made_without_libvirt_python(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """status() of a libvirt machine must work where libvirt-python went missing."""
    monkeypatch.setitem(sys.modules, "libvirt", None)
    assert driver.get("libvirt").NAME == "libvirt"


def test_the_qemu_driver_delegates_to_the_qemu_module(
        paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, ...]] = []
    def start(m: Machine, accel: str) -> int:
        calls.append(("start", accel))
        return 1

    monkeypatch.setattr(qemu, "start", start)
    monkeypatch.setattr(qemu, "alive", lambda m: 42)
    monkeypatch.setattr(qemu, "stop", lambda m, timeout: calls.append(("stop", timeout)))
    monkeypatch.setattr(qemu, "hostfwd", lambda *a: calls.append(("hostfwd", *a[1:])))
    d, m = driver.get("qemu"), Machine(paths, "dev")
    d.check()
    d.define(m)  # nothing to define: one QEMU process is the whole machine
    d.start(m, "tcg")
    assert d.alive(m) == 42
    d.hostfwd(m, "tcp", "127.0.0.1", 8080, 80, add=False)
    d.stop(m, 3.0)
    d.undefine(m)
    assert calls == [("start", "tcg"), ("hostfwd", "tcp", "127.0.0.1", 8080, 80, False),
                     ("stop", 3.0)]
