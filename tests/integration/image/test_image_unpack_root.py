"""Layer unpacking as root: ownership, devices, whiteouts, capabilities, a full disk."""

from __future__ import annotations

import io
import os
import stat
import struct
import tarfile
from pathlib import Path
from typing import Any

import pytest

from launcher.errors import ImageError
from launcher.image import resolve, unpack
from launcher.image.store import ImageStore
from launcher.paths import Paths

pytestmark = pytest.mark.root


@pytest.fixture(params=["openat2", "walk"], autouse=True)
def resolver(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    resolve.use_openat2(request.param == "openat2")
    yield
    resolve.use_openat2(True)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    layer = tmp_path / "a" / "b" / "layer"
    layer.mkdir(parents=True)
    return layer


def apply(t: Any, root: Path) -> unpack.Stats:
    return unpack.unpack(io.BytesIO(t.data()), str(root))


def is_whiteout(p: Path) -> bool:
    st = p.lstat()
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def test_ownership_then_setuid(tar: Any, root: Path) -> None:
    t = tar().dir("d", 0o750, uid=1234, gid=5678)
    t.file("d/suid", b"#!", 0o6755, uid=1234, gid=5678)
    t.symlink("d/l", "suid")
    apply(t, root)
    st = (root / "d" / "suid").stat()
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert stat.S_IMODE(st.st_mode) == 0o6755  # chmod after chown keeps setuid/setgid
    assert (root / "d").stat().st_uid == 1234


def test_ids_out_of_range(tar: Any, root: Path) -> None:
    with pytest.raises(ImageError, match="out of range"):
        apply(tar().file("f", b"", uid=2**32), root)


def test_device_nodes(tar: Any, root: Path) -> None:
    t = tar().add("null", tarfile.CHRTYPE, 0o666, devmajor=1, devminor=3)
    t.add("sda", tarfile.BLKTYPE, 0o660, devmajor=8, devminor=0, gid=6)
    t.add("fifo", tarfile.FIFOTYPE, 0o600)
    apply(t, root)
    null, sda = (root / "null").lstat(), (root / "sda").lstat()
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(null.st_mode) == 0o666
    assert stat.S_ISBLK(sda.st_mode) and sda.st_rdev == os.makedev(8, 0) and sda.st_gid == 6
    assert stat.S_ISFIFO((root / "fifo").lstat().st_mode)


def test_whiteouts_and_opaque(tar: Any, root: Path) -> None:
    t = tar().dir("etc").file("etc/.wh.gone").file("newdir/.wh..wh..opq")
    t.dir("opq").file("opq/.wh..wh..opq").file("opq/new", b"n")
    stats = apply(t, root)
    assert stats.whiteouts == 3
    assert is_whiteout(root / "etc" / "gone")
    assert os.getxattr(root / "opq", "trusted.overlay.opaque") == b"y"
    assert os.getxattr(root / "newdir", "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(root / "opq")) == ["new"]


def test_whiteout_through_symlinked_parent_stays_inside(
    tar: Any, root: Path, tmp_path: Path
) -> None:
    t = tar().dir("etc").file("etc/whitedout", b"x").symlink("localetc", "/etc")
    t.file("localetc/.wh.whitedout").symlink("up", "../../../..").file("up/.wh.escape")
    apply(t, root)
    assert is_whiteout(root / "etc" / "whitedout")
    assert is_whiteout(root / "escape")
    assert not os.path.lexists("/etc/whitedout")
    assert not os.path.lexists(tmp_path / "escape")
    assert not os.path.lexists(tmp_path / "a" / "escape")


def test_whiteout_replaces_symlink(tar: Any, root: Path) -> None:
    t = tar().dir("etc").file("etc/passwd", b"all users").symlink("localetc", "/etc")
    apply(t.file(".wh.localetc"), root)
    assert is_whiteout(root / "localetc")
    assert (root / "etc" / "passwd").read_bytes() == b"all users"


def test_file_capabilities_kept_overlay_xattrs_dropped(tar: Any, root: Path) -> None:
    cap = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)  # v2, effective, cap_net_raw
    ti_headers = {
        "SCHILY.xattr.security.capability": cap.decode("utf-8", "surrogateescape"),
        "SCHILY.xattr.trusted.overlay.opaque": "y",
    }
    t = tar().file("ping", b"\x7fELF", 0o755, pax_headers=ti_headers, uid=0, gid=0)
    t.dir("d", pax_headers={"SCHILY.xattr.trusted.overlay.opaque": "y"})
    apply(t, root)
    assert os.getxattr(root / "ping", "security.capability") == cap
    assert "trusted.overlay.opaque" not in os.listxattr(root / "ping")
    assert "trusted.overlay.opaque" not in os.listxattr(root / "d")


def test_disk_full_mid_unpack_commits_nothing(tar: Any, small_tmpfs: Path) -> None:
    store = ImageStore(Paths(str(small_tmpfs / "storage"), str(small_tmpfs / "state")))
    t = tar().file("small", b"x").file("big", os.urandom(3 << 20))
    with pytest.raises(ImageError, match=r"layer entry 'big'.*No space left"):
        store.unpack_layer(io.BytesIO(t.data()))
    assert os.listdir(store.paths.layers) == []
    assert os.listdir(store.paths.storage_tmp) == []
