"""Shared test wiring: marker-driven skips, a private launcher root per test, leak checks.

Markers (registered in pyproject.toml):

* ``root`` -- needs euid 0 on Linux (namespaces, mounts, cgroups); skipped elsewhere.
  Every test under ``tests/integration/`` gets it automatically.
* ``vm`` -- boots a virtual machine: runs as root on Linux where QEMU is installed
  (scripts/setup.sh installs it), or wherever ``LAUNCHER_TEST_VM=1``;
  ``LAUNCHER_TEST_VM=0`` leaves it out.
* ``slow`` -- runs by default; leave such tests out with ``-m "not slow"``.

Fixtures:

* ``launcher_root`` -- a fresh, empty ``--root`` directory (also exported as
  ``LAUNCHER_ROOT``, so nothing a test starts touches /var/lib/launcher).
* ``no_leaks`` -- opt-in: fails the test if it left host state behind (see below).

At the end of a root session, launcher cgroups that appeared and remain are listed.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

CGROUP_ROOT = "/sys/fs/cgroup"
NETNS_DIR = "/run/netns"
NET_CLASS = "/sys/class/net"
# How deep to look for launcher cgroups: v1 puts them under a controller
# (/sys/fs/cgroup/memory/launcher/<id>), systemd under a slice.
_CGROUP_WALK_DEPTH = 6


def _is_root_on_linux() -> bool:
    return sys.platform.startswith("linux") and os.geteuid() == 0


# Unit tests of code that only ever runs on a Linux kernel (the native backend,
# its seccomp compiler, network plumbing, image store, launcher-runtime and the
# guest image recipe): through fakes, but with Linux's os constants and modules,
# so they run on Linux hosts only. The rest of tests/unit runs on macOS and
# Windows too (and simulated on Linux: tests/unit/portable/run_simulated.py).
LINUX_ONLY_UNIT_DIRS = ("backend/linux", "seccomp", "network", "runtime", "image", "provision",
                        "test_copyops.py", "test_fsutil.py", "test_mountinfo.py",
                        "test_locks.py", "test_host_layout.py", "test_paths_runtime.py",
                        "registry", "cli/test_exec_user.py")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Off Linux, the Linux-only unit tests are not even imported (their modules
    use Linux's os constants at import time)."""
    if sys.platform.startswith("linux"):
        return None
    unit = Path(__file__).parent / "unit"
    return True if any(collection_path.is_relative_to(unit / d)
                       for d in LINUX_ONLY_UNIT_DIRS) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    integration = Path(__file__).parent / "integration"
    skip_root = pytest.mark.skip(reason="needs root on Linux (run as root to include it)")
    skip_vm = pytest.mark.skip(reason="boots a VM: needs QEMU and root, or LAUNCHER_TEST_VM=1")
    is_root = _is_root_on_linux()
    want_vm = _want_vm(is_root)
    for item in items:
        vm_off_linux = item.get_closest_marker("vm") is not None \
            and not sys.platform.startswith("linux")  # QEMU is all a VM test needs there
        if item.path.is_relative_to(integration) and item.get_closest_marker("root") is None \
                and not vm_off_linux:
            item.add_marker(pytest.mark.root)
        if item.get_closest_marker("root") is not None and not is_root:
            item.add_marker(skip_root)
        if item.get_closest_marker("vm") is not None and not want_vm:
            item.add_marker(skip_vm)


def _want_vm(is_root: bool) -> bool:
    import shutil

    flag = os.environ.get("LAUNCHER_TEST_VM", "")
    if flag in ("0", "1"):
        return flag == "1"
    import platform

    machine = {"arm64": "aarch64", "amd64": "x86_64"}.get(platform.machine().lower(),
                                                           platform.machine().lower())
    return is_root and shutil.which(f"qemu-system-{machine}") is not None


_session_cgroups: set[str] = set()


def pytest_sessionstart(session: pytest.Session) -> None:
    if _is_root_on_linux():
        _session_cgroups.update(_launcher_cgroups())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Session-wide net for tests that don't use ``no_leaks``: report, don't fail,
    since another session on the same host may own a new cgroup."""
    if not _is_root_on_linux():
        return
    left = sorted(_launcher_cgroups() - _session_cgroups)
    if left:
        terminalreporter.section("launcher cgroups created during this session and still present")
        for path in left:
            terminalreporter.line(path)


@pytest.fixture
def launcher_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh launcher ``--root`` for one test; its runtime state lives beside it.

    On teardown, mounts still under the test's directory are detached (with a
    warning) so one leaking test can't break the cleanup of the others.
    """
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    monkeypatch.setenv("LAUNCHER_ROOT", str(root))
    monkeypatch.setenv("LAUNCHER_RUNTIME_ROOT", str(tmp_path / "runtime-root"))
    yield root
    if _is_root_on_linux():
        left = _mounts_under(tmp_path)
        if left:
            _detach(left)
            warnings.warn(f"detached mounts left under {tmp_path}: {left}", stacklevel=1)
        _release_networks(root)


def _release_networks(root: Path) -> None:
    """The host side of the root's bridge networks, which outlive the directory:
    its gateway address on a shared bridge (every root's default network is on
    launcher0, each in its own subnet), and bridges of its own."""
    import json
    import subprocess

    for path in (root / "storage" / "networks").glob("*.json"):
        try:
            net = json.loads(path.read_text())
            bridge, gateway, prefix = net["bridge"], net["gateway"], net["subnet"].split("/")[1]
        except (OSError, ValueError, KeyError, IndexError, AttributeError):
            continue
        if not (isinstance(bridge, str) and bridge and os.path.exists(f"{NET_CLASS}/{bridge}")):
            continue
        subprocess.run(["ip", "addr", "del", f"{gateway}/{prefix}", "dev", bridge],
                       capture_output=True, check=False)
        if bridge != "launcher0":
            subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)


class HostSnapshot:
    """Host state a container run may leave behind, seen from the test process."""

    __slots__ = ("cgroups", "links", "mounts", "netns")

    def __init__(self, base: Path) -> None:
        self.cgroups = _launcher_cgroups()
        self.mounts = set(_mounts_under(base))
        self.netns = set(_listdir(NETNS_DIR))
        self.links = set(_listdir(NET_CLASS))

    def new_since(self, before: HostSnapshot) -> list[str]:
        """Describe what exists now but did not in ``before``."""
        problems = []
        for what, now, then in (
            ("cgroup", self.cgroups, before.cgroups),
            ("mount", self.mounts, before.mounts),
            ("network namespace", self.netns, before.netns),
            ("network interface", self.links, before.links),
        ):
            problems += [f"{what} {name}" for name in sorted(now - then)]
        return problems


@pytest.fixture
def no_leaks(launcher_root: Path) -> Iterator[None]:
    """Fail the test if it leaves launcher cgroups, mounts, netns or interfaces.

    Compares the host before and after the test: cgroup directories with a path
    component starting ``launcher`` (v1 and v2), mounts under the test's
    directory (from /proc/self/mountinfo), /run/netns entries and host network
    interfaces. Root on Linux only; elsewhere it checks nothing. Cgroups, netns
    and interfaces are host-wide, so run root suites one at a time per host.
    Only mounts, which are this test's own, are cleaned up here.
    """
    if not _is_root_on_linux():
        yield
        return
    base = launcher_root.parent
    before = HostSnapshot(base)
    yield
    problems = HostSnapshot(base).new_since(before)
    if problems:
        _detach(_mounts_under(base))
        pytest.fail("test left host state behind:\n  " + "\n  ".join(problems), pytrace=False)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _launcher_cgroups() -> set[str]:
    found: set[str] = set()
    root_depth = CGROUP_ROOT.count("/")
    for top, dirs, _files in os.walk(CGROUP_ROOT):
        rel = os.path.relpath(top, CGROUP_ROOT)
        if any(part.startswith("launcher") for part in rel.split("/")):
            found.add(top)
        if top.count("/") - root_depth >= _CGROUP_WALK_DEPTH:
            dirs.clear()
    return found


def _unescape_mountinfo(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as \ooo octal escapes.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _mounts_under(base: Path) -> list[str]:
    """Mount points at or below ``base``, deepest first (the order to detach them)."""
    prefix = str(base).rstrip("/")
    found = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.readlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split(" ")
        if len(fields) < 5:
            continue
        point = _unescape_mountinfo(fields[4])
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return sorted(found, key=lambda p: p.count("/"), reverse=True)


def _detach(points: list[str]) -> None:
    """Lazily unmount each point (MNT_DETACH), ignoring ones already gone."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    mnt_detach = 2
    for point in points:
        libc.umount2(os.fsencode(point), mnt_detach)
