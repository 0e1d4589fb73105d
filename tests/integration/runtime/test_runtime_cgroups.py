"""linux.resources in the real cgroup tree, seen from the host and from inside;
``update``, ``pause``/``resume``, ``ps`` and ``kill --all``."""

from __future__ import annotations

import json
import os
import secrets

import pytest

from launcher import host

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        host.cgroup_layout("/sys/fs/cgroup") not in ("v1", "hybrid"),
        reason="these tests read cgroup v1 controller files",
    ),
]

MiB = 1024 * 1024

# (resources fragment, controller, file, expected content)
LIMITS = [
    ({"memory": {"limit": 64 * MiB}}, "memory", "memory.limit_in_bytes", str(64 * MiB)),
    ({"cpu": {"shares": 512}}, "cpu", "cpu.shares", "512"),
    ({"cpu": {"quota": 20000, "period": 50000}}, "cpu", "cpu.cfs_quota_us", "20000"),
    ({"cpu": {"quota": 20000, "period": 50000}}, "cpu", "cpu.cfs_period_us", "50000"),
    ({"cpu": {"cpus": "0", "mems": "0"}}, "cpuset", "cpuset.cpus", "0"),
    ({"pids": {"limit": 42}}, "pids", "pids.max", "42"),
]


@pytest.mark.parametrize(
    ("resources", "ctrl", "name", "want"), LIMITS, ids=[f"{c}/{n}" for _r, c, n, _w in LIMITS]
)
def test_limit_seen_from_host_and_inside(bundle, rt, tmp_path, resources, ctrl, name, want):
    bundle.resources.update(resources)
    out = tmp_path / "out"
    cid = bundle.create(f"cat /sys/fs/cgroup/{ctrl}/{name}", stdout_path=out)
    assert rt.read_cgroup(ctrl, rt.default_cgroup(cid), name) == want
    rt.ok("start", cid)
    rt.wait_stopped(cid)
    assert out.read_text() == want + "\n"


def test_custom_cgroups_path(bundle, rt):
    path = f"/lrt-custom-{secrets.token_hex(4)}"
    rt.cgroup_paths.append(path)
    bundle.linux["cgroupsPath"] = path
    bundle.resources["pids"] = {"limit": 77}
    cid = bundle.start_sleeper()
    pid = rt.state(cid)["pid"]
    assert rt.read_cgroup("pids", path, "pids.max") == "77"
    assert str(pid) in rt.read_cgroup("pids", path, "cgroup.procs").split()
    assert not os.path.exists(rt.cgroup_dir("pids", rt.default_cgroup(cid)))
    rt.ok("delete", "--force", cid)
    assert rt.leftovers(cid, path) == []


def test_update_memory_and_pids(bundle, rt):
    bundle.resources["memory"] = {"limit": 64 * MiB}
    bundle.resources["pids"] = {"limit": 50}
    cid = bundle.start_sleeper()
    rt.ok("update", "--memory", str(96 * MiB), "--pids-limit", "60", cid)
    cg = rt.default_cgroup(cid)
    assert rt.read_cgroup("memory", cg, "memory.limit_in_bytes") == str(96 * MiB)
    assert rt.read_cgroup("pids", cg, "pids.max") == "60"


def test_update_resources_file(bundle, rt, tmp_path):
    cid = bundle.start_sleeper()
    res = tmp_path / "res.json"
    res.write_text(json.dumps({"cpu": {"shares": 300}, "pids": {"limit": 33}}))
    rt.ok("update", "--resources", str(res), cid)
    cg = rt.default_cgroup(cid)
    assert rt.read_cgroup("cpu", cg, "cpu.shares") == "300"
    assert rt.read_cgroup("pids", cg, "pids.max") == "33"


def test_update_resources_from_stdin(bundle, rt):
    cid = bundle.start_sleeper()
    rt.ok("update", "--resources", "-", cid, stdin=json.dumps({"memory": {"limit": 80 * MiB}}))
    assert rt.read_cgroup("memory", rt.default_cgroup(cid), "memory.limit_in_bytes") == str(
        80 * MiB
    )


def test_pause_and_resume(bundle, rt):
    cid = bundle.start_sleeper()
    cg = rt.default_cgroup(cid)
    rt.ok("pause", cid)
    assert rt.status(cid) == "paused"
    assert rt.read_cgroup("freezer", cg, "freezer.state") == "FROZEN"
    rt.fails("pause", cid)
    rt.ok("resume", cid)
    assert rt.status(cid) == "running"
    assert rt.read_cgroup("freezer", cg, "freezer.state") == "THAWED"
    rt.fails("resume", cid)


def test_delete_force_of_a_paused_container(bundle, rt):
    cid = bundle.start_sleeper()
    rt.ok("pause", cid)
    rt.ok("delete", "--force", cid)
    assert rt.leftovers(cid) == []


def test_ps_json_lists_the_pids(bundle, rt):
    cid = bundle.start_sleeper("sleep 1000 & exec sleep 1001")
    cg = rt.default_cgroup(cid)
    rt.wait_for(
        lambda: len(rt.read_cgroup("pids", cg, "cgroup.procs").split()) == 2, "both sleeps to start"
    )
    pids = json.loads(rt.ok("ps", "--format", "json", cid))
    assert rt.state(cid)["pid"] in pids
    assert sorted(pids) == sorted(
        int(p) for p in rt.read_cgroup("pids", cg, "cgroup.procs").split()
    )


def test_kill_all(bundle, rt):
    cid = bundle.start_sleeper("sleep 1000 & sleep 1001 & exec sleep 1002")
    cg = rt.default_cgroup(cid)
    rt.wait_for(
        lambda: len(rt.read_cgroup("pids", cg, "cgroup.procs").split()) == 3,
        "three sleeps to start",
    )
    rt.ok("kill", "--all", cid, "KILL")
    rt.wait_for(lambda: rt.read_cgroup("pids", cg, "cgroup.procs") == "", "the cgroup to empty")
    assert rt.status(cid) == "stopped"
