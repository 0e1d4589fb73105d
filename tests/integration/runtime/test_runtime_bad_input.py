"""Bad bundles and ids: one error line on stderr, status 1, and nothing left behind
(no state dir under --root, no cgroup, no mount)."""

from __future__ import annotations

import os
import shutil

import pytest

pytestmark = pytest.mark.root


def create_fails(bundle, rt, tmp_path, cid: str | None = None) -> str:
    """``create`` must fail cleanly; returns the error line."""
    cid = rt.new_id() if cid is None else cid
    err = rt.fails("create", "--bundle", str(bundle.path), cid)
    assert rt.leftovers(cid) == []
    assert rt.mounts_under(tmp_path) == []
    assert not rt.root.exists() or os.listdir(rt.root) == []
    return err


def test_missing_rootfs(bundle, rt, tmp_path):
    shutil.rmtree(bundle.rootfs)
    bundle.write()
    assert "rootfs" in create_fails(bundle, rt, tmp_path)


def test_missing_config(bundle, rt, tmp_path):
    assert "config.json" in create_fails(bundle, rt, tmp_path)


def test_config_not_json(bundle, rt, tmp_path):
    (bundle.path / "config.json").write_text("{not json")
    assert "config.json" in create_fails(bundle, rt, tmp_path)


def test_config_wrong_type(bundle, rt, tmp_path):
    bundle.process["args"] = "sh"
    bundle.write()
    assert "args" in create_fails(bundle, rt, tmp_path)


def test_unknown_capability(bundle, rt, tmp_path):
    bundle.process["capabilities"]["bounding"].append("CAP_NO_SUCH_THING")
    bundle.write()
    assert "CAP_NO_SUCH_THING" in create_fails(bundle, rt, tmp_path)


def test_duplicate_id_leaves_the_first_alone(bundle, rt, tmp_path):
    cid = bundle.create("sleep 1000")
    before = rt.state(cid)
    err = rt.fails("create", "--bundle", str(bundle.path), cid)
    assert cid in err
    assert rt.state(cid) == before
    assert os.path.isdir(rt.cgroup_dir("pids", rt.default_cgroup(cid)))
    rt.ok("start", cid)
    assert rt.status(cid) == "running"


@pytest.mark.parametrize("kind", ["symlink", "file"])
@pytest.mark.parametrize("name", ["proc", "sys"])
def test_proc_or_sys_not_a_directory(bundle, rt, tmp_path, name, kind):
    """SECURITY.md rule 5: /proc and /sys in the image must be plain directories."""
    path = bundle.rootfs / name
    path.rmdir()
    if kind == "symlink":
        path.symlink_to("/")
    else:
        path.write_text("")
    bundle.set_script("true")
    bundle.write()
    assert f"/{name}" in create_fails(bundle, rt, tmp_path)


@pytest.mark.parametrize("args", [["/bin/no-such-command"], ["no-such-command"]])
def test_missing_executable(bundle, rt, tmp_path, args):
    bundle.process["args"] = args
    bundle.write()
    assert "no-such-command" in create_fails(bundle, rt, tmp_path)


def test_bind_mount_source_missing(bundle, rt, tmp_path):
    missing = tmp_path / "no-such-dir"
    bundle.config["mounts"].append(
        {"destination": "/data", "type": "bind", "source": str(missing), "options": ["rbind"]}
    )
    bundle.write()
    assert str(missing) in create_fails(bundle, rt, tmp_path)
    assert not missing.exists()


@pytest.mark.parametrize("cid", ["../x", "a/b", ".hidden", ""])
def test_invalid_id(bundle, rt, tmp_path, cid):
    bundle.write()
    err = create_fails(bundle, rt, tmp_path, cid)
    assert "invalid container id" in err
    assert not (tmp_path / "x").exists()
    assert not rt.root.exists() or os.listdir(rt.root) == []


def test_invalid_id_for_other_verbs(rt):
    for verb in ("state", "start", "kill", "delete", "exec"):
        err = rt.fails(verb, "../x", *(["true"] if verb == "exec" else []))
        assert "invalid container id" in err, verb
