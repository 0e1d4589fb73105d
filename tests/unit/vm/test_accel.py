from pathlib import Path

import pytest

from launcher.errors import ConfigError
from launcher.vm import accel


def test_candidates_per_platform() -> None:
    assert accel.candidates("linux") == ["kvm", "tcg"]
    assert accel.candidates("darwin") == ["hvf", "tcg"]
    assert accel.candidates("win32") == ["whpx", "tcg"]
    assert accel.candidates("freebsd14") == ["tcg"]


def test_a_failing_probe_falls_back_to_tcg_and_is_cached(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accel, "candidates", lambda platform=None: ["kvm", "tcg"])
    monkeypatch.setattr(accel, "cheap_check", lambda a: None)
    calls: list[str] = []

    def probe(a: str, k: str, i: str, t: float) -> str | None:
        calls.append(a)
        return "QEMU failed: failed to set MSR"

    cache = str(tmp_path / "accel.json")
    choice = accel.choose(probe, "k", "i", cache, "key")
    assert choice.accel == "tcg" and choice.slow
    assert choice.tried == [("kvm", "QEMU failed: failed to set MSR"), ("tcg", "ok")]
    again = accel.choose(probe, "k", "i", cache, "key")
    assert again.accel == "tcg" and calls == ["kvm"]  # the verdict came from the cache
    accel.choose(probe, "k", "i", cache, "other kernel")
    assert calls == ["kvm", "kvm"]


def test_a_working_probe_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accel, "candidates", lambda platform=None: ["kvm", "tcg"])
    monkeypatch.setattr(accel, "cheap_check", lambda a: None)
    assert accel.choose(lambda *a: None, "k", "i", None, "key").accel == "kvm"


def test_cheap_check_failures_skip_the_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accel, "candidates", lambda platform=None: ["kvm", "tcg"])
    monkeypatch.setattr(accel, "cheap_check",
                        lambda a: None if a == "tcg" else "/dev/kvm does not exist")

    def probe(*a: object) -> str | None:
        raise AssertionError("no probe without the device")

    choice = accel.choose(probe, "k", "i", None, "key")
    assert choice.tried == [("kvm", "/dev/kvm does not exist"), ("tcg", "ok")]


def test_forced_accelerator_is_validated() -> None:
    assert accel.choose(lambda *a: "x", "k", "i", None, "key", forced="tcg").accel == "tcg"
    with pytest.raises(ConfigError):
        accel.choose(lambda *a: None, "k", "i", None, "key", forced="xen")


def test_a_guest_of_another_cpu_is_emulated_without_a_probe(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accel, "candidates", lambda platform=None: ["kvm", "tcg"])
    monkeypatch.setattr(accel, "cheap_check", lambda a: None)

    def probe(*args: object) -> str | None:
        raise AssertionError("no probe boot for a foreign guest")

    choice = accel.choose(probe, "k", "i", None, "key", foreign="not the host's CPU")
    assert choice.accel == "tcg" and choice.tried[0] == ("kvm", "not the host's CPU")


def test_host_arch_names_match_the_guest_arches(monkeypatch: pytest.MonkeyPatch) -> None:
    from launcher.vm import machine

    class Uname:
        machine = "arm64"  # macOS on Apple silicon

    monkeypatch.setattr(machine.os, "uname", lambda: Uname())
    assert machine.host_arch() == "aarch64"
