"""cgroupsPath handling: normalising, '..', relative paths, systemd names."""

from __future__ import annotations

import pytest

from launcher.backend.linux.cgroups import cgroup_of_self, open_manager, systemd_to_path
from launcher.backend.linux.cgroups.paths import normalise_path, parse_proc_cgroup, resolve
from launcher.errors import ConfigError, RuntimeFailure, UnsupportedError


@pytest.mark.parametrize(("given", "out"), [
    ("/launcher/abc", "/launcher/abc"),
    ("//launcher//abc/", "/launcher/abc"),
    ("/launcher/./abc", "/launcher/abc"),
    ("launcher/abc", "launcher/abc"),
])  # fmt: skip
def test_normalise_path(given: str, out: str) -> None:
    assert normalise_path(given) == out


@pytest.mark.parametrize(
    "bad", ["/launcher/../etc", "..", "a/..", "/../x", "/", "", "a\0b", "a\nb"]
)
def test_normalise_path_rejects(bad: str) -> None:
    with pytest.raises(ConfigError):
        normalise_path(bad)


def test_open_manager_rejects_dotdot_before_touching_anything() -> None:
    with pytest.raises(ConfigError, match=r"\.\."):
        open_manager("/launcher/../../x", layout="v2", root="/nonexistent")


def test_open_manager_unknown_layout() -> None:
    with pytest.raises(UnsupportedError, match="none"):
        open_manager("/launcher/x", layout="none", root="/nonexistent")


def test_resolve_absolute_ignores_own_cgroup() -> None:
    assert resolve("/launcher/abc", "/user.slice/x") == "launcher/abc"


def test_resolve_relative_goes_below_own_cgroup() -> None:
    assert resolve("launcher/abc", "/user.slice/x") == "user.slice/x/launcher/abc"
    assert resolve("launcher/abc", "/") == "launcher/abc"
    assert resolve("launcher/abc", None) == "launcher/abc"


def test_parse_proc_cgroup_v1_v2_and_named() -> None:
    text = "9:name=systemd:/user.slice\n2:cpu,cpuacct:/a\n4:memory:/m/x\n0::/init.scope\n"
    assert parse_proc_cgroup(text) == {
        "name=systemd": "/user.slice",
        "cpu": "/a",
        "cpuacct": "/a",
        "memory": "/m/x",
        "": "/init.scope",
    }


def test_cgroup_of_self_reads_proc() -> None:
    own = cgroup_of_self()
    assert own and all(v.startswith("/") for v in own.values())


@pytest.mark.parametrize(("given", "out"), [
    ("machine.slice:libpod:abc", "/machine.slice/libpod-abc.scope"),
    ("user-1000.slice:runc:x", "/user.slice/user-1000.slice/runc-x.scope"),
    ("a-b-c.slice:p:n", "/a.slice/a-b.slice/a-b-c.slice/p-n.scope"),
    (":runc:x", "/system.slice/runc-x.scope"),
    ("-.slice:runc:x", "/runc-x.scope"),
    ("machine.slice::x", "/machine.slice/x.scope"),
    ("machine.slice:ignored:sub.slice", "/machine.slice/sub.slice"),
])  # fmt: skip
def test_systemd_to_path(given: str, out: str) -> None:
    assert systemd_to_path(given) == out


@pytest.mark.parametrize(
    "bad",
    [
        "machine.slice:x",
        "a:b:c:d",
        "machine.slice:p:",
        "nope:p:n",
        "a--b.slice:p:n",
        "-a.slice:p:n",
        "a/b.slice:p:n",
        "machine.slice:p:a/b",
        "machine.slice:p:..",
    ],
)
def test_systemd_to_path_rejects(bad: str) -> None:
    with pytest.raises(ConfigError):
        systemd_to_path(bad)


def test_resolve_refuses_own_cgroup_outside_the_namespace() -> None:
    with pytest.raises(RuntimeFailure, match="outside"):
        resolve("launcher/abc", "/../../x")
