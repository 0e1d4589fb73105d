import pytest

from launcher.backend.linux import namespaces
from launcher.backend.linux import syscalls as sc
from launcher.errors import ConfigError
from launcher.spec.model import Spec


def _spec(nss: list[dict[str, str]]) -> Spec:
    return Spec.from_json({"ociVersion": "1.2.0", "linux": {"namespaces": nss}})


def test_new_namespaces_become_one_flag_word() -> None:
    p = namespaces.plan(_spec([{"type": "pid"}, {"type": "mount"}, {"type": "network"}]))
    assert p.new_flags == sc.CLONE_NEWPID | sc.CLONE_NEWNS | sc.CLONE_NEWNET
    assert p.joins == []
    assert p.needs_fork


def test_joins_are_ordered_user_first_mount_last() -> None:
    p = namespaces.plan(_spec([
        {"type": "mount", "path": "/m"}, {"type": "network", "path": "/n"},
        {"type": "user", "path": "/u"}, {"type": "uts"},
    ]))
    assert [t for t, _ in p.joins] == ["user", "network", "mount"]
    assert p.new_types == ["uts"]
    assert not p.needs_fork
    assert p.has("network") and not p.creates("network")


def test_joining_a_pid_namespace_still_needs_a_fork() -> None:
    assert namespaces.plan(_spec([{"type": "pid", "path": "/proc/1/ns/pid"}])).needs_fork


def test_unknown_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        namespaces.plan(_spec([{"type": "bogus"}]))


def test_join_all_calls_setns_in_order(tmp_path, rec) -> None:  # type: ignore[no-untyped-def]
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("")
    b.write_text("")
    namespaces.join_all(rec, [("user", str(a)), ("network", str(b))])  # type: ignore[arg-type]
    assert [c[1][1] for c in rec.calls] == [sc.CLONE_NEWUSER, sc.CLONE_NEWNET]
