"""Prepared entries (launcher.seccomp.bpf): a config stored with its program, read
back in one go, and never trusted when damaged, foreign or stale."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.seccomp import bpf
from launcher.spec.model import Seccomp, Syscall, SyscallArg

PROG = b"\x06\x00\x00\x00\x00\x00\xff\x7f"  # RET ALLOW
OTHER = b"\x06\x00\x00\x00\x26\x00\x05\x00"  # RET ERRNO(38)


def _sec() -> Seccomp:
    return Seccomp(default_action="SCMP_ACT_ERRNO", default_errno_ret=38,
                   architectures=["SCMP_ARCH_X86_64"], syscalls=[
                       Syscall(names=["read", "write"], action="SCMP_ACT_ALLOW"),
                       Syscall(names=["socket"], action="SCMP_ACT_ALLOW", args=[
                           SyscallArg(index=0, value=2**64 - 33, value_two=0,
                                      op="SCMP_CMP_MASKED_EQ")]),
                       Syscall(names=[], action="SCMP_ACT_ERRNO", errno_ret=1)])


@pytest.fixture
def entry(tmp_path: Path) -> Path:
    path = tmp_path / "cache" / "e.memo"
    bpf.store_prepared(str(path), "k1", _sec(), PROG)
    return path


def _no_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(sec: Seccomp, cache_dir: str | None) -> bytes:
        raise AssertionError("compiled or looked up although the program was carried")

    monkeypatch.setattr(bpf, "_cached_or_compiled", refuse)


def test_read_back_equal_and_carrying_its_program(entry: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert oct(entry.parent.stat().st_mode & 0o777) == "0o700"
    assert oct(entry.stat().st_mode & 0o777) == "0o600"
    sec = bpf.load_prepared(str(entry), "k1")
    assert sec == _sec()
    assert sec is not None and sec.to_json() == _sec().to_json()
    _no_compiling(monkeypatch)
    assert bpf.program(sec, None) == PROG


def test_another_key_is_a_miss(entry: Path) -> None:
    assert bpf.load_prepared(str(entry), "k2") is None
    assert bpf.load_prepared(str(entry.parent / "missing.memo"), "k1") is None


def test_a_changed_config_is_compiled_again(entry: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    sec = bpf.load_prepared(str(entry), "k1")
    assert sec is not None and sec.syscalls is not None and sec.syscalls[0].names is not None
    sec.syscalls[0].names.append("getpid")  # in place: the entry's program no longer fits
    seen: list[Seccomp] = []
    monkeypatch.setattr(bpf, "_cached_or_compiled", lambda s, _d: seen.append(s) or OTHER)
    assert bpf.program(sec, None) == OTHER and seen == [sec]
    # ...and the entry keeps what it had: it is for the config as stored
    again = bpf.load_prepared(str(entry), "k1")
    assert again == _sec() and again is not None and bpf.program(again, None) == PROG


@pytest.mark.parametrize("damage", ["flip", "truncate", "extend", "magic", "empty", "junk"])
def test_a_damaged_entry_is_not_trusted(entry: Path, damage: str) -> None:
    data = bytearray(entry.read_bytes())
    if damage == "flip":
        data[-20] ^= 0x04  # a bit of the program or config: the checksum tells
    elif damage == "truncate":
        data = data[:-8]
    elif damage == "extend":
        data += b"\x00" * 8
    elif damage == "magic":
        data[0] ^= 0xFF
    elif damage == "empty":
        data = bytearray()
    else:
        data = bytearray(os.urandom(len(data)))
    entry.write_bytes(bytes(data))
    assert bpf.load_prepared(str(entry), "k1") is None


def test_well_formed_but_wrong_contents_are_not_trusted(tmp_path: Path) -> None:
    import marshal

    path = tmp_path / "e.memo"
    for payload in [("k1", ("x",), PROG), ("k1", bpf._freeze(_sec()), b"\x06\x00"),
                    ("k1", bpf._freeze(_sec()), "text"), ("k1",), 42]:
        data = marshal.dumps(payload)
        path.write_bytes(bpf.MAGIC + len(data).to_bytes(8, "little")
                         + bpf.stable_hash(data).to_bytes(8, "little") + data)
        os.chmod(path, 0o600)
        assert bpf.load_prepared(str(path), "k1") is None, payload


def test_only_our_own_unshared_regular_files(entry: Path, tmp_path: Path) -> None:
    os.chmod(entry, 0o622)  # others may write it
    assert bpf.load_prepared(str(entry), "k1") is None
    os.chmod(entry, 0o600)
    link = tmp_path / "link.memo"
    link.symlink_to(entry)
    assert bpf.load_prepared(str(link), "k1") is None
    if os.geteuid() == 0:
        os.chown(entry, 65534, 65534)
        assert bpf.load_prepared(str(entry), "k1") is None


def test_a_program_found_later_is_added_to_the_entry(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "e.memo"
    bpf.store_prepared(str(path), "k1", _sec())  # not compiled yet
    sec = bpf.load_prepared(str(path), "k1")
    assert sec is not None
    monkeypatch.setattr(bpf, "_cached_or_compiled", lambda _s, _d: PROG)
    assert bpf.program(sec, None) == PROG
    again = bpf.load_prepared(str(path), "k1")
    assert again is not None
    _no_compiling(monkeypatch)
    assert bpf.program(again, None) == PROG


def test_configs_the_form_cannot_hold_are_not_stored(tmp_path: Path) -> None:
    for sec in (Seccomp(default_action="SCMP_ACT_ALLOW", extra={"x-vendor": 1}),
                Seccomp(syscalls=[Syscall(names=["a,b"], action="SCMP_ACT_ALLOW")]),
                Seccomp(syscalls=[Syscall(names=[""], action="SCMP_ACT_ALLOW")])):
        bpf.store_prepared(str(tmp_path / "e.memo"), "k", sec, PROG)
        assert not (tmp_path / "e.memo").exists()
    odd = Seccomp(architectures=[], flags=["SECCOMP_FILTER_FLAG_LOG"], syscalls=[])
    bpf.store_prepared(str(tmp_path / "e.memo"), "k", odd)
    assert bpf.load_prepared(str(tmp_path / "e.memo"), "k") == odd


def test_the_checksum_is_the_same_in_every_process() -> None:
    """Not ``hash(bytes)``, which differs per process (PYTHONHASHSEED)."""
    data = bytes(range(256)) * 40
    code = ("from launcher.seccomp.bpf import stable_hash; "
            "print(stable_hash(bytes(range(256)) * 40))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert int(out) == bpf.stable_hash(data)
    assert bpf.stable_hash(data) != bpf.stable_hash(data[:-1] + b"\x00")
