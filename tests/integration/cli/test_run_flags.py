"""``launcher run`` flags, each checked from inside the container by a tiny probe."""

from __future__ import annotations

import os
import resource

import pytest

from .conftest import Cli

pytestmark = pytest.mark.root

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# podman's 11: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
# NET_BIND_SERVICE SYS_CHROOT SETFCAP
PODMAN_CAPS = "00000000800405fb"
CG = "/sys/fs/cgroup"


def probe(cli: Cli, *flags: str, script: str, env: dict[str, str] | None = None) -> str:
    """Run ``sh -c script`` with ``flags``; its stdout (the run must succeed)."""
    res = cli.run("run", "--rm", *flags, "busybox", "sh", "-c", script, env=env)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_env_flags_and_image_path(cli: Cli) -> None:
    out = probe(
        cli,
        "-e",
        "A=1",
        "-e",
        "B",
        "-e",
        "UNSET_HERE",
        script="env",
        env={"B": "from caller", "UNSET_HERE": ""},
    )
    lines = out.splitlines()
    assert "A=1" in lines
    assert "B=from caller" in lines
    assert DEFAULT_PATH in lines
    assert "UNSET_HERE=" in lines  # set (if empty) in the caller: passed on


def test_bare_env_unset_in_caller_is_dropped(cli: Cli) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NOT_SET_ANYWHERE"}
    res = cli.run("run", "--rm", "-e", "NOT_SET_ANYWHERE", "busybox", "env", env=env)
    assert res.returncode == 0
    assert "NOT_SET_ANYWHERE" not in res.stdout


def test_default_env_has_hostname_and_no_term(cli: Cli) -> None:
    out = probe(cli, script='echo "$HOSTNAME"; hostname; echo "${TERM-unset}"')
    name, hostname, term = out.splitlines()
    assert name == hostname and len(name) == 12
    assert term == "unset"


def test_workdir(cli: Cli) -> None:
    assert probe(cli, "-w", "/tmp", script="pwd") == "/tmp\n"


def test_default_workdir_is_root(cli: Cli) -> None:
    assert probe(cli, script="pwd") == "/\n"


def test_missing_workdir_is_created(cli: Cli) -> None:
    """Docker (and podman) create a missing working directory in the container."""
    res = cli.run("run", "--rm", "-w", "/newdir/sub", "busybox", "sh", "-c", "pwd; ls -d /newdir")
    assert (res.returncode, res.stdout) == (0, "/newdir/sub\n/newdir\n"), res.stderr


def test_user_numeric(cli: Cli) -> None:
    assert probe(cli, "-u", "1000:1000", script="id").split() == ["uid=1000", "gid=1000"]


def test_user_uid_only_gets_gid_0(cli: Cli) -> None:
    assert probe(cli, "-u", "1000", script="id -u; id -g").split() == ["1000", "0"]


def test_user_name(cli: Cli) -> None:
    out = probe(cli, "-u", "nobody", script="id")
    assert out.startswith("uid=65534(nobody) gid=65534(nobody)"), out


def test_non_root_user_has_no_effective_caps(cli: Cli) -> None:
    out = probe(cli, "-u", "1000", script="grep -E '^Cap(Eff|Prm)' /proc/self/status")
    assert out.split() == ["CapPrm:", "0" * 16, "CapEff:", "0" * 16]


@pytest.mark.parametrize("flag", ["--hostname", "-h"])
def test_hostname(cli: Cli, flag: str) -> None:
    out = probe(cli, flag, "box.example", script='hostname; echo "$HOSTNAME"')
    assert out == "box.example\nbox.example\n"


def test_entrypoint(cli: Cli) -> None:
    res = cli.run("run", "--rm", "--entrypoint", "/bin/echo", "busybox", "a", "b")
    assert (res.returncode, res.stdout) == (0, "a b\n")


def test_read_only_root(cli: Cli) -> None:
    """As Docker: / and /tmp are read-only (no tmpfs unless asked); /dev stays writable."""
    script = "touch /x; echo root=$?; touch /tmp/x; echo tmp=$?; touch /dev/shm/x; echo shm=$?"
    out = probe(cli, "--read-only", script=script)
    assert out.split() == ["root=1", "tmp=1", "shm=0"]


def test_writable_root_by_default(cli: Cli) -> None:
    assert probe(cli, script="touch /x /tmp/x && echo ok") == "ok\n"


def test_memory_limit(cli: Cli) -> None:
    out = probe(cli, "--memory", "64m", script=f"cat {CG}/memory/memory.limit_in_bytes")
    assert out == "67108864\n"


def test_cpus(cli: Cli) -> None:
    script = f"cat {CG}/cpu/cpu.cfs_quota_us {CG}/cpu/cpu.cfs_period_us"
    assert probe(cli, "--cpus", "0.5", script=script).split() == ["50000", "100000"]


def test_pids_limit(cli: Cli) -> None:
    assert probe(cli, "--pids-limit", "50", script=f"cat {CG}/pids/pids.max") == "50\n"


def test_default_pids_limit(cli: Cli) -> None:
    assert probe(cli, script=f"cat {CG}/pids/pids.max") == "2048\n"


def test_cgroup_namespace_is_private(cli: Cli) -> None:
    out = probe(cli, script="cat /proc/self/cgroup")
    assert all(line.endswith(":/") for line in out.splitlines()), out


def test_network_none_has_only_loopback_up(cli: Cli) -> None:
    out = probe(cli, "--network", "none", script="ls /sys/class/net; ip -o link")
    names, links = out.split("\n", 1)
    assert names == "lo"
    assert "<LOOPBACK,UP,LOWER_UP>" in links


def test_network_default_is_none(cli: Cli) -> None:
    assert probe(cli, script="ls /sys/class/net") == "lo\n"


def test_network_host_sees_host_interfaces(cli: Cli) -> None:
    out = probe(cli, "--network", "host", script="ls /sys/class/net")
    assert sorted(out.split()) == sorted(os.listdir("/sys/class/net"))


def test_capabilities_are_podmans_default(cli: Cli) -> None:
    out = probe(cli, script="grep -E '^(Cap|NoNewPrivs)' /proc/self/status")
    fields = dict(line.split(":\t") for line in out.splitlines())
    assert fields == {
        "CapInh": "0" * 16,
        "CapPrm": PODMAN_CAPS,
        "CapEff": PODMAN_CAPS,
        "CapBnd": PODMAN_CAPS,
        "CapAmb": "0" * 16,
        "NoNewPrivs": "1",
    }


def test_command_is_pid_1(cli: Cli) -> None:
    assert probe(cli, script="echo $$") == "1\n"


def test_nofile_rlimit(cli: Cli) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    want = 1048576 if hard == resource.RLIM_INFINITY else min(1048576, hard)
    assert probe(cli, script="ulimit -n; ulimit -Hn").split() == [str(want), str(want)]


def test_cap_add_and_drop(cli: Cli) -> None:
    only = cli.run("run", "--rm", "--cap-drop", "ALL", "--cap-add", "net_bind_service",
                   "busybox", "grep", "CapBnd", "/proc/self/status")
    assert only.stdout.split() == ["CapBnd:", "0000000000000400"], only.stderr
    no_chown = cli.run("run", "--rm", "--cap-drop", "CHOWN", "busybox", "chown", "1", "/tmp")
    assert no_chown.returncode == 1 and "not permitted" in no_chown.stderr
    added = cli.run("run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "grep", "CapEff",
                    "/proc/self/status")
    assert int(added.stdout.split()[1], 16) & (1 << 21)  # CAP_SYS_ADMIN is bit 21
    bad = cli.run("run", "--rm", "--cap-add", "nope", "busybox", "true")
    assert bad.returncode == 125 and "--cap-add" in bad.stderr
