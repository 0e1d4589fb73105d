"""Every validator check, each from a valid default spec with one field changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from launcher.errors import ConfigError
from launcher.spec import validate as v
from launcher.spec.defaults import default_spec
from launcher.spec.model import Spec

Mutation = Callable[[dict[str, Any]], object]


def _doc() -> dict[str, Any]:
    return default_spec(["sh"]).to_json()


def _ns(doc: dict[str, Any], *types: str) -> dict[str, Any]:
    doc["linux"]["namespaces"] = [{"type": t} for t in types]
    return doc


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A mutation setting ``a.b.0.c`` (list indexes as numbers) to ``value``."""

    def apply(doc: dict[str, Any]) -> dict[str, Any]:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        if value is _DELETE:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value
        return doc

    return apply


_DELETE = object()
USERNS_MAPS = {"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
               "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}  # fmt: skip


def _userns(doc: dict[str, Any]) -> dict[str, Any]:
    doc["linux"]["namespaces"].append({"type": "user"})
    doc["linux"].update(json.loads(json.dumps(USERNS_MAPS)))
    return doc


def _problems(mutate: Mutation) -> list[str]:
    doc = _doc()
    mutate(doc)
    return v.problems(Spec.from_json(doc))


GOOD: list[tuple[str, Mutation]] = [
    ("ociVersion 1.0.2-dev", _set("ociVersion", "1.0.2-dev")),
    ("ociVersion 1.2.1", _set("ociVersion", "1.2.1")),
    ("env value with =", _set("process.env", ["A=b=c", "EMPTY="])),
    ("oomScoreAdj -1000", _set("process.oomScoreAdj", -1000)),
    ("uid max", _set("process.user", {"uid": 2**32 - 1, "gid": 0, "additionalGids": [5]})),
    ("all capabilities", _set("process.capabilities.bounding", ["CAP_SYS_ADMIN", "CAP_BPF"])),
    ("two rlimits", _set("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 5, "hard": 5},
                                             {"type": "RLIMIT_CORE", "soft": 0, "hard": 9}])),
    ("scheduler fifo", _set("process.scheduler", {"policy": "SCHED_FIFO", "priority": 5})),
    ("scheduler deadline", _set("process.scheduler", {"policy": "SCHED_DEADLINE",
                                                      "runtime": 1, "deadline": 2, "period": 3})),
    ("ioPriority", _set("process.ioPriority", {"class": "IOPRIO_CLASS_IDLE", "priority": 7})),
    ("hook", _set("hooks", {"poststop": [{"path": "/bin/true", "timeout": 1}]})),
    ("no hostname without uts", lambda d: (_ns(d, "mount"), d.pop("hostname"))),
    ("user ns with mappings", _userns),
    ("joined user ns, no mappings",
     lambda d: d["linux"]["namespaces"].append({"type": "user", "path": "/proc/1/ns/user"})),
    ("time ns with offsets", lambda d: (_ns(d, "mount", "uts", "time"),
                                        _set("linux.timeOffsets", {"boottime": {"secs": 1}})(d))),
    ("ipc sysctl", _set("linux.sysctl", {"kernel.shmmax": "1", "fs.mqueue.msg_max": "9"})),
    ("net sysctl, new netns", _set("linux.sysctl", {"net.ipv4.ip_forward": "1"})),
    ("net sysctl, slash form", _set("linux.sysctl", {"net/ipv4/conf/eth0.100/rp_filter": "1"})),
    ("domainname sysctl", _set("linux.sysctl", {"kernel.domainname": "x"})),
    ("propagation rslave", _set("linux.rootfsPropagation", "rslave")),
    ("device fifo without numbers", _set("linux.devices", [{"path": "/dev/f", "type": "p"}])),
    ("char device", _set("linux.devices", [{"path": "/dev/fuse", "type": "c", "major": 10,
                                            "minor": 229, "fileMode": 0o666, "uid": 0}])),
    ("swap unlimited", _set("linux.resources.memory", {"limit": 100, "swap": -1})),
    ("swap equal", _set("linux.resources.memory", {"limit": 100, "swap": 100})),
    ("quota without period", _set("linux.resources.cpu", {"quota": 50000})),
    ("quota unlimited", _set("linux.resources.cpu", {"quota": -1, "shares": 2})),
    ("cpuset", _set("linux.resources.cpu", {"cpus": "0-3,5", "mems": "0"})),
    ("device rule", _set("linux.resources.devices", [{"allow": True, "type": "c", "major": 1,
                                                      "minor": 3, "access": "rw"}])),
    ("seccomp", _set("linux.seccomp", {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]})),
    ("personality", _set("linux.personality", {"domain": "LINUX32"})),
    ("cgroupsPath", _set("linux.cgroupsPath", "/launcher/abc")),
    ("mount idmap", _set("mounts.0.uidMappings", [{"containerID": 0, "hostID": 1, "size": 5}])),
]  # fmt: skip

BAD: list[tuple[Mutation, str]] = [
    (_set("ociVersion", _DELETE), "ociVersion: required"),
    (_set("ociVersion", "2.0.0"), "ociVersion: unsupported version '2.0.0'"),
    (_set("ociVersion", "1.x"), "unsupported version"),
    (_set("root", _DELETE), "root.path: required"),
    (_set("root.path", ""), "root.path: required"),
    (_set("process.args", []), "process.args: at least one argument"),
    (_set("process.args", _DELETE), "process.args: at least one argument"),
    (_set("process.cwd", _DELETE), "process.cwd: required"),
    (_set("process.cwd", "tmp"), "process.cwd: must be an absolute path, got 'tmp'"),
    (_set("process.env", ["PATH=/bin", "NOEQUALS"]), "process.env[1]: 'NOEQUALS' is not KEY=VALUE"),
    (_set("process.env", ["=x"]), "process.env[0]"),
    (_set("process.env", ["A=\0"]), "process.env[0]"),
    (_set("process.oomScoreAdj", 1001), "process.oomScoreAdj: 1001 is outside -1000..1000"),
    (_set("process.oomScoreAdj", -1001), "process.oomScoreAdj"),
    (_set("process.user.uid", -1), "process.user.uid: -1 is not an unsigned 32-bit id"),
    (_set("process.user.gid", 2**32), "process.user.gid"),
    (_set("process.user.additionalGids", [1, -5]), "process.user.additionalGids[1]"),
    (_set("process.user.umask", 0o17777), "process.user.umask"),
    (_set("process.capabilities.ambient", ["CAP_FOO"]),
     "process.capabilities.ambient: unknown capability 'CAP_FOO'"),
    (_set("process.capabilities.bounding", ["kill"]), "unknown capability 'kill'"),
    (_set("process.rlimits.0.type", "NOFILE"), "process.rlimits[0].type: unknown rlimit 'NOFILE'"),
    (_set("process.rlimits.0.type", "RLIMIT_BOGUS"), "unknown rlimit 'RLIMIT_BOGUS'"),
    (_set("process.rlimits", [{"type": "RLIMIT_CORE", "soft": 1, "hard": 1}] * 2),
     "process.rlimits[1].type: duplicate rlimit RLIMIT_CORE"),
    (_set("process.rlimits.0.soft", 2048), "soft limit 2048 is above the hard limit 1024"),
    (_set("process.rlimits.0.hard", _DELETE), "process.rlimits[0]: soft and hard are required"),
    (_set("process.rlimits.0.hard", -1), "unsigned 64-bit"),
    (_set("process.scheduler", {"policy": "SCHED_FAST"}), "process.scheduler.policy"),
    (_set("process.scheduler", {"policy": "SCHED_OTHER", "nice": 20}), "process.scheduler.nice"),
    (_set("process.scheduler", {"policy": "SCHED_OTHER", "priority": 3}), "only for SCHED_FIFO"),
    (_set("process.scheduler", {"policy": "SCHED_RR", "period": 3}), "only for SCHED_DEADLINE"),
    (_set("process.ioPriority", {"class": "BE", "priority": 1}), "process.ioPriority.class"),
    (_set("process.ioPriority", {"class": "IOPRIO_CLASS_BE", "priority": 8}),
     "process.ioPriority.priority"),
    (_set("mounts.2.destination", "dev/pts"),
     "mounts[2].destination: must be an absolute path, got 'dev/pts'"),
    (_set("mounts.0.destination", _DELETE), "mounts[0].destination"),
    (_set("mounts.0.gidMappings", [{"containerID": 0, "hostID": 1, "size": 0}]),
     "mounts[0].gidMappings[0].size: must be greater than 0"),
    (_set("hooks", {"prestart": [{"path": "hook"}]}),
     "hooks.prestart[0].path: must be an absolute path, got 'hook'"),
    (_set("hooks", {"createRuntime": [{}]}), "hooks.createRuntime[0].path"),
    (_set("hooks", {"poststop": [{"path": "/h", "timeout": 0}]}), "hooks.poststop[0].timeout"),
    (lambda d: _ns(d, "pid", "net", "uts", "mount"),
     "linux.namespaces[1].type: unknown namespace type 'net'"),
    (lambda d: _ns(d, "pid", "uts", "mount", "pid"),
     "linux.namespaces[3].type: duplicate namespace 'pid'"),
    (_set("linux.namespaces.0.path", "proc/1/ns/pid"), "linux.namespaces[0].path"),
    (lambda d: d["linux"]["namespaces"].append({"type": "user"}),
     "a new user namespace needs both mappings"),
    (lambda d: (_userns(d), d["linux"].pop("gidMappings")), "needs both mappings"),
    (lambda d: d["linux"].update(USERNS_MAPS),
     "linux.uidMappings/gidMappings: need a user namespace"),
    (lambda d: (d["linux"].update(USERNS_MAPS),
                d["linux"]["namespaces"].append({"type": "user", "path": "/proc/1/ns/user"})),
     "not allowed when joining a user namespace"),
    (lambda d: (_userns(d), _set("linux.uidMappings.0.size", 0)(d)),
     "linux.uidMappings[0].size: must be greater than 0"),
    (lambda d: (_userns(d), _set("linux.gidMappings.0.hostID", 2**32)(d)),
     "linux.gidMappings[0]: ids and size must be unsigned 32-bit values"),
    (lambda d: (_userns(d), _set("linux.uidMappings.0", {"containerID": 0, "hostID": 2**32 - 1,
                                                         "size": 2})(d)), "range runs past"),
    (lambda d: (_userns(d), _set("linux.uidMappings.0", {"containerID": 0})(d)),
     "containerID, hostID and size are required"),
    (lambda d: _ns(d, "pid", "mount"), "hostname: setting it needs its own UTS namespace"),
    (lambda d: (_ns(d, "mount"), d.update(hostname="", domainname="x")), "domainname: setting"),
    (_set("hostname", "a/b"), "hostname: 'a/b' is not a valid name"),
    (_set("hostname", "x" * 65), "is not a valid name"),
    (lambda d: (_ns(d, "mount"), _set("linux.sysctl", {"kernel.msgmax": "1"})(d)),
     "linux.sysctl['kernel.msgmax']: needs an IPC namespace"),
    (lambda d: (_ns(d, "mount", "uts"), _set("linux.sysctl", {"fs.mqueue.queues_max": "1"})(d)),
     "needs an IPC namespace"),
    (lambda d: (_ns(d, "mount", "uts"), _set("linux.sysctl", {"net.core.somaxconn": "1"})(d)),
     "linux.sysctl['net.core.somaxconn']: needs a network namespace"),
    (lambda d: (d["linux"]["namespaces"].__setitem__(1, {"type": "network",
                                                         "path": "/proc/self/ns/net"}),
                _set("linux.sysctl", {"net.ipv4.ip_forward": "1"})(d)),
     "not allowed in the host's network namespace"),
    (lambda d: (d["linux"]["namespaces"].__setitem__(1, {"type": "network",
                                                         "path": "/nonexistent/netns"}),
                _set("linux.sysctl", {"net.ipv4.ip_forward": "1"})(d)),
     "cannot check network namespace /nonexistent/netns"),
    (_set("linux.sysctl", {"kernel.hostname": "x"}), "set the hostname field instead"),
    (lambda d: (_ns(d, "mount"), d.pop("hostname"), _set("linux.sysctl",
                                                         {"kernel.domainname": "x"})(d)),
     "linux.sysctl['kernel.domainname']: needs a UTS namespace"),
    (_set("linux.sysctl", {"vm.swappiness": "1"}), "not isolated by any namespace"),
    (_set("linux.sysctl", {"kernel.pid_max": "1"}), "not isolated by any namespace"),
    (_set("linux.maskedPaths", ["proc/kcore"]), "linux.maskedPaths[0]: must be an absolute path"),
    (_set("linux.readonlyPaths", ["/proc/sys", ""]), "linux.readonlyPaths[1]"),
    (lambda d: (_ns(d, "pid", "uts")), "linux.maskedPaths: needs a mount namespace"),
    (_set("linux.rootfsPropagation", "recursive"), "linux.rootfsPropagation: unknown propagation"),
    (_set("linux.cgroupsPath", "/launcher/../../x"), "linux.cgroupsPath: must not contain '..'"),
    (_set("linux.timeOffsets", {"monotonic": {"secs": 1}}), "needs a new time namespace"),
    (lambda d: (_ns(d, "mount", "uts", "time"),
                _set("linux.timeOffsets", {"realtime": {"secs": 1}})(d)),
     "linux.timeOffsets: unknown clock 'realtime'"),
    (_set("linux.personality", {"domain": "BSD"}), "linux.personality.domain"),
    (_set("linux.devices", [{"path": "/dev/x", "type": "x"}]), "linux.devices[0].type"),
    (_set("linux.devices", [{"path": "dev/x", "type": "p"}]), "linux.devices[0].path"),
    (_set("linux.devices", [{"path": "/dev/x", "type": "c", "major": 1}]),
     "major and minor are required for type c"),
    (_set("linux.devices", [{"path": "/dev/x", "type": "p", "fileMode": 0o10000}]), "fileMode"),
    (_set("linux.devices", [{"path": "/dev/x", "type": "p", "gid": -1}]), "linux.devices[0].gid"),
    (_set("linux.resources.devices", [{"access": "rwm"}]), "linux.resources.devices[0].allow"),
    (_set("linux.resources.devices", [{"allow": False, "type": "x"}]), "must be a, c or b"),
    (_set("linux.resources.devices", [{"allow": False, "access": "rwx"}]),
     "linux.resources.devices[0].access: only r, w and m are allowed, got 'rwx'"),
    (_set("linux.resources.devices", [{"allow": False, "access": ""}]), "only r, w and m"),
    (_set("linux.resources.memory", {"limit": 200, "swap": 100}),
     "linux.resources.memory.swap: must be at least memory.limit"),
    (_set("linux.resources.memory", {"limit": -1, "swap": 100}), "must be at least memory.limit"),
    (_set("linux.resources.memory", {"limit": -2}), "linux.resources.memory.limit: -2"),
    (_set("linux.resources.memory", {"swappiness": 101}), "swappiness"),
    (_set("linux.resources.cpu", {"shares": 1}), "linux.resources.cpu.shares: 1 is outside"),
    (_set("linux.resources.cpu", {"quota": 999}), "linux.resources.cpu.quota"),
    (_set("linux.resources.cpu", {"period": 999}), "linux.resources.cpu.period"),
    (_set("linux.resources.cpu", {"cpus": "0-3;5"}), "linux.resources.cpu.cpus"),
    (_set("linux.seccomp", {"defaultAction": "ALLOW"}), "linux.seccomp.defaultAction"),
    (_set("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": [], "action": "SCMP_ACT_KILL"}]}), "linux.seccomp.syscalls[0].names"),
    (_set("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["x"], "action": "KILL"}]}), "linux.seccomp.syscalls[0].action"),
    (_set("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["x"], "action": "SCMP_ACT_KILL",
         "args": [{"index": 6, "value": 0, "op": "EQ"}]}]}), "linux.seccomp.syscalls[0].args[0]"),
]  # fmt: skip


def test_defaults_are_valid() -> None:
    assert v.problems(default_spec()) == []
    assert v.problems(default_spec(["a", "b"], terminal=True)) == []


@pytest.mark.parametrize("name", ["runc-spec.json", "crun-spec.json"])
def test_runtime_generated_specs_are_valid(name: str, spec_data: Callable[[str], Any]) -> None:
    assert v.problems(Spec.from_json(spec_data(name))) == []


@pytest.mark.parametrize(("label", "mutate"), GOOD, ids=[g[0] for g in GOOD])
def test_accepts(label: str, mutate: Mutation) -> None:
    assert _problems(mutate) == []


@pytest.mark.parametrize(("mutate", "expected"), BAD, ids=[b[1][:50] for b in BAD])
def test_rejects(mutate: Mutation, expected: str) -> None:
    found = _problems(mutate)
    assert any(expected in p for p in found), found


def test_every_check_rejects_something_above() -> None:
    idle = []
    for check in v.CHECKS:
        hits = 0
        for mutate, _expected in BAD:
            doc = _doc()
            mutate(doc)
            spec = Spec.from_json(doc)
            hits += bool(list(check(spec, v.Context(spec))))
        if not hits:
            idle.append(check.__name__)
    assert idle == []


def test_root_must_be_a_directory_in_the_bundle(tmp_path: Path) -> None:
    spec = default_spec()
    assert any("root.path" in p and "not a directory" in p for p in v.problems(spec, str(tmp_path)))
    (tmp_path / "rootfs").mkdir()
    assert v.problems(spec, str(tmp_path)) == []
    spec.root.path = str(tmp_path / "rootfs")  # type: ignore[union-attr]
    assert v.problems(spec, "/nonexistent") == []  # an absolute root ignores the bundle
    (tmp_path / "file").write_text("")
    spec.root.path = "file"  # type: ignore[union-attr]
    assert v.problems(spec, str(tmp_path)) != []


def test_all_problems_are_reported_together() -> None:
    doc = _doc()
    doc["process"]["cwd"] = "rel"
    doc["linux"]["sysctl"] = {"vm.overcommit_memory": "1"}
    doc["mounts"][0]["destination"] = "proc"
    with pytest.raises(ConfigError) as info:
        v.validate(Spec.from_json(doc))
    assert len(info.value.problems) == 3
    assert "process.cwd" in str(info.value)


def test_validate_passes_silently() -> None:
    v.validate(default_spec())


def test_empty_spec_does_not_crash() -> None:
    found = v.problems(Spec())
    assert "ociVersion: required" in found and "root.path: required" in found


def test_process_may_be_absent_and_a_joined_uts_namespace_allows_a_hostname() -> None:
    """runtime-spec: create without a process is valid (start then fails); a
    hostname needs a UTS namespace of the container's own, new or joined."""
    spec = Spec.from_json({"ociVersion": "1.2.0", "root": {"path": "rootfs"},
                           "hostname": "h", "linux": {"namespaces": [
                               {"type": "uts", "path": "/proc/1/ns/uts"}]}})
    assert v.problems(spec) == []


def test_nul_in_a_joined_netns_path_is_a_problem_not_a_crash() -> None:
    """Found by fuzzing: os.stat on the path raised ValueError out of check_sysctl."""
    doc = _doc()
    doc["linux"]["namespaces"] = [{"type": "mount"}, {"type": "network", "path": "/run/a\0b"}]
    doc["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    found = v.problems(Spec.from_json(doc))
    assert "linux.namespaces[1].path: must be an absolute path, got '/run/a\\x00b'" in found
    assert any("sysctl" in p and "is not a valid path" in p for p in found), found


@pytest.mark.parametrize("path", ["process.cwd", "mounts.0.destination", "linux.maskedPaths.0",
                                  "linux.devices.0.path"])  # fmt: skip
def test_nul_in_a_path_is_a_problem(path: str) -> None:
    doc = _doc()
    doc["linux"].setdefault("devices", [{"type": "p", "path": "/dev/f"}])
    _set(path, "/a\0b")(doc)
    assert any("must be an absolute path" in p for p in v.problems(Spec.from_json(doc)))
