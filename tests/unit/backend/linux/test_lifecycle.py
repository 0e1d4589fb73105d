from launcher.backend.linux.lifecycle import CreateOptions, Undo, cgroup_path_for
from launcher.spec.model import Spec


def test_undo_runs_in_reverse_and_survives_failures() -> None:
    done: list[str] = []
    u = Undo()
    u.add("a", lambda: done.append("a"))
    u.add("boom", lambda: 1 / 0)
    u.add("c", lambda: done.append("c"))
    u.rollback()
    assert done == ["c", "a"]
    assert u.steps == []


def test_cgroup_path_default_and_systemd() -> None:
    opts = CreateOptions()
    spec = Spec.from_json({"ociVersion": "1.2.0", "linux": {}})
    assert cgroup_path_for(spec, "x", opts) == "/launcher-runtime/x"
    spec = Spec.from_json({"ociVersion": "1.2.0",
                           "linux": {"cgroupsPath": "machine.slice:libpod:abc"}})
    opts.systemd_cgroup = True
    assert cgroup_path_for(spec, "x", opts) == "/machine.slice/libpod-abc.scope"
