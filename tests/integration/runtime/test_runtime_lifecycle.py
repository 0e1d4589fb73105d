"""create/start/state/kill/delete, list, run's exit codes, and hooks."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

SCHEMA_DIR = Path("/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema")


def validate_state(state: dict) -> None:
    """Check ``state`` against the runtime-spec's state-schema.json (skip if absent)."""
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    from referencing.jsonschema import DRAFT4

    if not (SCHEMA_DIR / "state-schema.json").exists():
        pytest.skip(f"no runtime-spec schema in {SCHEMA_DIR}")
    schema = json.loads((SCHEMA_DIR / "state-schema.json").read_text())
    defs = json.loads((SCHEMA_DIR / "defs.json").read_text())
    registry = referencing.Registry().with_resource("defs.json", DRAFT4.create_resource(defs))
    jsonschema.Draft4Validator(schema, registry=registry).validate(state)


def test_lifecycle(bundle, rt, tmp_path):
    pid_file = tmp_path / "pid"
    cid = bundle.create("sleep 1000", "--pid-file", str(pid_file))

    st = rt.state(cid)
    validate_state(st)
    assert (st["id"], st["status"], st["bundle"]) == (cid, "created", str(bundle.path))
    assert st["pid"] > 0 and os.path.exists(f"/proc/{st['pid']}")
    assert pid_file.read_text().strip() == str(st["pid"])

    rt.ok("start", cid)
    st = rt.state(cid)
    validate_state(st)
    assert st["status"] == "running"

    rt.ok("kill", cid, "KILL")
    rt.wait_stopped(cid)
    validate_state(rt.state(cid))

    rt.ok("delete", cid)
    assert "does not exist" in rt.fails("state", cid)
    assert rt.leftovers(cid) == []


def test_kill_with_signal_number_and_default(bundle, rt):
    # A trap makes pid 1 of the namespace take SIGTERM; the default signal is TERM.
    cid = bundle.start_sleeper("trap 'exit 0' TERM; while :; do sleep 1; done")
    rt.ok("kill", cid)
    rt.wait_stopped(cid)
    cid2 = bundle.start_sleeper()
    rt.ok("kill", cid2, "9")
    rt.wait_stopped(cid2)


def test_kill_of_a_stopped_container_fails(bundle, rt):
    cid = bundle.start_sleeper("true")
    rt.wait_stopped(cid)
    rt.fails("kill", cid, "KILL")


def test_list(bundle, rt):
    created = bundle.create("sleep 1000")
    running = bundle.start_sleeper()
    table = rt.ok("list").splitlines()
    assert table[0].split()[:3] == ["ID", "PID", "STATUS"]
    rows = {ln.split()[0]: ln.split()[2] for ln in table[1:]}
    assert rows == {created: "created", running: "running"}

    entries = json.loads(rt.ok("list", "--format", "json"))
    by_id = {e["id"]: e for e in entries}
    assert set(by_id) == {created, running}
    assert by_id[running]["status"] == "running"
    assert by_id[running]["pid"] == rt.state(running)["pid"]
    assert by_id[created]["bundle"] == str(bundle.path)

    assert sorted(rt.ok("list", "-q").split()) == sorted([created, running])


def test_list_of_an_empty_root(rt):
    assert json.loads(rt.ok("list", "--format", "json") or "[]") == []


@pytest.mark.parametrize(("script", "code"), [("true", 0), ("false", 1), ("exit 3", 3)])
def test_run_exit_code(bundle, rt, script, code):
    res = bundle.run(script)
    assert res.returncode == code, res
    assert rt.root.exists() is False or os.listdir(rt.root) == []


def test_run_missing_command_is_127(bundle, rt):
    bundle.process["args"] = ["/bin/no-such-command"]
    res = bundle.run()
    assert res.returncode == 127, res
    assert "no-such-command" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_run_command_not_in_path_is_127(bundle):
    bundle.process["args"] = ["no-such-command"]
    res = bundle.run()
    assert res.returncode == 127, res
    assert "no-such-command" in res.stderr


def test_run_non_executable_file_is_126(bundle):
    (bundle.rootfs / "bin" / "script").write_text("#!/bin/sh\necho hi\n")
    (bundle.rootfs / "bin" / "script").chmod(0o644)
    bundle.process["args"] = ["/bin/script"]
    res = bundle.run()
    assert res.returncode == 126, res
    assert "/bin/script" in res.stderr


def test_run_killed_is_128_plus_signal(bundle, rt):
    bundle.set_script("sleep 1000")
    bundle.write()
    cid = rt.new_id()
    proc = subprocess.Popen(
        rt.argv("run", "--bundle", str(bundle.path), cid),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    try:
        rt.wait_for(lambda: rt("state", cid).stdout.count('"running"') == 1, "the container to run")
        rt.ok("kill", cid, "KILL")
        assert proc.wait(timeout=20) == 128 + 9
    finally:
        proc.kill()
        proc.wait()
    assert rt.leftovers(cid) == []  # run deletes what it made


def test_run_detached(bundle, rt):
    bundle.set_script("sleep 1000")
    bundle.write()
    cid = rt.new_id()
    rt.ok("run", "-d", "--bundle", str(bundle.path), cid)
    assert rt.status(cid) == "running"


def test_delete_running_needs_force(bundle, rt):
    cid = bundle.start_sleeper()
    err = rt.fails("delete", cid)
    assert cid in err
    assert rt.status(cid) == "running"
    rt.ok("delete", "--force", cid)
    assert rt.leftovers(cid) == []


def test_delete_force_of_a_created_container(bundle, rt):
    cid = bundle.create("sleep 1000")
    pid = rt.state(cid)["pid"]
    rt.ok("delete", "--force", cid)
    assert rt.leftovers(cid) == []
    assert not os.path.exists(f"/proc/{pid}/ns") or _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_start_twice_fails(bundle, rt):
    cid = bundle.start_sleeper()
    rt.fails("start", cid)
    assert rt.status(cid) == "running"


def test_unknown_container(rt):
    for verb in ("state", "start", "kill", "delete", "pause", "resume", "ps"):
        err = rt.fails(verb, "lrt-nope")
        assert "lrt-nope" in err, verb


def hook(out: Path) -> dict:
    return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}"],
            "env": ["PATH=/usr/bin:/bin"]}  # fmt: skip


def test_hooks_get_the_state(bundle, rt, tmp_path):
    phases = ("prestart", "createRuntime", "poststart", "poststop")
    bundle.config["hooks"] = {p: [hook(tmp_path / f"{p}.json")] for p in phases}
    cid = bundle.create("sleep 1000")
    pid = rt.state(cid)["pid"]
    for phase in ("prestart", "createRuntime"):
        got = json.loads((tmp_path / f"{phase}.json").read_text())
        assert (got["id"], got["pid"], got["bundle"]) == (cid, pid, str(bundle.path)), phase
    assert not (tmp_path / "poststart.json").exists()
    rt.ok("start", cid)
    got = json.loads((tmp_path / "poststart.json").read_text())
    assert (got["id"], got["pid"]) == (cid, pid)
    rt.ok("kill", cid, "KILL")
    rt.wait_stopped(cid)
    rt.ok("delete", cid)
    got = json.loads((tmp_path / "poststop.json").read_text())
    assert got["id"] == cid
    assert got["status"] == "stopped"


def test_failing_prestart_hook_aborts_create(bundle, rt, tmp_path):
    bundle.config["hooks"] = {
        "prestart": [{"path": "/bin/false"}],
        "poststart": [hook(tmp_path / "poststart.json")],
    }
    bundle.set_script("sleep 1000")
    bundle.write()
    cid = rt.new_id()
    err = rt.fails("create", "--bundle", str(bundle.path), cid)
    assert "prestart" in err
    assert rt.leftovers(cid) == []
    assert rt.mounts_under(tmp_path) == []
    assert "does not exist" in rt.fails("state", cid)


def test_spec_writes_a_runnable_default(bundle, rt):
    rt.ok("spec", "--bundle", str(bundle.path))
    config = json.loads((bundle.path / "config.json").read_text())
    assert config["process"]["args"] == ["sh"]
    assert config["root"] == {"path": "rootfs", "readonly": True}
    config["process"]["args"] = ["sh", "-c", "echo from-spec"]
    bundle.config = config
    assert bundle.probe("echo from-spec") == "from-spec\n"


def test_spec_refuses_to_overwrite(bundle, rt):
    bundle.write()
    before = (bundle.path / "config.json").read_text()
    assert "config.json" in rt.fails("spec", "--bundle", str(bundle.path))
    assert (bundle.path / "config.json").read_text() == before


def test_features(rt):
    features = json.loads(rt.ok("features"))
    assert features["ociVersionMax"].startswith("1.")
    assert {"prestart", "poststop"} <= set(features["hooks"])
    linux = features.get("linux", {})
    if "namespaces" in linux:
        assert {"pid", "network", "mount", "user"} <= set(linux["namespaces"])


def test_error_log_json(rt, tmp_path):
    log = tmp_path / "runtime.log"
    res = rt("--log", str(log), "--log-format", "json", "state", "lrt-nope")
    assert res.returncode == 1
    record = json.loads(log.read_text().splitlines()[-1])
    assert record["level"] == "error"
    assert "lrt-nope" in record["msg"]
