"""runc CVE-2019-5736: a container reaching the host binary that starts its processes.

runc's attack: a container process opens ``/proc/PID/exe`` of the runtime while
it joins the container (or makes the runtime exec a ``#!/proc/self/exe`` script,
so the runtime's own binary runs inside the container), keeps the fd, and
writes through ``/proc/self/fd/N`` once the binary is idle: the host's runc is
replaced. Here the binary is the Python running launcher.

Two attacks, each checked against the identity (device, inode) of that Python
binary and against its hash (``host_files``):

* a probe inside the container opens every other process's ``exe`` while the
  host runs ``exec`` again and again: the joining process is non-dumpable, so
  it must never yield the host binary, and nothing may be opened for writing;
* ``run`` and ``exec`` of a ``#!/proc/self/exe`` script: the kernel resolves
  the interpreter through the magic link of the process calling execve. If that
  is launcher's Python, the container runs the host's interpreter (it starts
  when the image has its libraries: here the host's library directories,
  bind-mounted read-only, but not the binary) and holds an fd to the host
  binary, reached through a host mount the container cannot see.

Nothing here ever writes to what it opens.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tests.integration.attacks.kit import (
    HOST_PY,
    HOST_PYTHON,
    Detached,
    HostFiles,
    Sentinel,
    host_python_mounts,
    identity,
    needs_host_python,
)
from tests.integration.cli.conftest import Cli, finish, read_line

pytestmark = needs_host_python

HOST_BINARY = os.path.realpath(sys.executable)  # what launcher's processes run
EXECS = 12  # joins to watch; a bounded number, no timing involved

# Opens /proc/PID/exe of every other process (O_PATH: no ptrace rights needed on
# a dumpable target), notes what it reached, and tries to reopen it for writing
# (never writes; a sealed memfd, which no write can change, does not count). Until
# /tmp/stop appears.
PROBE = r"""
import fcntl, json, os
me = os.getpid()
ids, writable, denied = set(), [], 0
print("ready", flush=True)
while not os.path.exists("/tmp/stop"):
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            fd = os.open(f"/proc/{name}/exe", os.O_PATH)
        except OSError as e:
            denied += e.errno in (1, 13)
            continue
        try:
            st = os.fstat(fd)
            ids.add((st.st_dev, st.st_ino))
            w = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY)
            try:  # launcher's exec helper: a memfd sealed against writes (F_SEAL_WRITE)
                sealed = fcntl.fcntl(w, 1034) & 0x8  # F_GET_SEALS
            except OSError:
                sealed = 0
            os.close(w)
            if not sealed:
                writable.append(name)
        except OSError:
            pass
        finally:
            os.close(fd)
print(json.dumps({"ids": sorted(ids), "writable": writable, "denied": denied}))
"""

# Where the running binary lives: its identity, and whether the mount it was
# reached through is one of the container's (a read-only bind, say) or the host's.
PAYLOAD = """import os
fd = os.open("/proc/self/exe", os.O_PATH)
st = os.fstat(fd)
with open(f"/proc/self/fdinfo/{fd}") as f:
    mnt = next(ln.split()[1] for ln in f if ln.startswith("mnt_id:"))
with open("/proc/self/mountinfo") as f:
    ours = {ln.split()[0] for ln in f}
print("EXE", st.st_dev, st.st_ino, "container-mount" if mnt in ours else "host-mount")
"""


def test_joining_processes_never_expose_the_host_binary(
        cli: Cli, sentinel: Sentinel, host_files: HostFiles) -> None:
    with Detached(cli, "atk-exe-probe", *HOST_PY, "busybox", "sleep", "120") as c:
        probe = cli.start("exec", c.name, HOST_PYTHON, "-c", PROBE)
        try:
            assert read_line(probe) == "ready\n"
            for _ in range(EXECS):
                res = c.exec("true")
                assert res.returncode == 0, res.stderr
            assert c.exec("touch", "/tmp/stop").returncode == 0
            code, out, err = finish(probe)
        finally:
            if probe.poll() is None:
                probe.kill()
                finish(probe)
    assert code == 0, err
    seen = json.loads(out)
    reached = {tuple(i) for i in seen["ids"]}
    assert identity(HOST_BINARY) not in reached, (
        f"a container process opened the host's {HOST_BINARY} through /proc/PID/exe")
    assert seen["writable"] == [], f"opened for writing: /proc/{seen['writable']}/exe"
    sentinel.check()
    host_files.check()


def test_a_proc_self_exe_interpreter_never_runs_the_host_binary(
        cli: Cli, tmp_path: Path, sentinel: Sentinel, host_files: HostFiles) -> None:
    """The container's program is a ``#!/proc/self/exe`` script: whatever runs it,
    it must not be the host's launcher Python (found: it is; see the report)."""
    evil = tmp_path / "evil"
    evil.write_text("#!/proc/self/exe\n" + PAYLOAD)
    evil.chmod(0o755)
    mounts = (*host_python_mounts(), "-v", f"{evil}:/evil:ro")
    host = "EXE {} {} ".format(*identity(HOST_BINARY))
    res = cli.run("run", "--rm", *mounts, "busybox", "/evil")
    ran = {"run": (res.returncode, res.stdout, res.stderr)}
    with Detached(cli, "atk-exe-script", *mounts, "busybox", "sleep", "60") as c:
        res = c.exec("/evil")
        ran["exec"] = (res.returncode, res.stdout, res.stderr)
    reached = [verb for verb, (_, out, _) in ran.items()
               if any(ln.startswith(host) or ln.endswith(" host-mount")
                      for ln in out.splitlines())]
    assert reached == [], (
        f"{' and '.join(reached)} ran the host's {HOST_BINARY} inside the container "
        f"(it could keep an fd to it and write it once idle): {ran}")
    sentinel.check()
    host_files.check()
