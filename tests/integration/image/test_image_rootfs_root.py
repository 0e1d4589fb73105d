"""The container rootfs on a real kernel: overlay of stored layers, and the copy fallback."""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from launcher.image import rootfs as rf
from launcher.image.bootstrap import HOST_BUSYBOX, ensure_default_image
from launcher.image.store import ImageStore
from launcher.image.userdb import resolve_user
from launcher.paths import Paths

pytestmark = pytest.mark.root


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(Paths(str(tmp_path / "storage"), str(tmp_path / "state")))


@pytest.fixture
def cdir(tmp_path: Path) -> Path:
    d = tmp_path / "containers" / "c1"
    d.mkdir(parents=True, mode=0o700)
    return d


def two_layers(store: ImageStore, tar: Any) -> list[str]:
    base = tar().dir("etc").file("etc/a", b"a").file("etc/gone", b"g")
    base.dir("dir").file("dir/old", b"o").dir("keep").file("keep/k", b"k")
    top = tar().dir("etc").file("etc/.wh.gone").file("etc/b", b"b")
    top.dir("dir").file("dir/.wh..wh..opq").file("dir/new", b"n")
    ids = [store.unpack_layer(io.BytesIO(t.data())) for t in (base, top)]
    return [store.layer_path(d) for d in ids]


def check_merged(root: Path) -> None:
    assert sorted(os.listdir(root / "etc")) == ["a", "b"]
    assert sorted(os.listdir(root / "dir")) == ["new"]
    assert (root / "keep" / "k").read_bytes() == b"k"


def test_overlay_merges_layers(store: ImageStore, tar: Any, cdir: Path, real_mount: Any) -> None:
    layers = two_layers(store, tar)
    root = Path(rf.prepare_rootfs(layers, str(cdir), real_mount.mount))
    try:
        assert os.path.ismount(root)
        check_merged(root)
        (root / "etc" / "a").write_bytes(b"changed")
        (root / "etc" / "b").unlink()
        # writes land in upper; the shared layers are untouched
        assert (Path(layers[0]) / "etc" / "a").read_bytes() == b"a"
        assert (Path(layers[1]) / "etc" / "b").exists()
        assert (cdir / "upper" / "etc" / "a").read_bytes() == b"changed"
    finally:
        rf.release_rootfs(str(cdir), real_mount.umount)
    assert not os.path.ismount(root)
    assert os.listdir(cdir) == []
    assert (Path(layers[0]) / "etc" / "a").read_bytes() == b"a"


def test_copy_fallback_applies_whiteouts(store: ImageStore, tar: Any, cdir: Path) -> None:
    layers = two_layers(store, tar)

    def refuse(*args: object) -> None:
        raise OSError(errno.ENODEV, "No such device")

    notes: list[str] = []
    root = Path(rf.prepare_rootfs(layers, str(cdir), refuse, note=notes.append))
    check_merged(root)
    assert "overlayfs is unavailable" in notes[0]
    assert "trusted.overlay.opaque" not in os.listxattr(root / "dir")
    rf.release_rootfs(str(cdir), lambda target, flags: None)
    assert os.listdir(cdir) == []


def test_many_long_layer_paths_mount(tmp_path: Path, cdir: Path, real_mount: Any) -> None:
    base = tmp_path / ("p" * 200)
    layers = []
    for i in range(60):
        d = base / f"{i:03d}{'l' * 100}"
        d.mkdir(parents=True)
        (d / f"f{i:03d}").write_text(str(i))
        layers.append(str(d))
    (Path(layers[-1]) / "f000").write_text("top wins")
    assert len(rf.overlay_options(layers, "u", "w")) > os.sysconf("SC_PAGE_SIZE")
    root = Path(rf.prepare_rootfs(layers, str(cdir), real_mount.mount))
    try:
        assert len(os.listdir(root)) == 60
        assert (root / "f000").read_text() == "top wins"
    finally:
        rf.release_rootfs(str(cdir), real_mount.umount)


@pytest.mark.skipif(not os.path.exists(HOST_BUSYBOX), reason="needs busybox-static")
def test_default_image_rootfs(store: ImageStore, cdir: Path, real_mount: Any) -> None:
    image = ensure_default_image(store)
    root = Path(rf.prepare_rootfs(image.layer_dirs, str(cdir), real_mount.mount))
    try:
        assert os.readlink(root / "bin" / "sh") == "busybox"
        assert stat.S_IMODE(root.stat().st_mode) == 0o755
        assert stat.S_IMODE((root / "tmp").stat().st_mode) == 0o1777
        assert resolve_user(str(root), None) == (0, 0, [10])
        assert resolve_user(str(root), "nobody") == (65534, 65534, [])
    finally:
        rf.release_rootfs(str(cdir), real_mount.umount)


def test_passwd_device_never_opened(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    os.mknod(root / "etc" / "passwd", stat.S_IFCHR | 0o644, os.makedev(1, 5))  # /dev/zero
    from launcher.errors import ImageError

    with pytest.raises(ImageError, match="not a regular file"):
        resolve_user(str(root), "alice")


def test_user_lookup_through_layers(store: ImageStore, tar: Any) -> None:
    from launcher.errors import UsageError
    from launcher.image.userdb import resolve_user_in_layers

    passwd = b"root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"
    base = tar().dir("etc").file("etc/passwd", passwd).file("etc/group", b"g:x:5:alice\n")
    hide = tar().dir("etc").file("etc/.wh.passwd")
    opaque = tar().dir("etc").file("etc/.wh..wh..opq").file("etc/hostname", b"h")
    ids = [store.unpack_layer(io.BytesIO(t.data())) for t in (base, hide, opaque)]
    dirs = [store.layer_path(d) for d in ids]
    assert resolve_user_in_layers(dirs[:1], "alice") == (1000, 1000, [5])
    for top in (dirs[1], dirs[2]):
        with pytest.raises(UsageError, match="unable to find user alice"):
            resolve_user_in_layers([dirs[0], top], "alice")
        assert resolve_user_in_layers([dirs[0], top], "1000") == (1000, 0, [])


@pytest.mark.skipif(not os.path.exists(HOST_BUSYBOX), reason="needs busybox-static")
def test_default_image_users_without_mounting(store: ImageStore) -> None:
    from launcher.image.userdb import resolve_user_in_layers

    image = ensure_default_image(store)
    assert resolve_user_in_layers(image.layer_dirs, "nobody") == (65534, 65534, [])
    assert resolve_user_in_layers(image.layer_dirs, None) == (0, 0, [10])
