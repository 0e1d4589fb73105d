import os
from pathlib import Path

from launcher.backend.linux.cgroups import delegation

SVC = "user.slice/user-1000.slice/user@1000.service"


def _tree(root: Path, uid: int) -> None:
    for rel in ("user.slice", "user.slice/user-1000.slice", SVC, f"{SVC}/app.slice",
                f"{SVC}/app.slice/term.scope"):
        (root / rel).mkdir(parents=True, exist_ok=True)
        (root / rel / "cgroup.procs").write_text("")
    (root / SVC / "cgroup.controllers").write_text("cpu memory pids\n")
    for rel in (SVC, f"{SVC}/app.slice", f"{SVC}/app.slice/term.scope"):
        os.chown(root / rel, uid, uid)
        os.chown(root / rel / "cgroup.procs", uid, uid)


def test_the_top_most_owned_ancestor_is_the_delegation(tmp_path: Path) -> None:
    uid = os.getuid()
    _tree(tmp_path, uid + 1 if uid == 0 else uid)
    owner = uid + 1 if uid == 0 else uid
    if uid == 0:
        # root may write anywhere; ownership is what decides
        found = delegation.find("v2", owner, str(tmp_path), f"0::/{SVC}/app.slice/term.scope\n")
    else:
        found = delegation.find("v2", uid, str(tmp_path), f"0::/{SVC}/app.slice/term.scope\n")
    assert found is not None
    assert found.path == f"/{SVC}"
    assert found.controllers == frozenset({"cpu", "memory", "pids"})


def test_nothing_delegated(tmp_path: Path) -> None:
    _tree(tmp_path, os.getuid())
    assert delegation.find("hybrid", os.getuid(), str(tmp_path), f"0::/{SVC}\n") is None
    assert delegation.find("v1", os.getuid(), str(tmp_path), "") is None
    # A login session's scope belongs to root: nothing above it is ours.
    assert delegation.find("v2", 4242, str(tmp_path), "0::/user.slice/session-1.scope\n") is None
    assert delegation.find("v2", 4242, str(tmp_path), "0::/../x\n") is None
