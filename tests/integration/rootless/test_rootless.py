"""The container lifecycle as an ordinary user (see conftest.py)."""

from __future__ import annotations

import os
import stat

from tests.integration.rootless.conftest import Rootless


def test_run_maps_root_to_the_user_and_the_rest_to_subordinate_ids(rl: Rootless) -> None:
    res = rl.run("run", "--rm", "busybox", "sh", "-c",
                 "id -u; cat /proc/self/uid_map /proc/self/gid_map")
    assert res.returncode == 0, res.stderr
    lines = [line.split() for line in res.stdout.splitlines()]
    assert lines[0] == ["0"]
    want = [["0", str(rl.uid), "1"], ["1", str(rl.sub_start), str(min(rl.sub_count, 65536) - 1)]]
    assert lines[1:3] == want
    assert lines[3:5] == [["0", str(rl.pw.pw_gid), "1"], want[1]]


def test_storage_and_state_live_in_the_users_dirs(rl: Rootless) -> None:
    res = rl.run("run", "--rm", "busybox", "true")
    assert res.returncode == 0, res.stderr
    assert (rl.storage / "images.json").is_file()
    assert rl.storage.stat().st_uid == rl.uid
    runtime = rl.state.parent
    st = runtime.stat()
    assert st.st_uid == rl.uid and stat.S_IMODE(st.st_mode) == 0o700


def test_detached_lifecycle(rl: Rootless) -> None:
    res = rl.run("run", "-d", "--name", "svc", "busybox", "sh", "-c",
                 "echo started; exec sleep 300")
    assert res.returncode == 0, res.stderr
    cid = res.stdout.strip()
    try:
        ps = rl.run("ps", "--format", "json")
        assert ps.returncode == 0, ps.stderr
        assert [(c["Names"], c["State"]) for c in _rows(ps.stdout)] == [("svc", "running")]
        ex = rl.run("exec", "svc", "sh", "-c", "id -u; cat /proc/1/cmdline | tr '\\0' ' '")
        assert ex.returncode == 0, ex.stderr
        assert ex.stdout.splitlines() == ["0", "sleep 300 "]
        logs = rl.run("logs", "svc")
        assert logs.stdout == "started\n", logs.stderr
        stop = rl.run("stop", "-t", "1", "svc")
        assert stop.returncode == 0, stop.stderr
        ps = rl.run("ps", "-a", "--format", "json")
        assert [(c["Names"], c["State"]) for c in _rows(ps.stdout)] == [("svc", "exited")]
        top = rl.run("inspect", "svc")
        assert top.returncode == 0, top.stderr
    finally:
        rm = rl.run("rm", "-f", "svc")
    assert rm.returncode == 0, rm.stderr
    assert cid not in rl.run("ps", "-a", "--no-trunc").stdout


def _rows(text: str) -> list[dict[str, object]]:
    import json

    data = json.loads(text)
    return data if isinstance(data, list) else [data]


def test_files_of_subordinate_ids_are_removed_with_the_container(rl: Rootless) -> None:
    # uid 1000 inside is a subordinate id outside: the user alone could not
    # delete it from the sticky /tmp of the container's upper layer.
    res = rl.run("run", "--name", "writer", "--user", "1000:1000", "busybox", "sh", "-c",
                 "mkdir /tmp/d && touch /tmp/d/f /tmp/f && chmod 700 /tmp/d")
    assert res.returncode == 0, res.stderr
    upper = [p for p in (rl.storage / "containers").glob("*/upper/tmp/f")]
    assert len(upper) == 1 and upper[0].stat().st_uid == rl.sub_start + 999
    rm = rl.run("rm", "writer")
    assert rm.returncode == 0, rm.stderr
    assert not upper[0].exists()


def test_keep_id_keeps_the_callers_ids(rl: Rootless, tmp_path: object) -> None:
    shared = rl.home / "shared"
    rl.sh(f"mkdir -p {shared}")
    res = rl.run("run", "--rm", "--userns", "keep-id", "-v", f"{shared}:/data", "busybox",
                 "sh", "-c", "id -u; id -g; touch /data/made")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [str(rl.uid), str(rl.pw.pw_gid)]
    assert (shared / "made").stat().st_uid == rl.uid
    rl.sh(f"rm -rf {shared}")


def test_host_and_none_networks(rl: Rootless) -> None:
    res = rl.run("run", "--rm", "--network", "none", "busybox", "sh", "-c", "ls /sys/class/net")
    assert (res.returncode, res.stdout.split()) == (0, ["lo"]), res.stderr
    res = rl.run("run", "--rm", "--network", "host", "busybox", "sh", "-c", "ls /sys/class/net")
    assert res.returncode == 0, res.stderr
    assert sorted(res.stdout.split()) == sorted(os.listdir("/sys/class/net"))


def test_limits_without_delegated_cgroups_warn_and_run(rl: Rootless) -> None:
    res = rl.run("run", "--rm", "-m", "64m", "--pids-limit", "50", "busybox", "true")
    assert res.returncode == 0, res.stderr
    assert res.stderr.startswith("launcher: warning: --memory, --pids-limit ignored: no cgroup "
                                 "is delegated to this user")


def test_rootless_refusals_are_one_line_errors(rl: Rootless) -> None:
    res = rl.run("run", "--rm", "--userns", "host", "busybox", "true")
    assert res.returncode == 125
    assert res.stderr.startswith("launcher: --userns host: an unprivileged user cannot")
    assert len(res.stderr.splitlines()) == 1
    res = rl.run("run", "--rm", "--network", "bridge", "busybox", "true")
    assert res.returncode == 125
    assert len(res.stderr.splitlines()) == 1, res.stderr


def test_capabilities_are_the_default_set_inside_the_namespace(rl: Rootless) -> None:
    res = rl.run("run", "--rm", "busybox", "sh", "-c", "grep -E '^(CapEff|NoNewPrivs|Seccomp):'"
                 " /proc/self/status")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["CapEff:", "00000000800405fb", "NoNewPrivs:", "1",
                                  "Seccomp:", "2"]
