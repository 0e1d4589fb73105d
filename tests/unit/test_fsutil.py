import os

from launcher.fsutil import remove_tree


def test_removes_nested_tree_without_following_links(tmp_path) -> None:  # type: ignore[no-untyped-def]
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "precious").write_text("x")
    t = tmp_path / "t"
    (t / "a" / "b").mkdir(parents=True)
    (t / "a" / "b" / "f").write_text("y")
    os.symlink(keep, t / "link-to-dir")
    os.symlink(keep / "precious", t / "a" / "link-to-file")
    os.mkfifo(t / "fifo")
    remove_tree(str(t))
    assert not t.exists()
    assert (keep / "precious").read_text() == "x"


def test_missing_is_fine(tmp_path) -> None:  # type: ignore[no-untyped-def]
    remove_tree(str(tmp_path / "nothing" / "here"))
    remove_tree(str(tmp_path / "nothing"))
