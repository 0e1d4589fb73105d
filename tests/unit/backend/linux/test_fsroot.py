import os

import pytest

from launcher.backend.linux import fsroot


@pytest.fixture(params=["openat2", "walk"])
def mode(request):  # type: ignore[no-untyped-def]
    from launcher.image import resolve

    resolve.use_openat2(request.param == "openat2")
    yield request.param
    resolve.use_openat2(True)


@pytest.fixture
def root(tmp_path):  # type: ignore[no-untyped-def]
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "passwd").write_text("inside\n")
    (tmp_path / "outside").write_text("host\n")
    os.symlink("/etc", r / "abs")  # absolute: must mean the root's /etc
    os.symlink("../../../..", r / "up")  # climbs: clamped at the root
    os.symlink("../outside", r / "esc")
    fd = os.open(r, os.O_PATH | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def _read(rec, root_fd: int, path: str) -> str:  # type: ignore[no-untyped-def]
    fd = fsroot.open_in_root(rec, root_fd, path, os.O_RDONLY)
    try:
        return os.read(fd, 100).decode()
    finally:
        os.close(fd)


def test_symlinks_stay_inside(rec, root, mode) -> None:  # type: ignore[no-untyped-def]
    assert _read(rec, root, "/abs/passwd") == "inside\n"
    assert _read(rec, root, "up/etc/passwd") == "inside\n"
    assert _read(rec, root, "/../../etc/passwd") == "inside\n"
    with pytest.raises(FileNotFoundError):
        _read(rec, root, "esc")


def test_no_symlinks_refuses_links(rec, root, mode) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(OSError):
        fsroot.open_in_root(rec, root, "abs", os.O_PATH, no_symlinks=True)


def test_mkdir_all_creates_through_inner_symlinks(rec, root, mode, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fd = fsroot.mkdir_all_in_root(rec, root, "/abs/new/deeper")
    os.close(fd)
    assert (tmp_path / "root" / "etc" / "new" / "deeper").is_dir()
    assert not (tmp_path / "new").exists()


def test_create_file(rec, root, mode, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fd = fsroot.create_file_in_root(rec, root, "/up/x/file")
    os.close(fd)
    assert (tmp_path / "root" / "x" / "file").is_file()


def test_create_file_through_a_dangling_symlink(rec, root, mode, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = tmp_path / "root"
    os.symlink("../run/systemd/resolve/stub-resolv.conf", r / "etc" / "resolv.conf")
    os.symlink("/../../hosts-target", r / "etc" / "hosts")  # absolute, climbing: clamped
    for name in ("resolv.conf", "hosts"):
        os.close(fsroot.create_file_in_root(rec, root, f"/etc/{name}"))
    assert (r / "run" / "systemd" / "resolve" / "stub-resolv.conf").is_file()
    assert (r / "hosts-target").is_file()
    assert not (tmp_path / "hosts-target").exists()


def test_create_file_refuses_a_symlink_loop(rec, root, mode, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = tmp_path / "root"
    os.symlink("b", r / "a")
    os.symlink("a", r / "b")
    with pytest.raises(OSError):
        fsroot.create_file_in_root(rec, root, "/a")
