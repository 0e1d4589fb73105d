"""--security-opt into the spec: the default seccomp profile (memoized on disk),
unconfined, a Docker-format file, and no-new-privileges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launcher.errors import ConfigError, NotFoundError
from launcher.seccomp import bpf
from launcher.seccomp.default import default_profile
from launcher.spec import security
from launcher.spec.defaults import default_linux, default_process


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setattr(bpf, "cache_dir", lambda: str(d))
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
