"""TIOCSTI: a container pushing keystrokes into the terminal of the user who ran it.

Input injected into the user's terminal is read by the user's shell once the
CLI exits: ``echo pwned`` typed by the container. The kernel lets a process
inject only into its controlling terminal (without CAP_SYS_ADMIN). So:

* with ``-t`` the container has a pty of its own: injecting there is allowed
  (it types into itself) and reaches nothing of the host's;
* without ``-t`` launcher hands the user's terminal to the container as its
  stdout/stderr (and stdin with ``-i``), but the container runs in a new
  session without a controlling terminal: TIOCSTI is EPERM and ``/dev/tty``
  is ENXIO.

The CLI runs on a fresh pty under a small host wrapper (the user's shell) that,
once the CLI exits, reads whatever input is pending on that terminal: it must be
nothing. The same for ``exec``. When ``dev.tty.legacy_tiocsti`` is 0 the
kernel refuses TIOCSTI to everyone without CAP_SYS_ADMIN (EIO), and the
expected outcomes say so.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.integration.attacks.kit import (
    EIO,
    ENOTTY,
    ENXIO,
    EPERM,
    HOST_PY,
    HOST_PYTHON,
    Detached,
    Sentinel,
    needs_host_python,
)
from tests.integration.cli.conftest import Cli, run_in_pty

pytestmark = needs_host_python

# What the container runs: TIOCSTI on fds 0-2 and on /dev/tty; its session.
PROBE = r"""
import fcntl, os, termios
out = []
for fd in (0, 1, 2):
    try:
        name = os.ttyname(fd)
    except OSError:
        name = "host" if os.isatty(fd) else "notty"
    try:
        for ch in b"QZ":
            fcntl.ioctl(fd, termios.TIOCSTI, bytes([ch]))
        errno = 0
    except OSError as e:
        errno = e.errno
    out.append(f"fd{fd}={name}:{errno}")
try:
    fd = os.open("/dev/tty", os.O_RDWR)
    out.append("devtty=open")
except OSError as e:
    out.append(f"devtty={e.errno}")
out.append(f"leader={os.getsid(0) == os.getpid()}")
print("PROBE " + " ".join(out), flush=True)
"""

# The user's shell: runs the CLI on the terminal, then reads what input is left.
# Raw mode with TCSANOW (TCSAFLUSH would discard it) makes a partial line readable.
WRAPPER = r"""
import fcntl, os, subprocess, sys, termios, tty
rc = subprocess.call(sys.argv[1:])
tty.setraw(0, termios.TCSANOW)
fcntl.fcntl(0, fcntl.F_SETFL, fcntl.fcntl(0, fcntl.F_GETFL) | os.O_NONBLOCK)
try:
    pending = os.read(0, 4096)
except BlockingIOError:
    pending = b""
sys.stdout.write(f"\r\nRC={rc} PENDING={pending!r}\r\n")
"""


def _legacy_tiocsti() -> bool:
    try:
        with open("/proc/sys/dev/tty/legacy_tiocsti") as f:
            return f.read().strip() == "1"
    except FileNotFoundError:
        return True  # kernels before 6.2 have no switch: TIOCSTI is always there


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, tuple[str, ...]]:
    """The wrapper's path and the -v options that bring python3 and the probe in."""
    wrapper, probe = tmp_path / "wrapper.py", tmp_path / "probe.py"
    wrapper.write_text(WRAPPER)
    probe.write_text(PROBE)
    return str(wrapper), (*HOST_PY, "-v", f"{probe}:/probe.py:ro")


def _on_a_terminal(cli: Cli, wrapper: str, *args: str) -> tuple[dict[str, str], str]:
    """``launcher ARGS`` on a fresh pty under the wrapper: (probe's fields, pending input)."""
    res = run_in_pty([sys.executable, wrapper, *cli.argv(*args)])
    text = res.output.decode(errors="replace")
    assert res.returncode == 0, text
    probe = next(ln for ln in text.splitlines() if "PROBE " in ln)
    fields = dict(w.split("=", 1) for w in probe.split("PROBE ", 1)[1].split())
    tail = text.rsplit("RC=", 1)[1]
    assert tail.startswith("0 PENDING="), text
    return fields, tail.split("PENDING=", 1)[1].strip()


def _expected(own_pty: bool, stdin_host: bool) -> dict[str, str]:
    legacy = _legacy_tiocsti()
    if own_pty:  # its own controlling terminal: the kernel's rule allows it
        ok = "0" if legacy else str(EIO)
        return {"fd0": f"/dev/pts/0:{ok}", "fd1": f"/dev/pts/0:{ok}",
                "fd2": f"/dev/pts/0:{ok}", "devtty": "open", "leader": "True"}
    refused = str(EPERM if legacy else EIO)
    return {"fd0": f"host:{refused}" if stdin_host else f"notty:{ENOTTY}",
            "fd1": f"host:{refused}", "fd2": f"host:{refused}", "devtty": str(ENXIO),
            "leader": "True"}


@pytest.mark.parametrize(("opts", "own_pty", "stdin_host"), [
    ((), False, False), (("-i",), False, True), (("-t",), True, False),
    (("-i", "-t"), True, True)], ids=["plain", "-i", "-t", "-it"])
def test_run_cannot_type_into_the_users_terminal(cli: Cli, files: tuple[str, tuple[str, ...]],
                                                 sentinel: Sentinel, opts: tuple[str, ...],
                                                 own_pty: bool, stdin_host: bool) -> None:
    wrapper, mounts = files
    fields, pending = _on_a_terminal(cli, wrapper, "run", "--rm", *opts, *mounts, "busybox",
                                     HOST_PYTHON, "/probe.py")
    assert fields == _expected(own_pty, stdin_host)
    assert pending == "b''", f"the container typed {pending} into the user's terminal"
    sentinel.check()


@pytest.mark.parametrize(("opts", "own_pty"), [((), False), (("-t",), True)],
                         ids=["plain", "-t"])
def test_exec_cannot_type_into_the_users_terminal(cli: Cli, files: tuple[str, tuple[str, ...]],
                                                  sentinel: Sentinel, opts: tuple[str, ...],
                                                  own_pty: bool) -> None:
    wrapper, mounts = files
    with Detached(cli, f"atk-tty{len(opts)}", *mounts, "busybox", "sleep", "60") as c:
        fields, pending = _on_a_terminal(cli, wrapper, "exec", *opts, c.name, HOST_PYTHON,
                                         "/probe.py")
    want = _expected(own_pty, False)
    if not own_pty:
        assert fields.pop("leader") == "True"
        want.pop("leader")
    assert fields == want
    assert pending == "b''", f"the container typed {pending} into the user's terminal"
    sentinel.check()
