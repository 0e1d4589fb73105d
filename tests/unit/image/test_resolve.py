from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.image import resolve


@pytest.fixture(params=["openat2", "walk"])
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    resolve.use_openat2(request.param == "openat2")
    yield request.param
    resolve.use_openat2(True)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """root/{etc/passwd, abs -> /etc, up -> ../../.., loop -> loop, file}; outside/secret."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("inside")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("OUTSIDE")
    (root / "abs").symlink_to("/etc")
    (root / "up").symlink_to("../../../../etc")
    (root / "loop").symlink_to("loop")
    (root / "file").write_text("f")
    (root / "rel").symlink_to("etc/passwd")
    fd = resolve.open_root(str(root))
    yield root, fd
    os.close(fd)


def read(root_fd: int, path: str, follow: bool = True) -> str:
    parts = resolve.split(path)
    assert parts is not None
    fd = resolve.open_in_root(root_fd, parts, os.O_RDONLY, follow=follow)
    with os.fdopen(fd) as f:
        return f.read()


def test_split() -> None:
    assert resolve.split("/a//b/./c/") == ["a", "b", "c"]
    assert resolve.split("./") == []
    assert resolve.split("a/../b") is None
    assert resolve.split("..") is None


@pytest.mark.parametrize("path", ["abs/passwd", "up/passwd", "etc/passwd", "rel", "/abs/passwd"])
def test_symlinks_stay_inside(mode: str, tree: tuple[Path, int], path: str) -> None:
    assert read(tree[1], path) == "inside"


def test_loop_and_notdir(mode: str, tree: tuple[Path, int]) -> None:
    with pytest.raises(OSError) as exc:
        read(tree[1], "loop/x")
    assert exc.value.errno == errno.ELOOP
    with pytest.raises(OSError) as exc:
        read(tree[1], "file/x")
    assert exc.value.errno == errno.ENOTDIR


def test_final_nofollow(mode: str, tree: tuple[Path, int]) -> None:
    with pytest.raises(OSError) as exc:
        resolve.open_in_root(tree[1], ["rel"], os.O_RDONLY | os.O_NOFOLLOW)
    assert exc.value.errno == errno.ELOOP


def test_no_follow_refuses_any_symlink(tree: tuple[Path, int]) -> None:
    assert read(tree[1], "etc/passwd", follow=False) == "inside"
    for path in ("abs/passwd", "rel"):
        with pytest.raises(OSError) as exc:
            read(tree[1], path, follow=False)
        assert exc.value.errno == errno.ELOOP


def test_dir_and_root(mode: str, tree: tuple[Path, int]) -> None:
    fd = resolve.open_dir_in_root(tree[1], ["abs"])
    try:
        assert os.listdir(fd) == ["passwd"]
    finally:
        os.close(fd)
    fd = resolve.open_dir_in_root(tree[1], [])
    os.close(fd)
