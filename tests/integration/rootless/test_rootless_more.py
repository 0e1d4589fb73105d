"""What needs a cgroup, and cp/volumes, as an ordinary user without delegation."""

from __future__ import annotations

import io
import tarfile

from tests.integration.rootless.conftest import Rootless

NO_CGROUP = "it has no cgroup (rootless: only a delegated cgroup v2 gives one)"


def test_commands_around_a_running_container(rl: Rootless) -> None:
    res = rl.run("run", "-d", "--name", "box", "busybox", "sleep", "300")
    assert res.returncode == 0, res.stderr
    try:
        ex = rl.run("exec", "-d", "box", "sleep", "301")
        assert ex.returncode == 0, ex.stderr
        top = rl.run("top", "box")
        assert top.returncode == 0, top.stderr
        cmds = [line.split(None, 7)[-1] for line in top.stdout.splitlines()[1:]]
        assert sorted(cmds) == ["sleep 300", "sleep 301"], top.stdout
        stats = rl.run("stats", "--no-stream", "box")
        assert (stats.returncode, stats.stderr) == (
            125, f"launcher: no stats for container box: {NO_CGROUP}\n")
        pause = rl.run("pause", "box")
        assert pause.returncode == 125
        assert pause.stderr.endswith(f"cannot pause container {res.stdout.strip()}: "
                                     f"{NO_CGROUP}\n"), pause.stderr
        cp = rl.sh(f"{rl.wrapper} cp box:/etc/hostname - | base64 -w0")
        assert cp.returncode == 0, cp.stderr
        import base64

        with tarfile.open(fileobj=io.BytesIO(base64.b64decode(cp.stdout))) as tar:
            assert tar.getnames() == ["hostname"]
        vol = rl.run("run", "--rm", "-v", "data:/data", "busybox", "sh", "-c",
                     "echo kept > /data/f")
        assert vol.returncode == 0, vol.stderr
        back = rl.run("run", "--rm", "-v", "data:/data", "busybox", "cat", "/data/f")
        assert back.stdout == "kept\n", back.stderr
    finally:
        rl.run("rm", "-f", "box")
        rl.run("volume", "rm", "data")
    assert "data" not in rl.run("volume", "ls", "-q").stdout.split()


def test_privileged_rootless_has_every_cap_in_its_namespace_only(rl: Rootless) -> None:
    res = rl.run("run", "--rm", "--privileged", "busybox", "sh", "-c",
                 "grep -E '^(CapEff|Seccomp):' /proc/self/status; "
                 "mkdir /m && mount -t tmpfs none /m && echo mounted; "
                 "echo x > /proc/sys/kernel/hostname 2>/dev/null || echo no-host-sysctl")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.split("\n")
    assert lines[1].split() == ["Seccomp:", "0"]
    assert int(lines[0].split()[1], 16) & (1 << 21)  # CAP_SYS_ADMIN, over its own namespaces
    assert "mounted" in lines
