from __future__ import annotations

import os
import stat
from pathlib import Path

from launcher.image.copytree import copy_layers


def test_merge_in_order(tmp_path: Path) -> None:
    l1, l2, dest = tmp_path / "l1", tmp_path / "l2", tmp_path / "dest"
    for d in (l1, l2, dest):
        d.mkdir()
    (l1 / "etc").mkdir(mode=0o755)
    (l1 / "etc" / "a").write_text("a1")
    (l1 / "etc" / "keep").write_text("keep")
    (l1 / "link").symlink_to("/etc")
    (l1 / "dir-to-file").mkdir()
    (l1 / "dir-to-file" / "x").write_text("x")
    (l1 / "bin").mkdir()
    (l1 / "bin" / "tool").write_text("#!")
    os.chmod(l1 / "bin" / "tool", 0o4755)
    os.link(l1 / "bin" / "tool", l1 / "bin" / "tool2")
    os.mkfifo(l1 / "fifo")
    os.utime(l1 / "etc" / "keep", ns=(10**18, 10**18))

    (l2 / "etc").mkdir()
    (l2 / "etc" / "a").write_text("a2")
    (l2 / "link").mkdir()  # a directory replaces the lower symlink: never written through
    (l2 / "link" / "new").write_text("n")
    (l2 / "dir-to-file").write_text("file now")
    os.chmod(l2, 0o751)

    copy_layers([str(l1), str(l2)], str(dest))
    assert (dest / "etc" / "a").read_text() == "a2"
    assert (dest / "etc" / "keep").read_text() == "keep"
    assert (dest / "etc" / "keep").stat().st_mtime_ns == 10**18
    assert (dest / "link").is_dir() and not (dest / "link").is_symlink()
    assert (dest / "link" / "new").read_text() == "n"
    assert not os.path.exists("/etc/new")
    assert (dest / "dir-to-file").read_text() == "file now"
    assert stat.S_IMODE((dest / "bin" / "tool").stat().st_mode) == 0o4755
    assert (dest / "bin" / "tool2").read_text() == "#!"
    assert stat.S_ISFIFO((dest / "fifo").lstat().st_mode)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o751
    # the layers are untouched
    assert (l1 / "link").is_symlink() and (l1 / "etc" / "a").read_text() == "a1"


def test_symlink_copied_not_followed(tmp_path: Path) -> None:
    l1, dest = tmp_path / "l1", tmp_path / "dest"
    l1.mkdir()
    dest.mkdir()
    (l1 / "abs").symlink_to("/etc/passwd")
    copy_layers([str(l1)], str(dest))
    assert os.readlink(dest / "abs") == "/etc/passwd"
