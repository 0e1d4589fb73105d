"""The hardened defaults as a process inside the container sees them: capability
masks, no_new_privs, the seccomp filter mode, masked paths, and no stray fds in
PID 1 or in what `exec` starts (SECURITY.md's checks, exact outcomes)."""

from __future__ import annotations

from launcher.spec.caps import PODMAN_DEFAULT_CAPS, cap_number

from .conftest import Cli
from .test_run_detached import wait_for

DEFAULT_CAPS = sum(1 << cap_number(c) for c in PODMAN_DEFAULT_CAPS)


def _status(text: str) -> dict[str, str]:
    return {k: v.strip() for k, _, v in (ln.partition(":") for ln in text.splitlines())}


def test_capabilities_no_new_privs_and_seccomp(cli: Cli) -> None:
    res = cli.run("run", "--rm", "--network", "none", "busybox", "cat", "/proc/self/status")
    assert res.returncode == 0, res.stderr
    st = _status(res.stdout)
    for key in ("CapEff", "CapPrm", "CapBnd"):
        assert int(st[key], 16) == DEFAULT_CAPS, (key, st[key])
    assert int(st["CapInh"], 16) == 0 and int(st["CapAmb"], 16) == 0
    assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2"  # 2: a filter
    res = cli.run("run", "--rm", "--network", "none", "--security-opt", "seccomp=unconfined",
                  "--security-opt", "no-new-privileges=false", "--cap-drop", "ALL", "busybox",
                  "cat", "/proc/self/status")
    st = _status(res.stdout)
    assert (st["NoNewPrivs"], st["Seccomp"], int(st["CapBnd"], 16)) == ("0", "0", 0)


def test_masked_and_read_only_paths(cli: Cli) -> None:
    res = cli.run("run", "--rm", "--network", "none", "busybox", "sh", "-c",
                  "cat /proc/keys /proc/timer_list | wc -c; ls /sys/firmware | wc -l; "
                  "echo 1 >/proc/sys/kernel/panic 2>/dev/null && echo writable || echo ro")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["0", "0", "ro"]


def test_no_stray_fds_in_pid_1_or_in_exec(cli: Cli) -> None:
    assert cli.run("run", "-d", "--name", "fds", "--network", "none", "busybox",
                   "sleep", "60").returncode == 0
    try:
        wait_for(cli, "fds", "running")
        res = cli.run("exec", "fds", "ls", "/proc/1/fd")
        assert res.returncode == 0, res.stderr
        assert sorted(res.stdout.split(), key=int) == ["0", "1", "2"]
        # the exec'd ls: its stdio and the directory it lists, nothing of ours
        res = cli.run("exec", "fds", "ls", "/proc/self/fd")
        assert sorted(res.stdout.split(), key=int) == ["0", "1", "2", "3"]
        res = cli.run("exec", "fds", "cat", "/proc/self/status")
        st = _status(res.stdout)
        assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2"
        assert int(st["CapEff"], 16) == DEFAULT_CAPS
    finally:
        cli.run("rm", "-f", "fds")


def test_privileged_is_what_docker_means(cli: Cli) -> None:


    script = ("grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status; "
              "mkdir -p /m && mount -t tmpfs none /m && echo mounted; "
              "cat /proc/keys >/dev/null && echo keys-readable; "
              "touch /proc/sys/kernel/hostname 2>/dev/null && echo sys-writable; "
              "ls /dev")
    res = cli.run("run", "--rm", "--privileged", "busybox", "sh", "-c", script)
    assert res.returncode == 0, res.stderr
    status = _status(res.stdout)
    with open("/proc/self/status", encoding="ascii") as f:
        every = _status(f.read())["CapBnd"]
    assert (status["CapEff"], status["CapBnd"], status["CapPrm"]) == (every, every, every)
    assert (status["CapInh"], status["CapAmb"]) == ("0" * 16, "0" * 16)
    assert (status["NoNewPrivs"], status["Seccomp"]) == ("0", "0")
    lines = res.stdout.splitlines()
    assert {"mounted", "keys-readable", "sys-writable"} <= set(lines)
    import os

    host_nodes = {n for n in os.listdir("/dev") if n.startswith(("loop", "vd", "sd", "nvme"))}
    assert host_nodes <= set(lines)
