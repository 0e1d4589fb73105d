"""--security-opt into the spec: the default seccomp profile (memoized on disk),
unconfined, a Docker-format file, and no-new-privileges."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from launcher.errors import ConfigError, NotFoundError
from launcher.seccomp.default import default_profile
from launcher.spec import security
from launcher.spec.defaults import default_linux, default_process


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setattr(security, "cache_dir", lambda: str(d))
    return d


def test_the_default_profile_and_no_new_privs(cache: Path) -> None:
    proc, linux = default_process(["true"]), default_linux()
    security.apply(proc, linux, [])
    assert proc.no_new_privileges is True
    caps = list(proc.capabilities.bounding or []) if proc.capabilities else []
    assert linux.seccomp == default_profile(caps)
    (memo,) = list(cache.iterdir())  # memoized: the next start reads it back
    assert memo.name.startswith("default-")
    again = default_linux()
    security.apply(default_process(["true"]), again, [])
    assert again.seccomp == linux.seccomp


def test_unconfined_a_file_and_no_new_privileges_false(tmp_path: Path) -> None:
    proc, linux = default_process(["true"]), default_linux()
    security.apply(proc, linux, ["seccomp=unconfined", "no-new-privileges=false"])
    assert linux.seccomp is None and proc.no_new_privileges is False
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}))
    security.apply(proc, linux, [f"seccomp={f}"])
    assert linux.seccomp is not None and linux.seccomp.default_action == "SCMP_ACT_ALLOW"
    f.write_text('{"defaultAction": "SCMP_ACT_NOPE"}')
    with pytest.raises(ConfigError, match="SCMP_ACT_NOPE"):
        security.apply(proc, linux, [f"seccomp={f}"])
    with pytest.raises(NotFoundError):
        security.apply(proc, linux, [f"seccomp={tmp_path / 'missing.json'}"])


@pytest.mark.parametrize(("text", "want"), [
    ("seccomp=unconfined", "seccomp=unconfined"), ("seccomp:/p.json", "seccomp=/p.json"),
    ("no-new-privileges", "no-new-privileges=true"),
    ("no-new-privileges:false", "no-new-privileges=false"),
    ("label=disable", "label=disable")])
def test_the_option_words(text: str, want: str) -> None:
    from launcher.cli.convert import security_opt

    assert security_opt(text) == want


@pytest.mark.parametrize("text", ["seccomp", "no-new-privileges=maybe", "apparmor=x", "x=y"])
def test_bad_option_words(text: str) -> None:
    from launcher.cli.convert import security_opt

    with pytest.raises(ValueError):
        security_opt(text)


# -- the memoized default profile (a prepared entry, launcher.seccomp.bpf) ------------------

CAPS = ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID"]


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The capability sets the default profile is built for (not read back)."""
    from launcher.seccomp import default

    seen: list[list[str]] = []
    real = default.default_profile

    def counting(caps: list[str], *a: object) -> object:
        seen.append(list(caps))
        return real(caps, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(default, "default_profile", counting)
    return seen


def test_read_back_not_rebuilt(cache: Path, builds: list[list[str]]) -> None:
    first = security.default_for(CAPS)
    again = security.default_for(list(reversed(CAPS)))  # the same set
    assert again == first == default_profile(CAPS) and again is not first
    assert len(builds) == 1 and len(list(cache.iterdir())) == 1


def test_other_caps_another_entry(cache: Path, builds: list[list[str]]) -> None:
    a = security.default_for(CAPS)
    b = security.default_for([*CAPS, "CAP_SYS_ADMIN"])
    assert b == default_profile([*CAPS, "CAP_SYS_ADMIN"]) and a != b
    assert security.default_for(CAPS) == a and len(builds) == 2
    assert len(list(cache.iterdir())) == 2


@pytest.mark.parametrize("what", ["sources", "compiler", "kernel"])
def test_a_changed_profile_or_host_rebuilds(cache: Path, builds: list[list[str]],
                                            monkeypatch: pytest.MonkeyPatch, what: str) -> None:
    security.default_for(CAPS)
    if what == "sources":  # default.py, profile.py or syscalls.py edited or upgraded
        real = security.source_stamps
        monkeypatch.setattr(security, "source_stamps", lambda d, n: [*real(d, n), "edited"])
    elif what == "compiler":  # libseccomp, compact.py, ... upgraded
        monkeypatch.setattr(security, "compiler_tag", lambda: "another libseccomp")
    else:
        u = os.uname()
        monkeypatch.setattr(os, "uname", lambda: os.uname_result(
            (u.sysname, u.nodename, "99.1.0", u.version, u.machine)))
    assert security.default_for(CAPS) == default_profile(CAPS)
    assert len(builds) == 2
    assert len(list(cache.iterdir())) == 1  # rewritten in place
    assert security.default_for(CAPS) == default_profile(CAPS) and len(builds) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "shared"])
def test_a_damaged_or_foreign_entry_is_rebuilt(cache: Path, builds: list[list[str]],
                                               damage: str) -> None:
    security.default_for(CAPS)
    (entry,) = cache.iterdir()
    if damage == "garbage":
        entry.write_bytes(b"\x00" * 64)
    elif damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:-1])
    else:
        os.chmod(entry, 0o666)
    assert security.default_for(CAPS) == default_profile(CAPS)
    assert len(builds) == 2
    assert oct(entry.stat().st_mode & 0o777) == "0o600"  # replaced by a good one
    assert security.default_for(CAPS) == default_profile(CAPS) and len(builds) == 2


def test_an_unwritable_cache_still_gives_the_profile(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setattr(security, "cache_dir", lambda: str(blocked / "cache"))
    assert security.default_for(CAPS) == default_profile(CAPS)
