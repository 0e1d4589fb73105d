from typing import Any

import pytest

from launcher.errors import UsageError
from launcher.spec import userns
from launcher.spec.defaults import default_linux, default_process

SUBUID = """# comment
alice:100000:65536
1001:300000:10
bob:200000:65536
bad:line
alice:500000:x
"""


def test_parse_subids_by_name_or_uid() -> None:
    assert userns.parse_subids(SUBUID, "alice", 1000) == [(100000, 65536)]
    assert userns.parse_subids(SUBUID, "carol", 1001) == [(300000, 10)]
    assert userns.parse_subids(SUBUID, "dave", 7) == []


def test_default_maps_root_to_the_user_then_subordinate_ids() -> None:
    assert userns.rootless_maps(1000, [(100000, 65536)], False) == [
        (0, 1000, 1), (1, 100000, 65535)]
    # Several ranges follow one another; the total stays below 65536 ids.
    assert userns.rootless_maps(1000, [(100000, 10), (200000, 100000)], False) == [
        (0, 1000, 1), (1, 100000, 10), (11, 200000, 65525)]
    assert userns.rootless_maps(1000, [], False) == [(0, 1000, 1)]


def test_keep_id_puts_the_user_at_its_own_id() -> None:
    assert userns.rootless_maps(1000, [(100000, 65536)], True) == [
        (0, 100000, 1000), (1000, 1000, 1), (1001, 101000, 64535)]
    assert userns.rootless_maps(1000, [(100000, 500), (200000, 65536)], True) == [
        (0, 100000, 500), (500, 200000, 500), (1000, 1000, 1), (1001, 200500, 64535)]
    assert userns.rootless_maps(1000, [], True) == [(1000, 1000, 1)]


def _rootless(monkeypatch: pytest.MonkeyPatch, text: str = SUBUID) -> None:
    monkeypatch.setattr(userns.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(userns.os, "getuid", lambda: 1000)
    monkeypatch.setattr(userns.os, "getgid", lambda: 1000)
    monkeypatch.setattr(userns, "_user_name", lambda _uid: "alice")
    monkeypatch.setattr(userns, "_read", lambda _path: text)


def test_apply_rootless_adds_a_user_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    _rootless(monkeypatch)
    linux, process = default_linux(), default_process()
    userns.apply(linux, process, "", user_given=False)
    assert [ns.type for ns in linux.namespaces or []][-1] == "user"
    maps: Any = linux.uid_mappings
    assert [(m.container_id, m.host_id, m.size) for m in maps] == [
        (0, 1000, 1), (1, 100000, 65535)]
    assert process.user is not None and process.user.uid == 0


def test_apply_keep_id_runs_as_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    _rootless(monkeypatch)
    linux, process = default_linux(), default_process()
    userns.apply(linux, process, "keep-id", user_given=False)
    assert process.user is not None and (process.user.uid, process.user.gid) == (1000, 1000)
    assert process.capabilities is not None and process.capabilities.effective == []


def test_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(userns.os, "geteuid", lambda: 0)
    with pytest.raises(UsageError, match="only for rootless"):
        userns.apply(default_linux(), default_process(), "keep-id", False)
    with pytest.raises(UsageError, match="expected host or keep-id"):
        userns.apply(default_linux(), default_process(), "auto", False)
    linux = default_linux()
    userns.apply(linux, default_process(), "host", False)  # root: nothing to add
    assert "user" not in [ns.type for ns in linux.namespaces or []]
    _rootless(monkeypatch)
    with pytest.raises(UsageError, match="cannot use the host's user namespace"):
        userns.apply(default_linux(), default_process(), "host", False)
