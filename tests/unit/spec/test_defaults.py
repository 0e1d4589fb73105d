from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from launcher.spec.caps import PODMAN_DEFAULT_CAPS
from launcher.spec.defaults import DEFAULT_PATH, default_spec
from launcher.spec.model import Spec


def test_matches_runc_spec_where_not_hardened(spec_data: Callable[[str], Any]) -> None:
    ours = default_spec(["sh"], terminal=True).to_json()
    runc = spec_data("runc-spec.json")
    assert ours["process"]["args"] == runc["process"]["args"]
    assert ours["process"]["env"] == runc["process"]["env"]
    assert ours["process"]["user"] == runc["process"]["user"]
    assert ours["process"]["cwd"] == runc["process"]["cwd"]
    assert ours["process"]["rlimits"] == runc["process"]["rlimits"]
    assert ours["process"]["noNewPrivileges"] is True
    assert ours["root"] == runc["root"]
    assert ours["mounts"][1:] == runc["mounts"][1:]
    assert ours["mounts"][0] == {**runc["mounts"][0], "options": ["nosuid", "noexec", "nodev"]}
    assert ours["linux"]["resources"] == runc["linux"]["resources"]
    assert ours["linux"]["readonlyPaths"] == runc["linux"]["readonlyPaths"]
    assert set(runc["linux"]["maskedPaths"]) < set(ours["linux"]["maskedPaths"])


def test_hardened_defaults() -> None:
    spec = default_spec()
    p = spec.process
    assert p is not None and p.capabilities is not None
    assert p.capabilities.bounding == list(PODMAN_DEFAULT_CAPS)
    assert p.capabilities.effective == p.capabilities.permitted == list(PODMAN_DEFAULT_CAPS)
    assert p.capabilities.inheritable == [] and p.capabilities.ambient == []
    assert p.no_new_privileges is True
    assert p.terminal is False and p.env == [DEFAULT_PATH]
    linux = spec.linux
    assert linux is not None and linux.namespaces is not None
    assert [ns.type for ns in linux.namespaces] == ["pid", "network", "ipc", "uts", "mount",
                                                    "cgroup"]  # fmt: skip
    assert linux.masked_paths == [
        "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
        "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
        "/proc/timer_stats", "/sys/firmware", "/sys/devices/virtual/powercap",
    ]  # fmt: skip
    assert linux.readonly_paths == ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                    "/proc/sysrq-trigger"]  # fmt: skip
    mounts = {m.destination: m for m in spec.mounts or []}
    assert set(mounts) == {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys",
                           "/sys/fs/cgroup"}  # fmt: skip
    assert {"nosuid", "noexec", "nodev"} <= set(mounts["/proc"].options or [])
    assert {"nosuid", "strictatime", "mode=755", "size=65536k"} <= set(mounts["/dev"].options or [])
    assert {"newinstance", "ptmxmode=0666", "mode=0620", "gid=5"} <= set(
        mounts["/dev/pts"].options or []
    )
    assert "ro" in (mounts["/sys"].options or [])
    assert "ro" in (mounts["/sys/fs/cgroup"].options or [])
    assert mounts["/sys/fs/cgroup"].type == "cgroup"


def test_fresh_objects_each_call() -> None:
    a, b = default_spec(), default_spec()
    assert a == b
    assert a.process is not None and a.process.capabilities is not None
    a.process.capabilities.bounding.append("CAP_SYS_ADMIN")  # type: ignore[union-attr]
    assert a != b and default_spec() == b


def test_args_and_terminal() -> None:
    spec = default_spec(("echo", "hi"), terminal=True)
    assert spec.process is not None
    assert spec.process.args == ["echo", "hi"] and spec.process.terminal is True
    assert spec.process.env == [DEFAULT_PATH, "TERM=xterm"]


@pytest.mark.parametrize("terminal", [False, True])
def test_matches_the_official_schema(
    terminal: bool, schema_validate: Callable[[str, Any], list[str]]
) -> None:
    assert schema_validate("config-schema.json", default_spec(terminal=terminal).to_json()) == []


@pytest.mark.parametrize("name", ["runc-spec.json", "crun-spec.json"])
def test_schema_fixture_sanity(
    name: str, spec_data: Callable[[str], Any], schema_validate: Callable[[str, Any], list[str]]
) -> None:
    """The schema check itself works: runtimes' output passes, a broken doc fails."""
    obj = Spec.from_json(spec_data(name)).to_json()
    assert schema_validate("config-schema.json", obj) == []
    obj["linux"]["namespaces"][0]["type"] = "bogus"
    del obj["ociVersion"]
    assert len(schema_validate("config-schema.json", obj)) == 2
