"""Docker-format seccomp profiles: which entries apply, architectures, every check."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from launcher.errors import ConfigError, NotFoundError, UnsupportedError
from launcher.seccomp.profile import from_docker, host_arch, kernel_version, load_file

CAPS = ("CAP_CHOWN", "CAP_KILL")
NEW = (6, 1)


def _doc(*syscalls: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, **top,
            "syscalls": list(syscalls)}  # fmt: skip


def _names(doc: dict[str, Any], caps: tuple[str, ...] = CAPS, arch: str = "x86_64",
           kernel: tuple[int, int] = NEW) -> list[str]:  # fmt: skip
    sec = from_docker(doc, caps, arch, kernel)
    return [n for rule in sec.syscalls or [] for n in rule.names or []]


def _problems(doc: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        from_docker(doc, CAPS, "x86_64", NEW)
    return info.value.problems


def test_plain_profile_converts_field_by_field() -> None:
    doc = _doc({"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
               {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                "args": [{"index": 0, "value": 7, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"}]},
               flags=["SECCOMP_FILTER_FLAG_LOG"])  # fmt: skip
    sec = from_docker(doc, CAPS, "x86_64", NEW)
    assert sec.to_json() == {
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 0, "value": 7, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"}]},
        ],
    }  # fmt: skip


def test_old_single_name() -> None:
    assert _names(_doc({"name": "getpid", "action": "SCMP_ACT_ALLOW"})) == ["getpid"]


@pytest.mark.parametrize(("caps", "expected"), [
    ((), ["without_admin", "without_any"]),
    (("CAP_SYS_ADMIN",), ["with_admin"]),
    (("sys_admin", "CAP_BPF"), ["with_admin", "with_both"]),  # container caps normalized
])  # fmt: skip
def test_includes_need_every_cap_excludes_any(caps: tuple[str, ...], expected: list[str]) -> None:
    doc = _doc(
        {"names": ["with_admin"], "action": "SCMP_ACT_ALLOW",
         "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["with_both"], "action": "SCMP_ACT_ALLOW",
         "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_BPF"]}},
        {"names": ["without_admin"], "action": "SCMP_ACT_ERRNO",
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["without_any"], "action": "SCMP_ACT_ERRNO",
         "excludes": {"caps": ["CAP_SYS_ADMIN", "CAP_BPF"]}},
    )  # fmt: skip
    assert _names(doc, caps) == expected


@pytest.mark.parametrize(("arch", "expected"), [
    ("x86_64", ["go_amd64", "uname_x86", "scmp_x86", "not_arm"]),
    ("aarch64", ["go_arm64", "not_amd64"]),
])  # fmt: skip
def test_arch_filters_match_the_host_by_any_spelling(arch: str, expected: list[str]) -> None:
    doc = _doc(
        {"names": ["go_amd64"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
        {"names": ["uname_x86"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["x86_64"]}},
        {"names": ["scmp_x86"], "action": "SCMP_ACT_ALLOW",
         "includes": {"arches": ["SCMP_ARCH_X86_64"]}},
        {"names": ["only_x86"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["x86"]}},
        {"names": ["go_arm64"], "action": "SCMP_ACT_ALLOW",
         "includes": {"arches": ["arm", "arm64"]}},
        {"names": ["not_amd64"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
        {"names": ["not_arm"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["aarch64"]}},
    )  # fmt: skip
    assert _names(doc, arch=arch) == expected


@pytest.mark.parametrize(("kernel", "expected"), [
    ((4, 7), ["before_4_8"]), ((4, 8), ["since_4_8"]), ((5, 0), ["since_4_8"]),
    ((3, 19), ["before_4_8"]),
])  # fmt: skip
def test_min_kernel(kernel: tuple[int, int], expected: list[str]) -> None:
    doc = _doc(
        {"names": ["since_4_8"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
        {"names": ["before_4_8"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "4.8"}},
    )  # fmt: skip
    assert _names(doc, kernel=kernel) == expected


def test_arch_map_picks_the_host_entry() -> None:
    amap = [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}]
    doc = _doc(archMap=amap)
    assert from_docker(doc, CAPS, "x86_64", NEW).architectures == ["SCMP_ARCH_X86_64",
                                                                   "SCMP_ARCH_X86"]
    assert from_docker(doc, CAPS, "aarch64", NEW).architectures == ["SCMP_ARCH_AARCH64",
                                                                    "SCMP_ARCH_ARM"]
    only_s390 = _doc(archMap=[{"architecture": "SCMP_ARCH_S390X",
                               "subArchitectures": ["SCMP_ARCH_S390"]}])
    assert from_docker(only_s390, CAPS, "x86_64", NEW).architectures == ["SCMP_ARCH_X86_64"]


def test_architectures_as_written_and_defaults() -> None:
    doc = _doc(architectures=["SCMP_ARCH_X86_64"])
    assert from_docker(doc, CAPS, "x86_64", NEW).architectures == ["SCMP_ARCH_X86_64"]
    assert from_docker(_doc(), CAPS, "aarch64", NEW).architectures == ["SCMP_ARCH_AARCH64",
                                                                       "SCMP_ARCH_ARM"]


def test_podman_style_informational_keys_and_nulls() -> None:
    doc = _doc({"names": ["open_by_handle_at"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                "errno": "EPERM", "comment": "", "args": None, "includes": {},
                "excludes": {"caps": ["CAP_DAC_READ_SEARCH"]}},
               defaultErrno="ENOSYS")  # fmt: skip
    assert _names(doc) == ["open_by_handle_at"]
    assert _names(doc, ("CAP_DAC_READ_SEARCH",)) == []


def test_unsupported_host_arch() -> None:
    with pytest.raises(UnsupportedError, match="s390x"):
        from_docker(_doc(), CAPS, "s390x", NEW)


@pytest.mark.parametrize(("change", "problem"), [
    ({"defaultAction": "SCMP_ACT_FOO"}, 'defaultAction: unknown action "SCMP_ACT_FOO"'),
    ({"defaultAction": None}, "defaultAction: required"),
    ({"defaultErrnoRet": "38"}, 'defaultErrnoRet: expected an integer, got "38"'),
    ({"defaultErrnoRet": 5000}, "defaultErrnoRet: must be 0..4095, got 5000"),
    ({"defaultAction": "SCMP_ACT_ALLOW"},
     "defaultErrnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE"),
    ({"defaultAction": "SCMP_ACT_NOTIFY", "defaultErrnoRet": None},
     "defaultAction: SCMP_ACT_NOTIFY is not supported without listenerPath"),
    ({"flags": ["SECCOMP_FILTER_FLAG_BOGUS"]},
     'flags[0]: unknown or unsupported flag "SECCOMP_FILTER_FLAG_BOGUS"'),
    ({"architectures": ["SCMP_ARCH_VAX"]},
     'architectures[0]: unknown architecture "SCMP_ARCH_VAX"'),
    ({"architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]},
     "architectures: use either architectures or archMap, not both"),
    ({"archMap": [{"architecture": "x86_64"}]},
     'archMap[0].architecture: unknown architecture "x86_64"'),
    ({"archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["i386"]}]},
     'archMap[0].subArchitectures[0]: unknown architecture "i386"'),
    ({"syscalls": {}}, "syscalls: expected a list, got {}"),
    ({"defaultActon": "SCMP_ACT_ALLOW"}, "defaultActon: unknown key"),
    ({"listenerPath": 3}, "listenerPath: expected a string, got 3"),
])  # fmt: skip
def test_top_level_problems(change: dict[str, Any], problem: str) -> None:
    doc = _doc()
    doc.update(change)
    doc = {k: v for k, v in doc.items() if v is not None}
    assert problem in _problems(doc)


@pytest.mark.parametrize(("entry", "problem"), [
    ({"action": "SCMP_ACT_FOO"}, 'syscalls[1].action: unknown action "SCMP_ACT_FOO"'),
    ({"action": None}, "syscalls[1].action: required"),
    ({"action": "SCMP_ACT_NOTIFY"},
     "syscalls[1].action: SCMP_ACT_NOTIFY is not supported without listenerPath"),
    ({"names": []}, "syscalls[1].names: at least one name is required"),
    ({"names": ["read", 5]}, "syscalls[1].names[1]: expected a string, got 5"),
    ({"names": "read"}, 'syscalls[1].names: expected a list, got "read"'),
    ({"names": ["read", "Write!"]}, 'syscalls[1].names[1]: not a syscall name: "Write!"'),
    ({"names": [""]}, 'syscalls[1].names[0]: not a syscall name: ""'),
    ({"names": None, "name": 7}, "syscalls[1].name: expected a string, got 7"),
    ({"name": "read"}, "syscalls[1]: use either name or names, not both"),
    ({"errnoRet": -1, "action": "SCMP_ACT_ERRNO"}, "syscalls[1].errnoRet: must be 0..4095"),
    ({"errnoRet": 1}, "syscalls[1].errnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE"),
    ({"args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]},
     "syscalls[1].args[0].index: must be an integer 0..5, got 6"),
    ({"args": [{"index": -1, "value": 1, "op": "SCMP_CMP_EQ"}]},
     "syscalls[1].args[0].index: must be an integer 0..5, got -1"),
    ({"args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
               {"index": 1, "value": 1, "op": "SCMP_CMP_FOO"}]},
     'syscalls[1].args[1].op: unknown operator "SCMP_CMP_FOO"'),
    ({"args": [{"index": 0, "op": "SCMP_CMP_EQ"}]}, "syscalls[1].args[0].value: required"),
    ({"args": [{"index": 0, "value": 2**64, "op": "SCMP_CMP_EQ"}]},
     "syscalls[1].args[0].value: expected an unsigned 64-bit integer, got 18446744073709551616"),
    ({"args": [{"index": 0, "value": 1, "valueTwo": -2, "op": "SCMP_CMP_EQ"}]},
     "syscalls[1].args[0].valueTwo: expected an unsigned 64-bit integer, got -2"),
    ({"args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ", "mask": 1}]},
     "syscalls[1].args[0].mask: unknown key"),
    ({"args": ["x"]}, "syscalls[1].args[0]: expected an object"),
    ({"includes": {"caps": ["CAP_FLY"]}},
     'syscalls[1].includes.caps[0]: unknown capability "CAP_FLY"'),
    ({"excludes": {"arches": ["amd46"]}},
     'syscalls[1].excludes.arches[0]: unknown architecture "amd46"'),
    ({"includes": {"minKernel": "4"}},
     'syscalls[1].includes.minKernel: expected "major.minor", got "4"'),
    ({"includes": {"minKernel": 4.8}},
     "syscalls[1].includes.minKernel: expected a string, got 4.8"),
    ({"includes": {"minkernel": "4.8"}}, "syscalls[1].includes.minkernel: unknown key"),
    ({"includes": []}, "syscalls[1].includes: expected an object, got []"),
    ({"acton": "SCMP_ACT_ALLOW"}, "syscalls[1].acton: unknown key"),
])  # fmt: skip
def test_entry_problems_name_their_path(entry: dict[str, Any], problem: str) -> None:
    bad = {"names": ["getpid"], "action": "SCMP_ACT_ALLOW", **entry}
    bad = {k: v for k, v in bad.items() if v is not None}
    problems = _problems(_doc({"names": ["read"], "action": "SCMP_ACT_ALLOW"}, bad))
    assert any(p.startswith(problem) for p in problems), problems


def test_every_problem_is_listed_at_once() -> None:
    doc = _doc({"names": ["read"], "action": "SCMP_ACT_FOO"},
               {"names": [1], "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 9, "value": 0, "op": "SCMP_CMP_EQ"}]},
               defaultAction="SCMP_ACT_BAR")  # fmt: skip
    assert _problems(doc) == [
        'defaultAction: unknown action "SCMP_ACT_BAR"',
        'syscalls[0].action: unknown action "SCMP_ACT_FOO"',
        "syscalls[1].names[0]: expected a string, got 1",
        "syscalls[1].args[0].index: must be an integer 0..5, got 9",
    ]


def test_an_entry_that_does_not_apply_is_still_checked() -> None:
    doc = _doc({"names": ["x"], "action": "SCMP_ACT_FOO", "includes": {"caps": ["CAP_BPF"]}})
    assert _problems(doc) == ['syscalls[0].action: unknown action "SCMP_ACT_FOO"']


def test_notify_with_listener_passes_through() -> None:
    doc = _doc({"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}, listenerPath="/run/l.sock",
               listenerMetadata="m")  # fmt: skip
    sec = from_docker(doc, CAPS, "x86_64", NEW)
    assert (sec.listener_path, sec.listener_metadata) == ("/run/l.sock", "m")


def test_not_an_object() -> None:
    assert _problems([]) == ["(top level): expected an object"]


def test_load_file(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(_doc({"names": ["read"], "action": "SCMP_ACT_ALLOW"})))
    assert load_file(str(path), CAPS, "x86_64", NEW).syscalls[0].names == ["read"]  # type: ignore[index]


def test_load_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(NotFoundError, match=f"seccomp profile {missing}: no such file"):
        load_file(str(missing), CAPS, "x86_64", NEW)
    bad = tmp_path / "bad.json"
    bad.write_text('{"defaultAction": ')
    with pytest.raises(ConfigError, match=f"seccomp profile {bad}: not valid JSON"):
        load_file(str(bad), CAPS, "x86_64", NEW)
    bad.write_text(json.dumps(_doc({"names": ["x"], "action": "NOPE"})))
    with pytest.raises(ConfigError) as info:
        load_file(str(bad), CAPS, "x86_64", NEW)
    assert info.value.problems == [
        f'seccomp profile {bad}: syscalls[0].action: unknown action "NOPE"']
    with pytest.raises(ConfigError, match="not a regular file"):
        load_file(str(tmp_path), CAPS, "x86_64", NEW)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_file(str(fifo), CAPS, "x86_64", NEW)


@pytest.mark.skipif(not os.path.exists("/usr/share/containers/seccomp.json"),
                    reason="containers-common's profile is not installed")  # fmt: skip
def test_podmans_own_profile_loads() -> None:
    sec = load_file("/usr/share/containers/seccomp.json", CAPS, "x86_64", NEW)
    names = {n for rule in sec.syscalls or [] for n in rule.names or []}
    assert {"read", "execve", "arch_prctl"} <= names
    assert "s390_runtime_instr" not in names


@pytest.mark.parametrize(("release", "expected"), [
    ("6.1.0-18-amd64", (6, 1)), ("5.15.153.1-microsoft-standard-WSL2", (5, 15)),
    ("4.8", (4, 8)), ("6.18.44-fc-v669", (6, 18)), ("3.10.0-1160.el7.x86_64", (3, 10)),
    ("6", (6, 0)), ("6.9-rc1", (6, 9)),
])  # fmt: skip
def test_kernel_version(release: str, expected: tuple[int, int]) -> None:
    assert kernel_version(release) == expected


def test_host_arch() -> None:
    assert host_arch("amd64") == "x86_64"
    assert host_arch("arm64") == "aarch64"
    assert host_arch("aarch64") == "aarch64"
    assert host_arch() in ("x86_64", "aarch64", os.uname().machine)
    assert kernel_version() >= (3, 0)


# Found by fuzzing: a list or object where a name belongs raised TypeError
# (unhashable in a frozenset lookup); deep nesting raised RecursionError.
@pytest.mark.parametrize(("doc", "problem"), [
    ({"defaultAction": []}, 'defaultAction: unknown action []'),
    ({"defaultAction": {"a": 1}, "defaultErrnoRet": 1}, "defaultAction: unknown action"),
    (_doc({"names": ["read"], "action": ["SCMP_ACT_ALLOW"], "errnoRet": 1}),
     "syscalls[0].action: unknown action"),
    (_doc({"names": ["read"], "action": "SCMP_ACT_ALLOW",
           "args": [{"index": 0, "value": 1, "op": {}}]}),
     "syscalls[0].args[0].op: unknown operator {}"),
    (_doc(archMap=[{"architecture": ["SCMP_ARCH_X86_64"]}]),
     "archMap[0].architecture: unknown architecture"),
])  # fmt: skip
def test_non_string_names_are_problems_not_crashes(doc: dict[str, Any], problem: str) -> None:
    assert any(problem in p for p in _problems(doc))


def test_deep_or_huge_values_are_shown_short(tmp_path: Path) -> None:
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    assert "nested too deeply to show" in " ".join(_problems({"defaultAction": deep}))
    (problem,) = _problems(_doc(defaultAction="X" * 100_000))
    assert len(problem) < 120 and problem.endswith("...")
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_file(str(path), CAPS, "x86_64", NEW)
