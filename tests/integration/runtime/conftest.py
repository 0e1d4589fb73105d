"""Fixtures for ``launcher-runtime`` against the real kernel, in the style of crun's tests.

A test takes ``bundle`` (a busybox rootfs plus ``default_spec()`` as a plain dict in
``bundle.config``), changes one field, runs a probe with ``bundle.probe("sh script")``
and asserts on what the probe printed::

    def test_hostname(bundle):
        bundle.config["hostname"] = "foomachine"
        assert bundle.probe("hostname") == "foomachine\\n"

``rt`` is the runtime with a private ``--root``; every id it hands out
(``rt.new_id()``) is force-deleted after the test, and then the test fails if
anything is left: a cgroup directory for one of its ids (or a cgroupsPath it
registered) in any /sys/fs/cgroup hierarchy, a mount under the test's tmp dir
(host view, /proc/self/mountinfo), or an entry under the ``--root`` dir.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from launcher.spec.defaults import default_spec

BUSYBOX = "/bin/busybox"
CGROUP_ROOT = "/sys/fs/cgroup"
# The busybox applets the probes use; ``ulimit`` and ``umask`` are sh builtins.
APPLETS = (
    "sh", "cat", "id", "hostname", "grep", "ls", "sleep", "true", "false", "echo", "env",
    "mount", "umount", "ps", "stat", "readlink", "touch", "wc", "head", "tty", "pwd", "mkdir",
    "test", "kill", "uname", "sed", "awk", "cut", "tr", "printf", "ip", "rm", "stty",
)  # fmt: skip
# A verb that takes longer than this has hung (a normal run takes well under a second).
VERB_TIMEOUT = 20.0
TIMED_OUT = -1000
ROOTFS_DIRS = ("proc", "sys", "dev", "tmp", "etc", "root", "home")


def _find_runtime() -> str:
    """``$LAUNCHER_TEST_RUNTIME`` (another build, a wrapper), else the one beside this Python."""
    if os.environ.get("LAUNCHER_TEST_RUNTIME"):
        return os.environ["LAUNCHER_TEST_RUNTIME"]
    beside = Path(sys.executable).with_name("launcher-runtime")
    return str(beside) if beside.exists() else (shutil.which("launcher-runtime") or str(beside))


RUNTIME = _find_runtime()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Local net in case the top-level conftest's root skip is missing."""
    if os.geteuid() == 0 and sys.platform.startswith("linux"):
        return
    skip = pytest.mark.skip(reason="launcher-runtime tests need root on Linux")
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(skip)


# -- host views ------------------------------------------------------------------------------


def cgroup_hierarchies() -> list[str]:
    """Every mounted hierarchy directory under /sys/fs/cgroup (v1 controllers, unified)."""
    try:
        names = sorted(os.listdir(CGROUP_ROOT))
    except OSError:
        return []
    out = []
    for name in names:
        path = os.path.join(CGROUP_ROOT, name)
        if os.path.isdir(path) and not os.path.islink(path):
            out.append(path)
    if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):
        out.append(CGROUP_ROOT)  # pure v2: the root itself is the hierarchy
    return out


def cgroup_dir(controller: str, cgroups_path: str) -> str:
    """The host directory of ``cgroups_path`` in one v1 hierarchy (``memory``, ``pids``…)."""
    return os.path.join(CGROUP_ROOT, controller, cgroups_path.strip("/"))


def read_cgroup(controller: str, cgroups_path: str, name: str) -> str:
    with open(os.path.join(cgroup_dir(controller, cgroups_path), name), encoding="ascii") as f:
        return f.read().strip()


def mounts_under(base: Path) -> list[str]:
    """Host mount points at or below ``base``, deepest first."""
    prefix = str(base).rstrip("/")
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            point = line.split(" ")[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(found, key=lambda p: p.count("/"), reverse=True)


def wait_for(pred: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``pred`` until true; the bound is generous, it is not a timing assertion."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


# -- the runtime -----------------------------------------------------------------------------


class Result:
    """What one ``launcher-runtime`` invocation did."""

    __slots__ = ("args", "returncode", "stderr", "stdout")

    def __init__(self, args: list[str], returncode: int, stdout: str, stderr: str) -> None:
        self.args = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self) -> str:
        return (
            f"<{' '.join(self.args)} -> {self.returncode}\n"
            f"stdout: {self.stdout!r}\nstderr: {self.stderr!r}>"
        )


class Runtime:
    """``launcher-runtime --root <private dir>``; remembers ids and cgroups to clean up."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ids: list[str] = []
        self.cgroup_paths: list[str] = []

    def new_id(self, prefix: str = "lrt") -> str:
        cid = f"{prefix}-{secrets.token_hex(4)}"
        self.ids.append(cid)
        return cid

    def default_cgroup(self, cid: str) -> str:
        return f"/launcher-runtime/{cid}"

    # host views, here so test modules need not import this conftest
    read_cgroup = staticmethod(read_cgroup)
    cgroup_dir = staticmethod(cgroup_dir)
    mounts_under = staticmethod(mounts_under)
    wait_for = staticmethod(wait_for)

    def argv(self, *args: str) -> list[str]:
        return [RUNTIME, "--root", str(self.root), *args]

    def __call__(
        self,
        *args: str,
        stdin: str | None = None,
        timeout: float = VERB_TIMEOUT,
        stdout_path: Path | None = None,
    ) -> Result:
        """Run a verb. Output is captured through files, not pipes: a container
        started by ``create``/``run -d`` inherits them, and a pipe would keep
        the call from ever returning. ``stdout_path`` keeps the (container's)
        stdout in a file the test can read later."""
        argv = self.argv(*args)
        with tempfile.TemporaryFile("w+") as err, tempfile.TemporaryFile("w+") as out:
            target = open(stdout_path, "a+") if stdout_path else out  # noqa: SIM115
            try:
                code = subprocess.run(
                    argv,
                    input=stdin if stdin is not None else "",
                    stdout=target,
                    stderr=err,
                    timeout=timeout,
                    text=True,
                    check=False,
                ).returncode
            except subprocess.TimeoutExpired:
                code = TIMED_OUT  # killed; the test's cleanup deletes what it left
            finally:
                if stdout_path:
                    target.close()
            out.seek(0)
            err.seek(0)
            stderr = err.read() + (f"[hung: killed after {timeout}s]" if code == TIMED_OUT else "")
            return Result(argv, code, out.read(), stderr)

    def ok(self, *args: str, **kw: Any) -> str:
        """Run a verb that must succeed; returns its stdout."""
        res = self(*args, **kw)
        assert res.returncode == 0, res
        return res.stdout

    def fails(self, *args: str, **kw: Any) -> str:
        """Run a verb that must fail like runc: status 1 (255 for exec, as runc's
        exec), one line on stderr. Returns it."""
        res = self(*args, **kw)
        assert res.returncode == (255 if args[:1] == ("exec",) else 1), res
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].strip(), f"expected one error line: {res}"
        return lines[0]

    def state(self, cid: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.ok("state", cid))
        return data

    def status(self, cid: str) -> str:
        return str(self.state(cid)["status"])

    def wait_stopped(self, cid: str) -> None:
        wait_for(lambda: self.status(cid) == "stopped", f"container {cid} to stop")

    def leftovers(self, cid: str, cgroups_path: str | None = None) -> list[str]:
        """What ``cid`` still holds on the host: state dir, cgroup dirs."""
        left: list[str] = []
        if not cid.strip("./"):
            return left  # an invalid id names no container of its own
        if (self.root / cid).exists():
            left.append(f"state dir {self.root / cid}")
        rel = (cgroups_path or self.default_cgroup(cid)).strip("/")
        for hier in cgroup_hierarchies():
            if os.path.exists(os.path.join(hier, rel)):
                left.append(f"cgroup {os.path.join(hier, rel)}")
        return left


class Bundle:
    """A bundle directory: busybox rootfs and ``config`` (runtime-spec JSON as a dict)."""

    def __init__(self, path: Path, rt: Runtime) -> None:
        self.path = path
        self.rt = rt
        self.rootfs = path / "rootfs"
        make_rootfs(self.rootfs)
        self.config: dict[str, Any] = default_spec(["sh"]).to_json()

    @property
    def process(self) -> dict[str, Any]:
        proc: dict[str, Any] = self.config["process"]
        return proc

    @property
    def linux(self) -> dict[str, Any]:
        linux: dict[str, Any] = self.config["linux"]
        return linux

    @property
    def resources(self) -> dict[str, Any]:
        res: dict[str, Any] = self.linux.setdefault("resources", {})
        return res

    def set_script(self, script: str) -> None:
        self.process["args"] = ["sh", "-c", script]

    def write(self) -> None:
        (self.path / "config.json").write_text(json.dumps(self.config, indent=1))

    def run(self, script: str | None = None, *extra: str, timeout: float = VERB_TIMEOUT) -> Result:
        """``run`` in the foreground under a fresh id; ``script`` becomes ``sh -c``."""
        if script is not None:
            self.set_script(script)
        self.write()
        cid = self.rt.new_id()
        return self.rt("run", "--bundle", str(self.path), *extra, cid, timeout=timeout)

    def probe(self, script: str) -> str:
        """Run ``script`` in the container; it must exit 0. Returns its stdout."""
        res = self.run(script)
        assert res.returncode == 0, res
        return res.stdout

    def create(
        self, script: str | None = None, *extra: str, stdout_path: Path | None = None
    ) -> str:
        """``create`` a container (not started) under a fresh id; returns the id."""
        if script is not None:
            self.set_script(script)
        self.write()
        cid = self.rt.new_id()
        self.rt.ok("create", "--bundle", str(self.path), *extra, cid, stdout_path=stdout_path)
        return cid

    def start_sleeper(self, script: str = "sleep 1000") -> str:
        """A running container (``create`` + ``start``); returns the id."""
        cid = self.create(script)
        self.rt.ok("start", cid)
        return cid


def make_rootfs(rootfs: Path) -> None:
    """A minimal busybox root: bin/busybox, its applets as symlinks, the usual dirs."""
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in APPLETS:
        (rootfs / "bin" / applet).symlink_to("busybox")
    for name in ROOTFS_DIRS:
        (rootfs / name).mkdir(mode=0o755)
    (rootfs / "tmp").chmod(0o1777)
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    """The runtime with a private --root; cleans up and checks for leftovers."""
    if not os.path.exists(BUSYBOX):
        pytest.skip(f"{BUSYBOX} (busybox-static) is not installed")
    runtime = Runtime(tmp_path / "state")
    yield runtime
    for cid in runtime.ids:
        runtime("delete", "--force", cid)
    problems = _leftovers(runtime, tmp_path)
    if problems:
        _scrub(runtime, tmp_path)
        pytest.fail("test left host state behind:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture
def bundle(rt: Runtime, tmp_path: Path) -> Bundle:
    return Bundle(tmp_path / "bundle", rt)


@pytest.fixture
def open_bundle(rt: Runtime) -> Iterator[Bundle]:
    """A bundle in a world-traversable directory (pytest's tmp dirs are 0700), for
    containers whose root is not host root (user namespaces); removed afterwards."""
    top = Path(tempfile.mkdtemp(prefix="lrt-", dir="/tmp"))
    top.chmod(0o755)
    try:
        yield Bundle(top / "bundle", rt)
        left = mounts_under(top)
        assert not left, f"mounts left under {top}: {left}"
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _leftovers(rt: Runtime, base: Path) -> list[str]:
    problems: list[str] = []
    for cid in rt.ids:
        problems += [p for p in rt.leftovers(cid) if not p.startswith("state dir")]
    for path in rt.cgroup_paths:
        for hier in cgroup_hierarchies():
            full = os.path.join(hier, path.strip("/"))
            if os.path.exists(full):
                problems.append(f"cgroup {full}")
    problems += [f"mount {m}" for m in mounts_under(base)]
    if rt.root.exists():
        problems += [f"--root entry {rt.root / n}" for n in sorted(os.listdir(rt.root))]
    return sorted(set(problems))


def _scrub(rt: Runtime, base: Path) -> None:
    """Best-effort cleanup after a leak, so one bad test does not break the next."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for point in mounts_under(base):
        libc.umount2(os.fsencode(point), 2)  # MNT_DETACH
    paths = [rt.default_cgroup(c) for c in rt.ids] + rt.cgroup_paths
    for hier in cgroup_hierarchies():
        for path in paths:
            top = os.path.join(hier, path.strip("/"))
            if not os.path.isdir(top):
                continue
            for sub, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
                _kill_procs(sub)
                try:
                    os.rmdir(sub)
                except OSError:
                    pass
    if rt.root.exists():
        shutil.rmtree(rt.root, ignore_errors=True)


def _kill_procs(cgroup: str) -> None:
    try:
        with open(os.path.join(cgroup, "cgroup.procs"), encoding="ascii") as f:
            pids = [int(p) for p in f.read().split()]
    except OSError:
        return
    for pid in pids:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    if pids:
        time.sleep(0.1)


@pytest.fixture(scope="session")
def runtime_path() -> str:
    """The ``launcher-runtime`` executable under test."""
    return RUNTIME


@pytest.fixture(scope="session")
def busybox_rootfs_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tar of the busybox rootfs (for ``podman import``)."""
    import tarfile

    top = tmp_path_factory.mktemp("busybox-image")
    make_rootfs(top / "rootfs")
    tar = top / "rootfs.tar"
    with tarfile.open(tar, "w") as tf:
        for entry in sorted((top / "rootfs").iterdir()):
            tf.add(entry, arcname=entry.name)
    return tar
