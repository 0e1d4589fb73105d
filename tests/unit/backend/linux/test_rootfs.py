import os

import pytest

from launcher.backend.linux import devices, rootfs
from launcher.backend.linux import syscalls as sc
from launcher.errors import RuntimeFailure
from launcher.spec.model import Mount, Spec


@pytest.fixture
def tree(tmp_path):  # type: ignore[no-untyped-def]
    r = tmp_path / "rootfs"
    for d in ("proc", "sys", "dev", "etc"):
        (r / d).mkdir(parents=True)
    fd = os.open(r, os.O_PATH | os.O_DIRECTORY)
    yield r, fd
    os.close(fd)


def _ctx(tmp_path) -> rootfs.RootfsContext:  # type: ignore[no-untyped-def]
    return rootfs.RootfsContext(str(tmp_path))


def test_proc_mount_goes_through_an_fd(rec, tree, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r, fd = tree
    m = Mount.from_json({"destination": "/proc", "type": "proc", "source": "proc",
                         "options": ["nosuid", "noexec", "nodev"]})
    rootfs.mount_one(rec, fd, m, _ctx(tmp_path))
    assert rec.calls == [("mount", ("proc", f"fd:{r}/proc", "proc",
                                    sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV, None))]


@pytest.mark.parametrize("kind", ["symlink", "file"])
def test_proc_must_be_a_plain_directory(rec, tree, tmp_path, kind) -> None:  # type: ignore[no-untyped-def]
    r, fd = tree
    os.rmdir(r / "proc")
    if kind == "symlink":
        os.symlink("/", r / "proc")
    else:
        (r / "proc").write_text("")
    m = Mount.from_json({"destination": "/proc", "type": "proc", "source": "proc"})
    with pytest.raises(RuntimeFailure, match="/proc"):
        rootfs.mount_one(rec, fd, m, _ctx(tmp_path))
    assert rec.calls == []


def test_bind_mount_creates_file_target_and_is_read_only_before_it_lands(
        rec, tree, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r, fd = tree
    src = tmp_path / "hostfile"
    src.write_text("x")
    m = Mount.from_json({"destination": "/etc/hostfile", "type": "bind", "source": str(src),
                         "options": ["rbind", "ro", "nosuid"]})
    rootfs.mount_one(rec, fd, m, _ctx(tmp_path))
    assert (r / "etc" / "hostfile").is_file()
    # a detached copy, made read-only, then attached to the fd: no path looked up again
    assert rec.calls == [
        ("open_tree", (str(src), sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC | sc.AT_RECURSIVE)),
        ("mount_setattr", (f"fd:{src}", "", sc.AT_EMPTY_PATH | sc.AT_RECURSIVE,
                           sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOSUID, 0, 0)),
        ("move_mount", (f"fd:{src}", "", f"fd:{r}/etc/hostfile", "",
                        sc.MOVE_MOUNT_F_EMPTY_PATH | sc.MOVE_MOUNT_T_EMPTY_PATH)),
    ]


def test_bind_source_missing(rec, tree, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _r, fd = tree
    m = Mount.from_json({"destination": "/x", "type": "bind", "source": "/no/such/src",
                         "options": ["bind"]})
    with pytest.raises(RuntimeFailure, match="/no/such/src"):
        rootfs.mount_one(rec, fd, m, _ctx(tmp_path))


def test_mount_failure_names_destination(tree, tmp_path, failing_sys) -> None:  # type: ignore[no-untyped-def]
    _r, fd = tree
    failing = failing_sys(fail={"mount": 22})
    m = Mount.from_json({"destination": "/data", "type": "tmpfs", "source": "tmpfs"})
    with pytest.raises(RuntimeFailure, match="/data"):
        rootfs.mount_one(failing, fd, m, _ctx(tmp_path))


def test_devices_are_created_with_mknod(rec, tree, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    r, fd = tree
    made: list[tuple[str, int, int]] = []

    def fake_mknod(name: str, mode: int, dev: int, dir_fd: int) -> None:
        made.append((name, os.major(dev), os.minor(dev)))
        os.close(os.open(name, os.O_CREAT | os.O_WRONLY, dir_fd=dir_fd))

    monkeypatch.setattr(os, "mknod", fake_mknod)
    monkeypatch.setattr(os, "chown", lambda *a, **k: None)
    spec = Spec.from_json({"ociVersion": "1.2.0", "linux": {"devices": [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]}})
    devices.make_devices(rec, fd, spec, in_userns=False)
    assert ("null", 1, 3) in made and ("fuse", 10, 229) in made
    assert os.readlink(r / "dev" / "fd") == "/proc/self/fd"
    assert os.readlink(r / "dev" / "ptmx") == "pts/ptmx"


def test_device_rules_add_the_defaults() -> None:
    spec = Spec.from_json({"ociVersion": "1.2.0", "linux": {"resources": {"devices": [
        {"allow": False, "access": "rwm"}]}}})
    rules = devices.device_rules(spec)
    assert rules[0].allow is False  # type: ignore[attr-defined]
    assert any(getattr(r, "major", None) == 1 and getattr(r, "minor", None) == 3
               for r in rules)
