from __future__ import annotations

import os
from pathlib import Path

import pytest

from launcher.errors import ImageError, UsageError
from launcher.image.userdb import (
    lookup_user,
    lookup_user_in_layers,
    resolve_user,
    resolve_user_in_layers,
)

PASSWD = """\
# comment
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1::/usr/sbin:/usr/sbin/nologin
broken:x:notanumber:5::/:/bin/sh
huge:x:4294967296:5::/:/bin/sh
alice:x:1000:1000:Alice:/home/alice:/bin/sh
+nisuser::::::
bob:x:1001:1001
"""
GROUP = """\
root:x:0:
wheel:x:10:root,alice
audio:x:29: alice , bob
alice:x:1000:
staff:x:50:
bad:x:zz:alice
"""


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    return root


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        (None, (0, 0, [10])),
        ("", (0, 0, [10])),
        ("root", (0, 0, [10])),
        ("0", (0, 0, [10])),
        ("alice", (1000, 1000, [10, 29])),
        ("1000", (1000, 1000, [10, 29])),
        ("alice:staff", (1000, 50, [])),
        ("alice:50", (1000, 50, [])),
        ("1000:staff", (1000, 50, [])),
        ("1000:777", (1000, 777, [])),
        ("bob", (1001, 1001, [29])),
        ("1234", (1234, 0, [])),
        ("1234:5678", (1234, 5678, [])),
        ("2147483648", (2147483648, 0, [])),
        ("4294967294:4294967294", (4294967294, 4294967294, [])),
        ("daemon", (1, 1, [])),
    ],
)
def test_forms(rootfs: Path, spec: str | None, want: tuple[int, int, list[int]]) -> None:
    assert resolve_user(str(rootfs), spec) == want


def test_home(rootfs: Path) -> None:
    assert lookup_user(str(rootfs), "alice").home == "/home/alice"
    assert lookup_user(str(rootfs), "bob").home == "/"
    assert lookup_user(str(rootfs), "4321").home == "/"


@pytest.mark.parametrize(
    ("spec", "err", "why"),
    [
        ("nobody", UsageError, "unable to find user nobody"),
        ("broken", UsageError, "unable to find user broken"),
        ("+nisuser", UsageError, "unable to find user"),
        ("alice:nogroup", UsageError, "unable to find group nogroup"),
        ("4294967295", UsageError, "must be 0..4294967294"),
        ("1:4294967295", UsageError, "must be 0..4294967294"),
        ("-1", UsageError, "must be 0..4294967294"),
        (":1", UsageError, "empty user"),
        ("a:b:c", UsageError, "too many"),
    ],
)
def test_errors(rootfs: Path, spec: str, err: type[Exception], why: str) -> None:
    with pytest.raises(err, match=why):
        resolve_user(str(rootfs), spec)


def test_odd_numbers_are_names(rootfs: Path) -> None:
    for spec in ("+1", " 1", "1_0", "\u0661"):
        with pytest.raises(UsageError, match="unable to find user"):
            resolve_user(str(rootfs), spec)


def test_missing_files(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    assert resolve_user(str(root), None) == (0, 0, [])
    assert resolve_user(str(root), "12:34") == (12, 34, [])
    with pytest.raises(UsageError, match="unable to find user alice"):
        resolve_user(str(root), "alice")
    with pytest.raises(UsageError, match="unable to find group staff"):
        resolve_user(str(root), "0:staff")


@pytest.mark.parametrize("target", ["/dev/zero", "../../../../etc/passwd", "/etc/shadow"])
def test_passwd_symlink_refused(rootfs: Path, target: str) -> None:
    (rootfs / "etc" / "passwd").unlink()
    (rootfs / "etc" / "passwd").symlink_to(target)
    with pytest.raises(ImageError, match="symlink"):
        resolve_user(str(rootfs), "alice")


def test_etc_symlink_refused(rootfs: Path, tmp_path: Path) -> None:
    (tmp_path / "host-etc").mkdir()
    (tmp_path / "host-etc" / "passwd").write_text("alice:x:0:0::/:/bin/sh\n")
    os.rename(rootfs / "etc", rootfs / "etc.real")
    (rootfs / "etc").symlink_to(tmp_path / "host-etc")
    with pytest.raises(ImageError, match="symlink"):
        resolve_user(str(rootfs), "alice")


def test_fifo_never_blocks(rootfs: Path) -> None:
    (rootfs / "etc" / "passwd").unlink()
    os.mkfifo(rootfs / "etc" / "passwd")
    with pytest.raises(ImageError, match="not a regular file"):
        resolve_user(str(rootfs), "alice")


def test_directory_refused(rootfs: Path) -> None:
    (rootfs / "etc" / "group").unlink()
    (rootfs / "etc" / "group").mkdir()
    with pytest.raises(ImageError, match="not a regular file"):
        resolve_user(str(rootfs), "alice")


def test_huge_refused(rootfs: Path) -> None:
    with open(rootfs / "etc" / "passwd", "r+b") as f:
        f.truncate(5 << 20)  # sparse: cheap
    with pytest.raises(ImageError, match="larger than"):
        resolve_user(str(rootfs), "alice")


def layer(base: Path, name: str, files: dict[str, str]) -> str:
    d = base / name
    d.mkdir()
    for rel, text in files.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text(text)
    return str(d)


def test_layers_top_most_wins(tmp_path: Path) -> None:
    base = layer(tmp_path, "l0", {"etc/passwd": PASSWD, "etc/group": GROUP})
    mid = layer(tmp_path, "l1", {"etc/hostname": "x"})  # etc without passwd: look below
    top = layer(tmp_path, "l2", {"etc/passwd": "carol:x:7:8::/c:/bin/sh\n"})
    assert resolve_user_in_layers([base, mid, top], "carol") == (7, 8, [])
    assert resolve_user_in_layers([base, mid], "alice") == (1000, 1000, [10, 29])
    with pytest.raises(UsageError, match="unable to find user alice"):
        resolve_user_in_layers([base, mid, top], "alice")
    assert lookup_user_in_layers([base, mid, top], "carol").home == "/c"


def test_layers_file_hides_directory_below(tmp_path: Path) -> None:
    base = layer(tmp_path, "l0", {"etc/passwd": PASSWD})
    top = layer(tmp_path, "l1", {"etc": "not a directory"})
    assert resolve_user_in_layers([base, top], "12") == (12, 0, [])
    with pytest.raises(UsageError, match="unable to find user alice"):
        resolve_user_in_layers([base, top], "alice")


def test_layers_symlink_refused(tmp_path: Path) -> None:
    base = layer(tmp_path, "l0", {"etc/passwd": PASSWD})
    top = tmp_path / "l1"
    top.mkdir()
    (top / "etc").symlink_to("/etc")
    with pytest.raises(ImageError, match="symlink"):
        resolve_user_in_layers([base, str(top)], "alice")
    (top / "etc").unlink()
    (top / "etc").mkdir()
    (top / "etc" / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(ImageError, match="symlink"):
        resolve_user_in_layers([base, str(top)], "alice")
