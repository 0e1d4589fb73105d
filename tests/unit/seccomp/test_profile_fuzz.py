"""Property-based fuzzing of the Docker seccomp profile parser (issue 7).

Arbitrary JSON (keys mostly the profile format's own) and mutations of a valid
profile go through :func:`from_docker` and :func:`load_file`. Properties: a
``Seccomp`` or the project's own error with a message, never TypeError and
friends; an accepted profile passes the runtime config validator's seccomp
check and round-trips through the OCI model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from launcher import fastjson
from launcher.errors import ConfigError
from launcher.seccomp.profile import from_docker, load_file
from launcher.spec import validate
from launcher.spec.model import Linux, Seccomp, Spec

from ..fuzz import fuzz_settings, json_values, mutated

KEYS = ["defaultAction", "defaultErrnoRet", "defaultErrno", "architectures", "archMap",
        "syscalls", "flags", "listenerPath", "listenerMetadata", "comment", "names", "name",
        "action", "errnoRet", "errno", "args", "includes", "excludes", "index", "value",
        "valueTwo", "op", "caps", "arches", "minKernel", "architecture",
        "subArchitectures"]  # fmt: skip
PROFILE: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 38,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                 "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
    "syscalls": [
        {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
         "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390x"]}},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW",
         "includes": {"arches": ["amd64", "x32"], "minKernel": "4.8"}},
        {"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
    ],
}  # fmt: skip
CAP_NAMES = ["CAP_SYS_ADMIN", "CAP_CHOWN", "sys_admin", " kill ", "", "BOGUS", "cap_bpf"]
targets = st.tuples(
    st.lists(st.sampled_from(CAP_NAMES), max_size=3),
    st.sampled_from(["x86_64", "aarch64"]),
    st.tuples(st.integers(0, 7), st.integers(0, 30)),
)


def check(doc: Any, target: tuple[list[str], str, tuple[int, int]]) -> None:
    caps, arch, kernel = target
    try:
        sec = from_docker(doc, caps, arch, kernel)
    except ConfigError as exc:
        assert exc.problems and all(type(p) is str and p for p in exc.problems)
        event("refused")
        return
    event("accepted")
    spec = Spec(linux=Linux(seccomp=sec))
    ctx = validate.Context(spec)
    assert list(validate.check_seccomp(spec, ctx)) == []
    again = Seccomp.from_json(fastjson.loads(fastjson.dumps(sec.to_json())))
    assert again == sec


@fuzz_settings(300)
@given(doc=json_values(KEYS) | st.dictionaries(st.sampled_from(KEYS), json_values(KEYS)),
       target=targets)  # fmt: skip
def test_profile_from_arbitrary_json(doc: Any, target: Any) -> None:
    check(doc, target)


@fuzz_settings(300)
@given(doc=mutated(PROFILE, KEYS), target=targets)
def test_profile_from_mutated_profile(doc: Any, target: Any) -> None:
    check(doc, target)


@fuzz_settings(100)
@given(data=st.binary(max_size=64)
       | json_values(KEYS).map(lambda v: fastjson.dumps(v).encode())
       | st.integers(1, 50_000).map(lambda n: b"[" * n + b"]" * n))  # fmt: skip
def test_load_file_on_any_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "profile.json"
    path.write_bytes(data)
    try:
        load_file(str(path), ["CAP_KILL"], "x86_64", (6, 1))
    except ConfigError as exc:
        assert str(path) in str(exc)
