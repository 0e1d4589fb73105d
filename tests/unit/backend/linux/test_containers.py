"""Container records, derived status and lookup (no root: fake runtime state)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from launcher.backend.linux import containers, procinfo
from launcher.backend.linux.record import ContainerRecord, now_rfc3339
from launcher.errors import ConflictError, NotFoundError, StateError
from launcher.paths import Paths


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths.from_root(str(tmp_path / "root"))


def make(paths: Paths, cid: str, name: str = "", *, started: bool = True,
         code: int | None = None) -> ContainerRecord:
    bundle = os.path.join(containers.bundles_dir(paths), cid)
    os.makedirs(bundle)
    rec = ContainerRecord(cid, bundle)
    rec.name, rec.image, rec.command = name, "busybox", ["true"]
    rec.created = now_rfc3339()
    rec.started_at = rec.created if started else ""
    rec.exit_code = code
    rec.save()
    if name:
        os.makedirs(os.path.join(paths.state, "names"), exist_ok=True)
        os.symlink(cid, os.path.join(paths.state, "names", name))
    return rec


def runtime_state(paths: Paths, cid: str, pid: int) -> None:
    d = os.path.join(containers.runtime_root(paths), cid)
    os.makedirs(d)
    with open(os.path.join(d, "state.json"), "w") as f:
        json.dump({"pid": pid, "pid_start": procinfo.start_time(pid), "spec": {}}, f)


def test_record_round_trip(paths: Paths) -> None:
    rec = make(paths, "a" * 64, "web", code=3)
    back = ContainerRecord.load(rec.bundle)
    assert back.to_json() == rec.to_json()
    assert oct(os.stat(rec.path).st_mode & 0o777) == "0o600"


def test_record_save_into_a_removed_bundle_is_quiet(tmp_path: Path) -> None:
    ContainerRecord("x", str(tmp_path / "gone")).save()


def test_status_is_derived(paths: Paths) -> None:
    make(paths, "a1", code=0)
    make(paths, "b2", started=False)
    make(paths, "c3")
    runtime_state(paths, "c3", os.getpid())  # a live pid with its start time: running
    make(paths, "d4")
    runtime_state(paths, "d4", 2**22 + 7)  # no such process: exited, never running
    status = {c.id: c.status for c in containers.list_all(paths)[0]}
    assert status == {"a1": "exited", "b2": "created", "c3": "running", "d4": "exited"}


def test_find_by_name_id_and_prefix(paths: Paths) -> None:
    make(paths, "abc123", "web")
    make(paths, "abd456")
    assert containers.find(paths, "web").id == "abc123"
    assert containers.find(paths, "abd").id == "abd456"
    assert containers.find(paths, "abc123").id == "abc123"
    with pytest.raises(ConflictError, match="multiple containers"):
        containers.find(paths, "ab")
    with pytest.raises(NotFoundError, match="No such container: zz"):
        containers.find(paths, "zz")


def test_corrupt_record(paths: Paths) -> None:
    rec = make(paths, "e5", "bad")
    with open(rec.path, "w") as f:
        f.write('{"command": 3}')
    found, problems = containers.list_all(paths)
    assert found == [] and rec.path in problems[0] and "rm -f e5" in problems[0]
    with pytest.raises(StateError):
        containers.find(paths, "e5")
    assert containers.find(paths, "e5", tolerant=True).id == "e5"
