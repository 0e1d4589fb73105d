"""What joins a container must arrive empty-handed (SECURITY.md rule 4).

* ``exec``'s joining process turns non-dumpable *before* its first ``setns``
  (nothing in the container may ptrace it or open its /proc/PID/mem or exe
  while it still runs launcher's code), and nothing turns it dumpable again
  before it execs the user's program: read from an strace of the real CLI.
  test_exe_overwrite.py attacks the same window from inside.
* The process that ``exec`` or ``run`` starts holds its three stdio fds and
  nothing else, whatever the stdio wiring (plain, ``-i``, ``-t``, ``-d``, another
  user): counted with fstat on every fd number, so the probe itself opens
  nothing (a shell's globbing or ``ls`` would show their own directory fd).

tests/integration/cli/test_hardening.py already lists the fds of a detached
PID 1 and of a plain ``exec``; tests/integration/runtime/ does the same for
the runtime's own ``exec``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.attacks.kit import (
    HOST_PY,
    HOST_PYTHON,
    Detached,
    HostFiles,
    Sentinel,
    needs_host_python,
)
from tests.integration.cli.conftest import CALL_TIMEOUT, Cli, run_in_pty

# Every open fd of this process, found by fstat (opens nothing), with its target.
FDS = (
    "import json, os\n"
    "fds = {}\n"
    "for fd in range(4096):\n"
    "    try:\n"
    "        os.fstat(fd)\n"
    "    except OSError:\n"
    "        continue\n"
    "    fds[fd] = os.readlink(f'/proc/self/fd/{fd}')\n"
    "print('FDS ' + json.dumps(fds), flush=True)\n"
)


def _fds(text: str) -> dict[str, str]:
    line = next(ln for ln in text.splitlines() if ln.startswith("FDS "))
    fds: dict[str, str] = json.loads(line[4:])
    return fds


def _stdio_only(fds: dict[str, str], stdin: str, out: str) -> None:
    """Exactly fds 0-2: stdin as named, stdout/stderr of kind ``out`` (a prefix)."""
    assert sorted(fds, key=int) == ["0", "1", "2"], fds
    assert fds["0"].startswith(stdin), fds
    assert fds["1"].startswith(out) and fds["2"].startswith(out), fds


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_exec_is_non_dumpable_before_it_joins(cli: Cli, tmp_path: Path,
                                              sentinel: Sentinel) -> None:
    trace = tmp_path / "strace.txt"
    with Detached(cli, "atk-dumpable", "busybox", "sleep", "60") as c:
        res = subprocess.run(
            ["strace", "-f", "-qq", "-o", str(trace), "-e", "signal=none",
             "-e", "trace=prctl,setns,execve,clone,clone3,fork,vfork",
             *cli.argv("exec", c.name, "true")],
            capture_output=True, text=True, timeout=CALL_TIMEOUT, check=False)
    assert res.returncode == 0, res.stderr
    calls = [(m[1], m[2]) for m in map(re.compile(r"^(\d+)\s+(.*)$").match,
                                          trace.read_text().splitlines()) if m]
    joiner = next(pid for pid, call in calls if call.startswith("setns("))
    mine = [call for pid, call in calls if pid == joiner]
    first_setns = next(i for i, call in enumerate(mine) if call.startswith("setns("))
    dumpable = re.compile(r"prctl\(PR_SET_DUMPABLE, (SUID_DUMP_DISABLE|0)\)\s+= 0")
    assert any(dumpable.match(call) for call in mine[:first_setns]), mine[:first_setns + 1]
    # Its children (the process that enters the pid namespace and execs) inherit
    # the flag; none may set it back before execve.
    children = {pid for pid, call in calls
                if pid != joiner and any(c.startswith(("clone", "fork", "vfork"))
                                         and c.rstrip().endswith(f"= {pid}")
                                         for p, c in calls if p == joiner)}
    for pid, call in calls:
        if pid in children | {joiner} and call.startswith("execve("):
            break
        if pid in children | {joiner}:
            assert not re.match(r"prctl\(PR_SET_DUMPABLE, (SUID_DUMP_USER|1)\)", call), call
    execs = [call for pid, call in calls if pid in children and call.startswith("execve(")]
    assert execs and execs[0].startswith('execve("/bin/true"'), execs
    sentinel.check()


@pytest.mark.parametrize(("opts", "stdin", "out"), [
    ((), "/dev/null", "pipe:"),
    (("-i",), "pipe:", "pipe:"),
    (("-u", "1000"), "/dev/null", "pipe:"),
    (("-u", "65534:65534", "-e", "X=1", "-w", "/tmp"), "/dev/null", "pipe:"),
], ids=["plain", "-i", "-u", "-u-e-w"])
@needs_host_python
def test_exec_holds_only_stdio(cli: Cli, sentinel: Sentinel, host_files: HostFiles,
                               opts: tuple[str, ...], stdin: str, out: str) -> None:
    with Detached(cli, "atk-fds", *HOST_PY, "busybox", "sleep", "60") as c:
        res = cli.run("exec", *opts, c.name, HOST_PYTHON, "-I", "-S", "-c", FDS,
                      input="" if "-i" in opts else None)
    assert res.returncode == 0, res.stderr
    _stdio_only(_fds(res.stdout), stdin, out)
    sentinel.check()
    host_files.check()


@needs_host_python
def test_detached_exec_holds_only_stdio(cli: Cli, sentinel: Sentinel) -> None:
    with Detached(cli, "atk-fds-d", *HOST_PY, "busybox", "sleep", "60") as c:
        script = FDS.replace("print(", "open('/tmp/fds', 'w').write(").replace(", flush=True", "")
        assert c.exec("-d", "--", HOST_PYTHON, "-I", "-S", "-c", script).returncode == 0
        res = c.exec("sh", "-c", "while [ ! -s /tmp/fds ]; do sleep 0.05; done; cat /tmp/fds")
    assert res.returncode == 0, res.stderr
    _stdio_only(_fds(res.stdout), "/dev/null", "/dev/null")
    sentinel.check()


@needs_host_python
@pytest.mark.parametrize("verb", ["run", "exec"])
def test_terminal_processes_hold_only_their_pty(cli: Cli, sentinel: Sentinel,
                                                verb: str) -> None:
    """``-t``: fds 0-2 are the container's own pty, nothing else (PID 1 for ``run``)."""
    probe = (HOST_PYTHON, "-I", "-S", "-c", FDS)
    if verb == "run":
        res = run_in_pty(cli.argv("run", "--rm", "-t", *HOST_PY, "busybox", *probe))
    else:
        with Detached(cli, "atk-fds-t", *HOST_PY, "busybox", "sleep", "60") as c:
            res = run_in_pty(cli.argv("exec", "-t", c.name, *probe))
    text = res.output.decode(errors="replace").replace("\r", "")
    assert res.returncode == 0, text
    fds = _fds(text)
    assert fds == {"0": "/dev/pts/0", "1": "/dev/pts/0", "2": "/dev/pts/0"}, fds
    sentinel.check()


@needs_host_python
def test_interactive_pid_1_holds_only_stdio(cli: Cli, sentinel: Sentinel) -> None:
    res = cli.run("run", "--rm", "-i", *HOST_PY, "busybox", HOST_PYTHON, "-I", "-S", "-c", FDS,
                  input="")
    assert res.returncode == 0, res.stderr
    _stdio_only(_fds(res.stdout), "pipe:", "pipe:")
    sentinel.check()
