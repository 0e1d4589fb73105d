"""Prepared entries (launcher.spec.security): a config stored with its program, read
back in one go, and never trusted when damaged, foreign or stale."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from launcher import fastjson
from launcher.seccomp import bpf
from launcher.spec import security
from launcher.spec.model import (
    Seccomp,
    Spec,
    Syscall,
    SyscallArg,
    dump_spec,
    load_spec,
    to_json_without_seccomp,
)

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
    security.store_prepared(str(path), "k1", _sec(), PROG)
    return path


def _no_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(sec: Seccomp, cache_dir: str | None) -> bytes:
        raise AssertionError("compiled or looked up although the program was carried")

    monkeypatch.setattr(bpf, "_cached_or_compiled", refuse)


def test_read_back_equal_and_carrying_its_program(entry: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert oct(entry.parent.stat().st_mode & 0o777) == "0o700"
    assert oct(entry.stat().st_mode & 0o777) == "0o600"
    sec = security.load_prepared(str(entry), "k1")
    assert sec == _sec()
    assert sec is not None and sec.to_json() == _sec().to_json()
    _no_compiling(monkeypatch)
    assert bpf.program(sec, None) == PROG


def test_another_key_is_a_miss(entry: Path) -> None:
    assert security.load_prepared(str(entry), "k2") is None
    assert security.load_prepared(str(entry.parent / "missing.memo"), "k1") is None


def test_a_changed_config_is_compiled_again(entry: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    sec = security.load_prepared(str(entry), "k1")
    assert sec is not None and sec.syscalls is not None and sec.syscalls[0].names is not None
    sec.syscalls[0].names.append("getpid")  # in place: the entry's program no longer fits
    seen: list[Seccomp] = []
    monkeypatch.setattr(bpf, "_cached_or_compiled", lambda s, _d: seen.append(s) or OTHER)
    assert bpf.program(sec, None) == OTHER and seen == [sec]
    # ...and the entry keeps what it had: it is for the config as stored
    again = security.load_prepared(str(entry), "k1")
    assert again == _sec() and again is not None and bpf.program(again, None) == PROG


@pytest.mark.parametrize("change", ["arg", "op", "extra", "action", "arch", "listener"])
def test_any_change_in_place_ends_the_carrying(entry: Path, change: str) -> None:
    sec = security.load_prepared(str(entry), "k1")
    assert sec is not None and sec.syscalls is not None and sec.architectures is not None
    arg = (sec.syscalls[1].args or [])[0]
    if change == "arg":
        arg.value = 1
    elif change == "op":
        arg.op = "SCMP_CMP_EQ"
    elif change == "extra":
        sec.syscalls[2].extra = {"x-vendor": True}
    elif change == "action":
        sec.syscalls[0].action = "SCMP_ACT_LOG"
    elif change == "arch":
        sec.architectures.append("SCMP_ARCH_X86")
    else:
        sec.listener_metadata = "m"
    assert security.carried_program(sec) is None and security.json_text(sec) is None


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
    assert security.load_prepared(str(entry), "k1") is None


def test_well_formed_but_wrong_contents_are_not_trusted(tmp_path: Path) -> None:
    import marshal

    path = tmp_path / "e.memo"
    frozen = security._freeze(_sec())
    for payload in [("k1", ("x",), PROG, "{}"), ("k1", frozen, b"\x06\x00", "{}"),
                    ("k1", frozen, "text", "{}"), ("k1", frozen, PROG, b"{}"),
                    ("k1", frozen, PROG), ("k1",), 42]:
        data = marshal.dumps(payload)
        path.write_bytes(security.MAGIC + len(data).to_bytes(8, "little")
                         + security.stable_hash(data).to_bytes(8, "little") + data)
        os.chmod(path, 0o600)
        assert security.load_prepared(str(path), "k1") is None, payload


def test_only_our_own_unshared_regular_files(entry: Path, tmp_path: Path) -> None:
    os.chmod(entry, 0o622)  # others may write it
    assert security.load_prepared(str(entry), "k1") is None
    os.chmod(entry, 0o600)
    link = tmp_path / "link.memo"
    link.symlink_to(entry)
    assert security.load_prepared(str(link), "k1") is None
    if os.geteuid() == 0:
        os.chown(entry, 65534, 65534)
        assert security.load_prepared(str(entry), "k1") is None


def test_a_program_found_later_is_added_to_the_entry(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "e.memo"
    security.store_prepared(str(path), "k1", _sec())  # not compiled yet
    sec = security.load_prepared(str(path), "k1")
    assert sec is not None
    monkeypatch.setattr(bpf, "_cached_or_compiled", lambda _s, _d: PROG)
    assert bpf.program(sec, None) == PROG
    again = security.load_prepared(str(path), "k1")
    assert again is not None
    _no_compiling(monkeypatch)
    assert bpf.program(again, None) == PROG


def test_configs_the_form_cannot_hold_are_not_stored(tmp_path: Path) -> None:
    for sec in (Seccomp(default_action="SCMP_ACT_ALLOW", extra={"x-vendor": 1}),
                Seccomp(syscalls=[Syscall(names=["a,b"], action="SCMP_ACT_ALLOW")]),
                Seccomp(syscalls=[Syscall(names=[""], action="SCMP_ACT_ALLOW")])):
        security.store_prepared(str(tmp_path / "e.memo"), "k", sec, PROG)
        assert not (tmp_path / "e.memo").exists()
    odd = Seccomp(architectures=[], flags=["SECCOMP_FILTER_FLAG_LOG"], syscalls=[])
    security.store_prepared(str(tmp_path / "e.memo"), "k", odd)
    assert security.load_prepared(str(tmp_path / "e.memo"), "k") == odd


def test_the_checksum_is_the_same_in_every_process() -> None:
    """Not ``hash(bytes)``, which differs per process (PYTHONHASHSEED)."""
    data = bytes(range(256)) * 40
    code = ("from launcher.spec.security import stable_hash; "
            "print(stable_hash(bytes(range(256)) * 40))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert int(out) == security.stable_hash(data)
    assert security.stable_hash(data) != security.stable_hash(data[:-1] + b"\x00")


def _spec_with(sec: Seccomp) -> Spec:
    spec = Spec.from_json({"ociVersion": "1.2.0", "process": {"args": ["sh"], "cwd": "/"},
                           "root": {"path": "rootfs"}, "annotations": {"a": "b"},
                           "linux": {"namespaces": [{"type": "pid"}]}})
    assert spec.linux is not None
    spec.linux.seccomp = sec
    return spec


def test_config_json_takes_the_carried_text_and_reads_back_equal(entry: Path,
                                                                 tmp_path: Path) -> None:
    sec = security.load_prepared(str(entry), "k1")
    assert sec is not None
    spec = _spec_with(sec)
    text = security.dumps_spec(spec)
    assert text is not None and json.loads(text) == spec.to_json()
    dump_spec(spec, str(tmp_path / "config.json"), durable=False)
    assert load_spec(str(tmp_path / "config.json")) == spec


def test_no_text_for_a_changed_or_uncarried_config(entry: Path) -> None:
    assert security.dumps_spec(_spec_with(_sec())) is None  # never read from an entry
    sec = security.load_prepared(str(entry), "k1")
    assert sec is not None and sec.syscalls is not None
    sec.syscalls[0].names = ["read"]  # changed after it was read back
    spec = _spec_with(sec)
    assert security.json_text(sec) is None and security.dumps_spec(spec) is None
    assert '"names": ["read"]' in fastjson.dumps(spec.to_json())


def test_a_string_of_the_spec_cannot_stand_in_for_the_filter(entry: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    sec = security.load_prepared(str(entry), "k1")
    assert sec is not None
    spec = _spec_with(sec)
    monkeypatch.setattr(os, "urandom", lambda n: b"\x01" * n)  # a guessed placeholder
    assert spec.annotations is not None
    spec.annotations["x"] = (b"\x01" * 16).hex()
    assert security.dumps_spec(spec) is None  # seen twice: serialized the slow way


def test_the_spec_without_its_filter() -> None:
    spec = _spec_with(_sec())
    data = to_json_without_seccomp(spec)
    full = spec.to_json()
    del full["linux"]["seccomp"]
    assert data == full and spec.linux is not None and spec.linux.seccomp == _sec()
    bare = Spec.from_json({"ociVersion": "1.2.0"})
    assert to_json_without_seccomp(bare) == {"ociVersion": "1.2.0", "linux": {}}
