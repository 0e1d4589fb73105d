import os

import pytest

from launcher.backend.linux import state as st_mod
from launcher.backend.linux.state import ContainerState, check_id, claim
from launcher.errors import ConflictError, NotFoundError, StateError, UsageError


@pytest.mark.parametrize("cid", ["a", "abc-1.2_3", "A" * 64])
def test_valid_ids(cid: str) -> None:
    assert check_id(cid) == cid


@pytest.mark.parametrize("cid", ["", "../x", "a/b", "-a", ".a", "a..b", "a b", "é"])
def test_invalid_ids(cid: str) -> None:
    with pytest.raises(UsageError):
        check_id(cid)


def test_claim_is_exclusive(tmp_path) -> None:  # type: ignore[no-untyped-def]
    claim(str(tmp_path), "c1")
    with pytest.raises(ConflictError, match="already exists"):
        claim(str(tmp_path), "c1")


def test_save_load_roundtrip_and_private_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = claim(str(tmp_path), "c1")
    s = ContainerState("c1", d)
    s.pid, s.pid_start, s.bundle = os.getpid(), st_mod.procinfo.start_time(os.getpid()), "/b"
    s.spec = {"annotations": {"k": "v"}}
    s.save()
    assert os.stat(os.path.join(d, "state.json")).st_mode & 0o777 == 0o600
    back = ContainerState.load(str(tmp_path), "c1")
    assert back.to_json() == s.to_json()
    assert back.status(frozen=False) == "running"
    oci = back.oci_state()
    assert oci["status"] == "running" and oci["pid"] == os.getpid()
    assert oci["annotations"] == {"k": "v"}


def test_recycled_pid_is_stopped(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = ContainerState("c1", claim(str(tmp_path), "c1"))
    s.pid, s.pid_start = os.getpid(), 1  # our pid, but not our start time
    assert s.status() == "stopped"
    assert "pid" not in s.oci_state()


def test_created_when_fifo_exists(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = claim(str(tmp_path), "c1")
    s = ContainerState("c1", d)
    s.pid, s.pid_start = os.getpid(), None
    os.mkfifo(os.path.join(d, "exec.fifo"))
    assert s.status() == "created"


def test_missing_and_corrupt_state(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFoundError):
        ContainerState.load(str(tmp_path), "nope")
    d = claim(str(tmp_path), "c1")
    with pytest.raises(StateError, match="no state file"):
        ContainerState.load(str(tmp_path), "c1")
    with open(os.path.join(d, "state.json"), "w") as f:
        f.write('{"pid": 12')  # truncated
    with pytest.raises(StateError) as e:
        ContainerState.load(str(tmp_path), "c1")
    assert os.path.join(d, "state.json") in str(e.value) and "delete --force" in str(e.value)
