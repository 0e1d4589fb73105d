from __future__ import annotations

import os
from pathlib import Path

import pytest

from launcher.errors import ImageError
from launcher.image import volumes


@pytest.mark.parametrize("bad", ["data", "/", "//", "/a/../b", "/a/./b", 3, "/a\x00b"])
def test_check_path_refuses(bad: object) -> None:
    with pytest.raises(ImageError, match=r"image config: Volumes"):
        volumes.check_path(bad)


def test_check_path_cleans() -> None:
    assert volumes.check_path("/var//lib/db/") == "/var/lib/db"


def layers(tmp_path: Path, n: int) -> list[Path]:
    out = []
    for i in range(n):
        d = tmp_path / f"l{i}"
        d.mkdir()
        out.append(d)
    return out


def test_sources_merge_and_hide(tmp_path: Path) -> None:
    l0, l1, l2 = layers(tmp_path, 3)
    (l0 / "data").mkdir()
    (l0 / "data" / "base").write_text("0")
    (l1 / "data").mkdir()
    (l1 / "data" / "more").write_text("1")
    dirs = [str(l0), str(l1), str(l2)]
    assert volumes.layer_sources(dirs, "/data") == [str(l0 / "data"), str(l1 / "data")]
    os.mknod(l2 / ".wh.data", 0o600 | 0o020000, 0)  # a whiteout of /data in the top layer
    assert volumes.layer_sources(dirs, "/data") == []


def test_sources_opaque_resets(tmp_path: Path) -> None:
    l0, l1 = layers(tmp_path, 2)
    (l0 / "data").mkdir()
    (l1 / "data").mkdir()
    try:
        os.setxattr(l1 / "data", volumes.OPAQUE_XATTR, b"y")
    except OSError:
        pytest.skip("no trusted xattrs here (needs root)")
    assert volumes.layer_sources([str(l0), str(l1)], "/data") == [str(l1 / "data")]


def test_symlink_component_is_refused(tmp_path: Path) -> None:
    (l0,) = layers(tmp_path, 1)
    os.symlink("/etc", l0 / "data")
    with pytest.raises(ImageError, match="symlink"):
        volumes.layer_sources([str(l0)], "/data/x")


def test_make_volumes_copies_image_content(tmp_path: Path) -> None:
    l0, l1 = layers(tmp_path, 2)
    (l0 / "srv").mkdir()
    (l0 / "srv" / "a").write_text("from image")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    made = volumes.make_volumes([str(l0), str(l1)], {"/srv": {}, "/empty": {}}, str(bundle))
    assert [p for p, _ in made] == ["/empty", "/srv"]
    src = dict(made)
    assert os.listdir(src["/empty"]) == []
    assert (Path(src["/srv"]) / "a").read_text() == "from image"
    assert volumes.make_volumes([str(l0)], None, str(bundle)) == []
