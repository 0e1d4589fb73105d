"""A private containerd for tests: its own root, state and socket under a temp dir.

``Containerd.start()`` writes a minimal config (version 2, the CRI plugin and
the snapshotters this host cannot use disabled, overlayfs), starts
``containerd`` and waits for its socket; ``ctr(*args)`` runs ``ctr`` against
it in the namespace ``NAMESPACE``; ``stop()`` kills every task, deletes every
container and image, stops containerd and the shims it started, detaches
what is still mounted under its root, and removes the directories and the
cgroups named after the namespace.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

NAMESPACE = "launcher-test"
CGROUP_ROOT = "/sys/fs/cgroup"
TIMEOUT = 60.0
RUN_DIR = Path("/run/containerd")

CONFIG = """\
version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp",
]
[grpc]
  address = "{base}/containerd.sock"
[ttrpc]
  address = "{base}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
"""


def installed() -> str | None:
    """What is missing to run containerd here, or None."""
    missing = [t for t in ("containerd", "ctr", "containerd-shim-runc-v2") if not shutil.which(t)]
    return ", ".join(missing) if missing else None


class Containerd:
    def __init__(self) -> None:
        # Short: unix socket paths are limited to 108 bytes.
        self.base = Path(tempfile.mkdtemp(prefix="lctd-", dir="/run"))
        self.socket = str(self.base / "containerd.sock")
        self.proc: subprocess.Popen[bytes] | None = None
        self.had_run_dir = RUN_DIR.exists()

    def start(self) -> Containerd:
        config = self.base / "config.toml"
        config.write_text(CONFIG.format(base=self.base))
        log = open(self.base / "containerd.log", "wb")  # noqa: SIM115 - kept for the process
        self.proc = subprocess.Popen(["containerd", "--config", str(config)], stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + TIMEOUT
        while self.ctr("version", check=False).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"containerd did not start: {self.log_tail()}")
            time.sleep(0.1)
        return self

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.base / "containerd.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def ctr(self, *args: str, check: bool = True, timeout: float = TIMEOUT,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(["ctr", "--address", self.socket, "--namespace", NAMESPACE, *args],
                             capture_output=True, text=True, timeout=timeout, input=input,
                             stdin=None if input is not None else subprocess.DEVNULL)
        if check and res.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} exited {res.returncode}: "
                                 f"{res.stderr.strip()}")
        return res

    def tasks(self) -> dict[str, str]:
        """Task id -> status."""
        rows = self.ctr("task", "ls").stdout.splitlines()[1:]
        return {r.split()[0]: r.split()[2] for r in rows if len(r.split()) >= 3}

    def containers(self) -> list[str]:
        return self.ctr("container", "ls", "-q").stdout.split()

    def stop(self) -> list[str]:
        """Tear everything down; what had to be forced (for the test to report)."""
        forced: list[str] = []
        if self.proc is not None and self.proc.poll() is None:
            for task in self.tasks():
                forced.append(f"task {task}")
                self.ctr("task", "kill", "-s", "KILL", task, check=False)
                self.ctr("task", "delete", "--force", task, check=False)
            for cid in self.containers():
                forced.append(f"container {cid}")
                self.ctr("container", "delete", cid, check=False)
            for ref in self.ctr("image", "ls", "-q", check=False).stdout.split():
                self.ctr("image", "rm", ref, check=False)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        forced += self._kill_shims()
        forced += self._unmount()
        self._remove_cgroups()
        shutil.rmtree(self.base, ignore_errors=True)
        # containerd's fixed directories under /run/containerd: the runc shim's
        # runtime --root (runc/<namespace>), ctr's fifos, the shims' sockets; empty
        # once every task is gone. The shared ones only if this made them.
        shared = [] if self.had_run_dir else [RUN_DIR / "runc", RUN_DIR / "fifo", RUN_DIR / "s",
                                               RUN_DIR]
        for path in (RUN_DIR / "runc" / NAMESPACE, *shared):
            try:
                path.rmdir()
            except OSError:
                pass
        return forced

    def _kill_shims(self) -> list[str]:
        killed = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"containerd-shim-runc-v2") \
                    and self.socket.encode() in argv:
                os.kill(int(pid), signal.SIGKILL)
                killed.append(f"shim {pid}")
        return killed

    def _unmount(self) -> list[str]:
        base = str(self.base)
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        left = [p for p in points if p == base or p.startswith(base + "/")]
        for point in reversed(left):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        return [f"mount {p}" for p in left]

    def _remove_cgroups(self) -> None:
        """containerd's runc shim puts tasks under /<namespace>/<id>; the runtime
        removes the task's own cgroup, the namespace's parent is left empty."""
        try:
            hierarchies = os.listdir(CGROUP_ROOT)
        except OSError:
            return
        for name in hierarchies:
            parent = os.path.join(CGROUP_ROOT, name, NAMESPACE)
            if os.path.isdir(parent):
                try:
                    os.rmdir(parent)
                except OSError:
                    pass
