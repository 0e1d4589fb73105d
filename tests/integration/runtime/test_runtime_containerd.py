"""``launcher-runtime`` as containerd's runtime, through its runc shim: the real
containerd (Debian's package) runs busybox with ``ctr run --runc-binary``.

Every case runs with runc too, as the reference: the same commands must give
the same results. The image is launcher's busybox, saved as an OCI archive and
brought in with ``ctr image import``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.runtime.conftest import RUNTIME
from tests.integration.runtime.containerd import Containerd, installed

pytestmark = [pytest.mark.skipif(installed() is not None,
                                 reason=f"needs containerd (apt install containerd): "
                                        f"{installed()} missing"),
              pytest.mark.slow]

IMAGE = "docker.io/library/busybox:latest"
LAUNCHER = str(Path(sys.executable).with_name("launcher"))


@pytest.fixture(scope="module")
def ctd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    """containerd, with launcher's busybox imported."""
    work = tmp_path_factory.mktemp("containerd-image")
    env = {**os.environ, "LAUNCHER_ROOT": str(work / "root"), "LAUNCHER_DEFAULT_NETWORK": "none"}
    archive = work / "busybox.tar"
    for argv in (["run", "--rm", "busybox", "true"],
                 ["save", "--format", "oci-archive", "-o", str(archive), "busybox"]):
        subprocess.run([LAUNCHER, *argv], env=env, check=True, timeout=120,
                       capture_output=True)
    daemon = Containerd()
    try:
        daemon.start()
        daemon.ctr("image", "import", str(archive))
        yield daemon
    finally:
        forced = daemon.stop()
        assert forced == [], f"left behind by the tests: {forced}"


@pytest.fixture(params=["launcher-runtime", "runc"])
def runtime(request: pytest.FixtureRequest) -> str:
    if request.param == "runc":
        found = shutil.which("runc")
        if found is None:
            pytest.skip("runc is not installed (the reference)")
        return found
    return RUNTIME


def _id(runtime: str, what: str) -> str:
    return f"{what}-{'lr' if runtime == RUNTIME else 'runc'}"


def test_run_output_and_exit_code(ctd: Containerd, runtime: str) -> None:
    res = ctd.ctr("run", "--rm", "--runc-binary", runtime, "--env", "GREETING=hi",
                  "--cwd", "/tmp", IMAGE, _id(runtime, "run"),
                  "sh", "-c", "echo $GREETING $(pwd) $(id -u); echo err >&2; exit 3", check=False)
    assert (res.returncode, res.stdout, res.stderr) == (3, "hi /tmp 0\n", "err\n")
    assert ctd.containers() == []


def test_a_missing_command_is_reported(ctd: Containerd, runtime: str) -> None:
    res = ctd.ctr("run", "--rm", "--runc-binary", runtime, IMAGE, _id(runtime, "nocmd"),
                  "/no/such/cmd", check=False)
    assert res.returncode != 0
    assert "OCI runtime create failed" in res.stderr and "/no/such/cmd" in res.stderr
    ctd.ctr("container", "delete", _id(runtime, "nocmd"), check=False)  # --rm after a failure
    assert ctd.containers() == []


def test_detached_task_lifecycle(ctd: Containerd, runtime: str, tmp_path: Path) -> None:
    cid = _id(runtime, "task")
    (tmp_path / "hello").write_text("from the host\n")
    ctd.ctr("run", "-d", "--runc-binary", runtime, "--memory-limit", str(64 << 20),
            "--mount", f"type=bind,src={tmp_path},dst=/host,options=rbind:ro",
            IMAGE, cid, "sleep", "300")
    try:
        assert ctd.tasks() == {cid: "RUNNING"}
        res = ctd.ctr("task", "exec", "--exec-id", "e1", cid, "sh", "-c",
                      "cat /host/hello; touch /host/x 2>/dev/null || echo read-only; exit 4",
                      check=False)
        assert (res.returncode, res.stdout) == (4, "from the host\nread-only\n")
        ctd.ctr("task", "pause", cid)
        assert ctd.tasks() == {cid: "PAUSED"}
        ctd.ctr("task", "resume", cid)
        assert ctd.tasks() == {cid: "RUNNING"}
        metrics = ctd.ctr("task", "metrics", cid).stdout
        assert str(64 << 20) in metrics  # the limit, read from the task's cgroup
        [pid_row] = ctd.ctr("task", "ps", cid).stdout.splitlines()[1:]
        assert pid_row.split()[0].isdigit()
        ctd.ctr("task", "kill", "-s", "KILL", cid)
        deadline = time.monotonic() + 20
        while ctd.tasks().get(cid) != "STOPPED" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ctd.tasks() == {cid: "STOPPED"}
        ctd.ctr("task", "delete", cid)
    finally:
        ctd.ctr("task", "delete", "--force", cid, check=False)
        ctd.ctr("container", "delete", cid, check=False)
    assert ctd.tasks() == {} and ctd.containers() == []


def test_a_terminal(ctd: Containerd, runtime: str) -> None:
    """``ctr run -t`` wants a console: ``script`` gives it one."""
    if shutil.which("script") is None:
        pytest.skip("needs script (util-linux)")
    cmd = (f"ctr --address {ctd.socket} --namespace launcher-test run --rm -t --runc-binary "
           f"{runtime} {IMAGE} {_id(runtime, 'tty')} "
           "sh -c 'tty; test -t 0 && test -t 1 && echo both'")
    res = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True,
                         timeout=60, stdin=subprocess.DEVNULL, check=False)
    lines = res.stdout.replace("\r", "").splitlines()
    assert res.returncode == 0, res.stdout + res.stderr
    assert any(line.split("/dev/pts/")[-1].isdigit() for line in lines), lines  # a pty
    assert "both" in lines, lines
    assert ctd.containers() == []
