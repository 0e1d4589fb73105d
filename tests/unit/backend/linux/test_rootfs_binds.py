"""Binds made through the new mount API, and the checked fallback without it.

The race of runc CVE-2021-30465: a destination swapped for a symlink between
making a mount and setting its flags. Here the swap is made deterministic by a
recorder that renames the destination away the moment the mount is made.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from launcher.backend.linux import bindmount, fsroot, rootfs
from launcher.backend.linux import syscalls as sc
from launcher.errors import RuntimeFailure
from launcher.spec.model import Mount, Spec
from tests.unit.backend.linux.conftest import RecordingSyscalls

CLONE = sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC
EMPTY = sc.AT_EMPTY_PATH
MOVE = sc.MOVE_MOUNT_F_EMPTY_PATH | sc.MOVE_MOUNT_T_EMPTY_PATH


@pytest.fixture
def root(tmp_path: Path) -> Any:
    r = tmp_path / "rootfs"
    (r / "vol" / "mnt").mkdir(parents=True)
    (r / "dev").mkdir()
    (r / "proc").mkdir()
    fd = os.open(r, os.O_PATH | os.O_DIRECTORY)
    yield r, fd
    os.close(fd)


def _mount(dest: str, source: str, *options: str) -> Mount:
    return Mount.from_json({"destination": dest, "type": "bind", "source": source,
                            "options": list(options)})


def _setattrs(rec: RecordingSyscalls) -> list[tuple[Any, ...]]:
    return [a[2:] for n, a in rec.calls if n == "mount_setattr"]


def test_a_volume_gets_ro_and_propagation_in_one_call(
        rec: RecordingSyscalls, root: Any, tmp_path: Path) -> None:
    r, fd = root
    rootfs.mount_one(rec, fd, _mount("/vol/mnt", str(tmp_path), "rbind", "ro", "rprivate"),
                     rootfs.RootfsContext(str(tmp_path)))
    assert rec.names() == ["open_tree", "mount_setattr", "move_mount"]
    assert rec.calls[0][1] == (str(tmp_path), CLONE | sc.AT_RECURSIVE)
    assert _setattrs(rec) == [(EMPTY | sc.AT_RECURSIVE, sc.MOUNT_ATTR_RDONLY, 0, sc.MS_PRIVATE)]
    assert rec.calls[2][1][2:] == (f"fd:{r}/vol/mnt", "", MOVE)


def test_plain_bind_sets_nothing_and_non_recursive_propagation_is_its_own_call(
        rec: RecordingSyscalls, root: Any, tmp_path: Path) -> None:
    _r, fd = root
    ctx = rootfs.RootfsContext(str(tmp_path))
    rootfs.mount_one(rec, fd, _mount("/vol/mnt", str(tmp_path), "bind", "rw"), ctx)
    assert rec.names() == ["open_tree", "move_mount"]
    assert rec.calls[0][1] == (str(tmp_path), CLONE)
    rec.calls.clear()
    rootfs.mount_one(rec, fd, _mount("/vol/mnt", str(tmp_path), "rbind", "nodev", "private",
                                     "runbindable"), ctx)
    assert _setattrs(rec) == [(EMPTY | sc.AT_RECURSIVE, sc.MOUNT_ATTR_NODEV, 0, 0),
                              (EMPTY, 0, 0, sc.MS_PRIVATE),
                              (EMPTY | sc.AT_RECURSIVE, 0, 0, sc.MS_UNBINDABLE)]


@pytest.mark.parametrize(("options", "attr_set", "attr_clr"), [
    (["noatime"], sc.MOUNT_ATTR_NOATIME, sc.MOUNT_ATTR__ATIME),
    (["strictatime", "nodiratime"], sc.MOUNT_ATTR_STRICTATIME | sc.MOUNT_ATTR_NODIRATIME,
     sc.MOUNT_ATTR__ATIME),
    (["relatime", "noexec"], sc.MOUNT_ATTR_RELATIME | sc.MOUNT_ATTR_NOEXEC,
     sc.MOUNT_ATTR__ATIME),
    (["ro", "rw", "suid", "nosymfollow"], sc.MOUNT_ATTR_NOSYMFOLLOW, 0),
])
def test_flags_are_only_set_and_atime_is_a_field(
        rec: RecordingSyscalls, root: Any, tmp_path: Path, options: list[str], attr_set: int,
        attr_clr: int) -> None:
    """Nothing is cleared but the atime field when asked: locked flags stay."""
    _r, fd = root
    rootfs.mount_one(rec, fd, _mount("/vol/mnt", str(tmp_path), "bind", *options),
                     rootfs.RootfsContext(str(tmp_path)))
    assert _setattrs(rec) == [(EMPTY, attr_set, attr_clr, 0)]


def test_readonly_paths_bind_through_the_fd(rec: RecordingSyscalls, root: Any) -> None:
    r, fd = root
    rootfs._readonly(rec, fd, "/vol")
    assert rec.calls == [
        ("open_tree", (f"fd:{r}/vol", EMPTY | CLONE | sc.AT_RECURSIVE)),
        ("mount_setattr", (f"fd:{r}/vol", "", EMPTY | sc.AT_RECURSIVE,
                           sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NODEV
                           | sc.MOUNT_ATTR_NOEXEC, 0, 0)),
        ("move_mount", (f"fd:{r}/vol", "", f"fd:{r}/vol", "", MOVE)),
    ]
    rec.calls.clear()
    rootfs._readonly(rec, fd, "/no/such")
    assert rec.calls == []


def test_other_errors_fail_the_mount(root: Any, tmp_path: Path) -> None:
    _r, fd = root
    failing = RecordingSyscalls(fail={"mount_setattr": errno.EPERM})
    with pytest.raises(RuntimeFailure, match="/vol/mnt"):
        rootfs.mount_one(failing, fd, _mount("/vol/mnt", str(tmp_path), "rbind", "ro"),
                         rootfs.RootfsContext(str(tmp_path)))
    assert "move_mount" not in failing.names() and "mount" not in failing.names()


def _swap_after_lookup(monkeypatch: pytest.MonkeyPatch, dest: Path) -> None:
    """The race, made deterministic: the moment the destination's path is taken,
    it is renamed away and a symlink to /proc takes its place."""
    real = fsroot.path_in_root

    def racing(root_fd: int, fd: int) -> str:
        path = real(root_fd, fd)
        os.rename(dest, dest.with_name("moved"))
        os.symlink("/proc", dest)
        return path

    monkeypatch.setattr(fsroot, "path_in_root", racing)


@pytest.mark.parametrize("missing", ["open_tree", "mount_setattr"])
def test_without_the_new_api_the_remount_is_checked(
        root: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    r, fd = root
    ctx = rootfs.RootfsContext(str(tmp_path))
    dest = r / "vol" / "mnt"
    # the bind of the directory onto itself, seen as a new mount by its id
    ids = iter(range(1, 100))
    monkeypatch.setattr(fsroot, "mount_id", lambda _fd: next(ids))
    ok = RecordingSyscalls(fail={missing: errno.ENOSYS})
    rootfs.mount_one(ok, fd, _mount("/vol/mnt", str(dest), "rbind", "ro", "rprivate"), ctx)
    mounts = [a for n, a in ok.calls if n == "mount"]
    assert mounts[0] == (str(dest), f"fd:{dest}", None, sc.MS_BIND | sc.MS_REC, None)
    assert mounts[1][1] == f"fd:{dest}" and mounts[1][3] & (sc.MS_REMOUNT | sc.MS_RDONLY) \
        == sc.MS_REMOUNT | sc.MS_RDONLY
    assert mounts[2] == (None, f"fd:{dest}", None, sc.MS_PRIVATE | sc.MS_REC, None)
    assert "move_mount" not in ok.names()
    # the destination swapped for a symlink: the start fails, nothing lands in /proc
    _swap_after_lookup(monkeypatch, dest)
    swap = RecordingSyscalls(fail={missing: errno.ENOSYS})
    with pytest.raises(RuntimeFailure, match="/vol/mnt"):
        rootfs.mount_one(swap, fd, _mount("/vol/mnt", str(dest), "rbind", "ro"), ctx)
    assert [a[3] & sc.MS_REMOUNT for n, a in swap.calls if n == "mount"] == [0]


def test_the_new_api_needs_no_second_lookup(
        rec: RecordingSyscalls, root: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    r, fd = root
    dest = r / "vol" / "mnt"
    _swap_after_lookup(monkeypatch, dest)  # would break any lookup by path
    rootfs.mount_one(rec, fd, _mount("/vol/mnt", str(tmp_path), "rbind", "ro", "rprivate"),
                     rootfs.RootfsContext(str(tmp_path)))
    assert rec.names() == ["open_tree", "mount_setattr", "move_mount"]
    assert dest.is_dir() and not dest.is_symlink()


def test_without_the_new_api_a_remount_needs_the_mount_just_made(
        root: Any, tmp_path: Path) -> None:
    """Nothing was mounted (or something else is there): refused, not remounted."""
    _r, fd = root
    src = tmp_path / "src"
    src.mkdir()
    rec = RecordingSyscalls(fail={"open_tree": errno.ENOSYS})
    with pytest.raises(RuntimeFailure, match="is not where it was made"):
        rootfs.mount_one(rec, fd, _mount("/vol/mnt", str(src), "rbind", "ro"),
                         rootfs.RootfsContext(str(tmp_path)))
    assert len([n for n in rec.names() if n == "mount"]) == 1


def test_a_read_only_dev_is_found_again_without_symlinks(
        root: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r, fd = root
    spec = Spec.from_json({"ociVersion": "1.2.0", "mounts": [
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "ro", "mode=755"]}]})
    assert spec.mounts is not None
    ctx = rootfs.RootfsContext(str(tmp_path))
    rec = RecordingSyscalls()
    rootfs.mount_one(rec, fd, spec.mounts[0], ctx)
    try:
        assert rec.calls[0][1][3] == sc.MS_NOSUID  # read-only comes after the nodes
        ids = iter(range(1, 100))
        monkeypatch.setattr(fsroot, "mount_id", lambda _fd: next(ids))
        # renamed meanwhile, a symlink in its place: the mount is where the directory went
        os.rename(r / "dev", r / "devdir")
        os.symlink("/proc", r / "dev")
        rootfs._dev_read_only(rec, fd, spec, ctx.dev_fd)
        assert rec.calls[-1] == ("mount", (None, f"fd:{r}/devdir", None,
                                           sc.MS_REMOUNT | sc.MS_NOSUID | sc.MS_RDONLY,
                                           "mode=755"))
        # renamed between finding its path and opening it: refused
        _swap_after_lookup(monkeypatch, r / "devdir")
        rec.calls.clear()
        with pytest.raises(RuntimeFailure, match="/dev read-only"):
            rootfs._dev_read_only(rec, fd, spec, ctx.dev_fd)
        assert rec.calls == []
    finally:
        os.close(ctx.dev_fd)


def test_reopen_refuses_a_symlink_and_the_same_mount(root: Any) -> None:
    r, fd = root
    under = os.open(r / "vol" / "mnt", os.O_PATH)
    try:
        # nothing mounted on it: the same mount id
        with pytest.raises(RuntimeFailure, match="/vol/mnt is not where it was made"):
            bindmount.reopen_top(RecordingSyscalls(), fd, under)
        os.rename(r / "vol", r / "vol2")
        os.mkdir(r / "vol")
        os.symlink("/vol2/mnt", r / "vol" / "mnt")
        with pytest.raises(RuntimeFailure, match="/vol2/mnt"):  # followed by its new name
            bindmount.reopen_top(RecordingSyscalls(), fd, under)
        os.rename(r / "vol2", r / "vol3")
        os.symlink("/vol", r / "vol2")
        with pytest.raises(OSError) as info:
            fsroot.open_in_root(RecordingSyscalls(), fd, "/vol2/mnt", no_symlinks=True)
        assert info.value.errno == errno.ELOOP
    finally:
        os.close(under)


def test_path_in_root_and_mount_id(root: Any, tmp_path: Path) -> None:
    r, fd = root
    sub = os.open(r / "vol" / "mnt", os.O_PATH)
    outside = os.open(tmp_path, os.O_PATH)
    try:
        assert fsroot.path_in_root(fd, sub) == "/vol/mnt"
        assert fsroot.path_in_root(fd, fd) == "/"
        with pytest.raises(OSError, match="no longer inside"):
            fsroot.path_in_root(fd, outside)
        assert fsroot.mount_id(sub) == fsroot.mount_id(fd) > 0
    finally:
        os.close(sub)
        os.close(outside)


def test_real_syscalls_report_errors() -> None:
    """The ctypes wrappers pass arguments through (EBADF for a closed fd)."""
    real = sc.LinuxSyscalls()
    with pytest.raises(OSError) as info:
        real.open_tree(-1, "", sc.AT_EMPTY_PATH)
    assert info.value.errno in (errno.EBADF, errno.ENOSYS)
    with pytest.raises(OSError) as info:
        real.mount_setattr(-1, "", sc.AT_EMPTY_PATH, sc.MOUNT_ATTR_RDONLY, 0, 0)
    assert info.value.errno in (errno.EBADF, errno.ENOSYS)
    with pytest.raises(OSError) as info:
        real.move_mount(-1, "", -1, "", MOVE)
    assert info.value.errno in (errno.EBADF, errno.ENOSYS)
