"""Fixtures for the user CLI (``launcher run`` / ``launcher import``) on the real kernel.

The CLI runs as a subprocess, as a user runs it, against a private ``--root``.
One root per module (``cli_root``): the first run builds ``busybox`` there
(~1 s) and every test reuses it; containers never change the image.

``cli`` is the per-test handle::

    def test_hello(cli):
        res = cli.run("run", "--rm", "busybox", "echo", "hi")
        assert (res.returncode, res.stdout) == (0, "hi\\n")

After every test ``cli`` checks that nothing was left behind (see
``LeakCheck``) and fails the test if something was.

The CLI runs with ``LAUNCHER_DEFAULT_NETWORK=none``: a test that does not ask
for a network never makes a bridge or firewall rule on the host. An explicit
``--network`` still works; the network tests (test_network.py) run the CLI
inside a network namespace of their own (``Cli.prefix``).
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_PARENT = "launcher"  # build.CGROUP_PARENT: /launcher/<id> in every hierarchy
# A CLI call that takes longer than this has hung (a normal run takes well under 1 s).
CALL_TIMEOUT = 30.0
DEFAULT_NETWORK_ENV = "LAUNCHER_DEFAULT_NETWORK"  # settings.py


def _find_cli() -> str:
    """``$LAUNCHER_TEST_CLI`` (another build, a wrapper), else the one beside this Python."""
    if os.environ.get("LAUNCHER_TEST_CLI"):
        return os.environ["LAUNCHER_TEST_CLI"]
    beside = Path(sys.executable).with_name("launcher")
    return str(beside) if beside.exists() else (shutil.which("launcher") or str(beside))


LAUNCHER = _find_cli()


def launcher_cgroups() -> set[str]:
    """``/sys/fs/cgroup/<hierarchy>/launcher/<id>`` directories present now."""
    found: set[str] = set()
    for hierarchy in _listdir(CGROUP_ROOT):
        parent = os.path.join(CGROUP_ROOT, hierarchy, CGROUP_PARENT)
        for name in _listdir(parent):
            if os.path.isdir(os.path.join(parent, name)):
                found.add(os.path.join(parent, name))
    return found


def container_cgroup(cid: str, controller: str = "pids") -> str:
    return os.path.join(CGROUP_ROOT, controller, CGROUP_PARENT, cid)


def mounts_mentioning(text: str) -> list[str]:
    """Lines of the host's /proc/self/mountinfo that name ``text`` anywhere
    (mount point, source or options: an overlay names its layers in options)."""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        return [line.rstrip("\n") for line in f if text in line]


def _listdir(path: str | Path) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


class LeakCheck:
    """What a finished ``--rm`` run may not leave: runtime state dirs, bundles,
    claimed names, cgroups of launcher containers, mounts naming the root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cgroups = launcher_cgroups()
        # Relative to the start of the test, so one leak is reported once.
        self.before = {what: set(_listdir(root / sub)) for what, sub in self.DIRS}
        self.mounts = set(mounts_mentioning(str(root)))

    DIRS = (
        ("runtime state", "state/runtime"),
        ("bundle", "storage/containers"),
        ("name claim", "state/names"),
    )

    def problems(self) -> list[str]:
        out = []
        for what, sub in self.DIRS:
            out += [f"{what} {n}" for n in _listdir(self.root / sub) if n not in self.before[what]]
        # Host-wide: another suite running launcher at the same time would show
        # up here too (tests/conftest.py asks for one root suite per host).
        out += [f"cgroup {p}" for p in sorted(launcher_cgroups() - self.cgroups)]
        out += [f"mount {m}" for m in mounts_mentioning(str(self.root)) if m not in self.mounts]
        return out


class Cli:
    """Runs ``launcher --root ROOT ...`` and checks for leftovers. ``prefix`` goes
    before the CLI's argv (``nsenter --net=…`` to run it in another netns)."""

    def __init__(self, root: Path, prefix: tuple[str, ...] = ()) -> None:
        self.root = root
        self.prefix = prefix

    def argv(self, *args: str) -> list[str]:
        return [*self.prefix, LAUNCHER, "--root", str(self.root), *args]

    def run(
        self,
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = CALL_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """One CLI call to completion; stdin is /dev/null unless ``input`` is given;
        ``env`` is added to this process's environment."""
        return subprocess.run(
            self.argv(*args),
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            text=True,
            env=None if env is None else {**os.environ, **env},
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """A CLI call left running; stdout and stderr are pipes."""
        return subprocess.Popen(
            self.argv(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def running_ids(self) -> list[str]:
        """Ids of the containers with runtime state under this root."""
        return _listdir(self.root / "state" / "runtime")


def read_line(proc: subprocess.Popen[str], timeout: float = CALL_TIMEOUT) -> str:
    """The next stdout line of ``proc``, or fail if none comes (a hung container)."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        pytest.fail(f"no output within {timeout} s")
    return proc.stdout.readline()


def finish(proc: subprocess.Popen[str], timeout: float = CALL_TIMEOUT) -> tuple[int, str, str]:
    """Wait for ``proc``: (exit code, rest of stdout, stderr); kill it if it hangs."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"launcher did not exit within {timeout} s; stderr: {err!r}")
    return proc.returncode, out, err


def wait_for(predicate: Callable[[], object], timeout: float = CALL_TIMEOUT) -> None:
    """Poll ``predicate()`` until true (a sync point, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.02)


def remove_leftovers(root: Path) -> None:
    """Last resort after a failed test: SIGKILL what still runs in this root's
    containers, remove their cgroups, runtime state, bundles and name claims."""
    for cid in _listdir(root / "state" / "runtime"):
        cgroups = [os.path.join(CGROUP_ROOT, h, CGROUP_PARENT, cid) for h in _listdir(CGROUP_ROOT)]
        cgroups = [c for c in cgroups if os.path.isdir(c)]
        for cgroup in cgroups:
            for pid in _listdir_procs(cgroup):
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
        for cgroup in cgroups:
            deadline = time.monotonic() + 5
            while True:
                try:
                    os.rmdir(cgroup)
                    break
                except OSError:  # EBUSY until the killed processes are gone
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
    _detach_mounts(str(root))
    for sub in ("state/runtime", "state/names", "storage/containers"):
        for name in _listdir(root / sub):
            path = root / sub / name
            if path.is_symlink() or not path.is_dir():
                path.unlink()
            else:
                shutil.rmtree(path, ignore_errors=True)


def _listdir_procs(cgroup: str) -> list[int]:
    try:
        with open(os.path.join(cgroup, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _detach_mounts(text: str) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    points = [line.split(" ")[4] for line in mounts_mentioning(text)]
    for point in sorted(points, key=lambda p: p.count("/"), reverse=True):
        libc.umount2(os.fsencode(point), 2)  # MNT_DETACH


@pytest.fixture(scope="module")
def cli_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A launcher root with ``busybox`` built, shared by one test module."""
    if not (sys.platform.startswith("linux") and os.geteuid() == 0):
        pytest.skip("needs root on Linux")
    root = tmp_path_factory.mktemp("cli") / "root"
    root.mkdir(mode=0o700)
    with pytest.MonkeyPatch.context() as mp:
        # Every CLI started from here (also through cli.argv) defaults to no network.
        mp.setenv(DEFAULT_NETWORK_ENV, "none")
        res = Cli(root).run("run", "--rm", "busybox", "true")
        assert res.returncode == 0, f"building busybox failed: {res.stderr}"
        yield root
    remove_leftovers(root)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def cli(cli_root: Path) -> Iterator[Cli]:
    """The CLI on the module's root; fails the test if it leaves anything behind."""
    check = LeakCheck(cli_root)
    yield Cli(cli_root)
    problems = check.problems()
    if problems:
        remove_leftovers(cli_root)
        pytest.fail("left behind:\n  " + "\n  ".join(problems), pytrace=False)


def container_init_pid(cid: str) -> int:
    """Host pid of the container's PID 1 (its NSpid ends in 1)."""
    for pid in _listdir_procs(container_cgroup(cid)):
        try:
            with open(f"/proc/{pid}/status") as f:
                nspid = next(line for line in f if line.startswith("NSpid:")).split()
        except (OSError, StopIteration):
            continue
        if nspid[-1] == "1":
            return pid
    pytest.fail(f"no PID 1 in {container_cgroup(cid)}")


def only_running_id(cli: Cli) -> str:
    """The id of the one container running under ``cli``'s root (waits for it)."""
    wait_for(lambda: len(cli.running_ids()) == 1)
    return cli.running_ids()[0]


class PtyResult:
    __slots__ = ("output", "returncode")

    def __init__(self, returncode: int, output: bytes) -> None:
        self.returncode = returncode
        self.output = output


def run_in_pty(
    argv: list[str],
    send: bytes = b"",
    after: bytes = b"",
    signal: int = 0,
    timeout: float = CALL_TIMEOUT,
) -> PtyResult:
    """Run ``argv`` as a session leader on a fresh pty (like a user's terminal).

    Once ``after`` has appeared in the output (a prompt, a "ready" line),
    ``send`` is typed and ``signal`` (if not 0) is sent to the process; waiting
    for it means typed input cannot be flushed by the CLI's switch to raw mode.
    """
    import pty

    pid, master = pty.fork()
    if pid == 0:  # child: exec at once (nothing else runs between fork and exec)
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    output = b""
    pending = bool(send or signal)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if pending and after in output:
                pending = False
                if send:
                    os.write(master, send)
                if signal:
                    os.kill(pid, signal)
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, 9)
                pytest.fail(f"{argv} hung on a pty; output so far: {output!r}")
            ready, _, _ = select.select([master], [], [], left)
            if not ready:
                continue
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: every holder of the slave side closed it
                break
            if not data:
                break
            output += data
    finally:
        os.close(master)
    _, status = os.waitpid(pid, 0)
    return PtyResult(os.waitstatus_to_exitcode(status), output)
