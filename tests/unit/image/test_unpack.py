"""Layer unpacking: containerd's TestBreakouts cases, ported in spirit, plus OCI details.

Differences from containerd, on purpose: a ``..`` component in a member or hard
link name is refused (containerd cleans it); a hard link must name a regular
file (containerd also links to symlinks).
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.errors import ImageError
from launcher.image import resolve, unpack
from launcher.image.decompress import Limits

from .tarhelp import MTIME, TarBuilder


@pytest.fixture(params=["openat2", "walk"], autouse=True)
def resolver(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test runs with openat2 and with the fallback walk."""
    resolve.use_openat2(request.param == "openat2")
    yield request.param
    resolve.use_openat2(True)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty layer root; tmp_path/etc is a decoy an escape would hit."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("OUTSIDE")
    layer = tmp_path / "a" / "b" / "layer"
    layer.mkdir(parents=True)
    return layer


def apply(data: bytes, root: Path, limits: Limits | None = None) -> unpack.Stats:
    return unpack.unpack(io.BytesIO(data), str(root), limits)


def outside_untouched(root: Path) -> None:
    base = root.parent.parent.parent
    assert (base / "etc" / "passwd").read_text() == "OUTSIDE"
    assert sorted(os.listdir(base / "etc")) == ["passwd"]
    assert not os.path.exists("/etc/unbroken")


def same_inode(a: Path, b: Path) -> bool:
    sa, sb = os.lstat(a), os.lstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


UNBROKEN = b"unbroken"

# (name, tar, check) -- symlinks met while resolving a parent resolve inside the root
FOLLOW_INSIDE = [
    (
        "SymlinkAbsolute",
        lambda t: t.dir("etc").symlink("localetc", "/etc").file("/localetc/unbroken", UNBROKEN),
    ),
    (
        "SymlinkUpAndOut",
        lambda t: (
            t.dir("etc")
            .dir("dummy")
            .symlink("localetc", "/dummy/../etc")
            .file("/localetc/unbroken", UNBROKEN)
        ),
    ),
    (
        "SymlinkRelativeEscape",
        lambda t: (
            t.dir("etc")
            .symlink("localetc", "../../../../../etc")
            .file("localetc/unbroken", UNBROKEN)
        ),
    ),
    (
        "SymlinkMultipleAbsolute",
        lambda t: (
            t.dir("etc")
            .dir("dummy")
            .symlink("dummy/etc", "/etc")
            .symlink("localetc", "/dummy/etc")
            .file("/dummy/etc/unbroken", UNBROKEN)
        ),
    ),
    (
        "SymlinkMultipleRelative",
        lambda t: (
            t.dir("etc")
            .dir("dummy")
            .symlink("dummy/etc", "/etc")
            .symlink("localetc", "./dummy/etc")
            .file("/dummy/etc/unbroken", UNBROKEN)
        ),
    ),
    (
        "SymlinkChainUpAndOut",
        lambda t: (
            t.dir("etc")
            .dir("d")
            .symlink("d/up", "../../../..")
            .symlink("x", "d/up/etc")
            .file("x/unbroken", UNBROKEN)
        ),
    ),
]


@pytest.mark.parametrize(("name", "build"), FOLLOW_INSIDE, ids=[c[0] for c in FOLLOW_INSIDE])
def test_symlinked_parents_resolve_inside(root: Path, name: str, build) -> None:  # type: ignore[no-untyped-def]
    apply(build(TarBuilder()).data(), root)
    assert (root / "etc" / "unbroken").read_bytes() == UNBROKEN
    outside_untouched(root)


def test_symlink_empty_file(root: Path) -> None:
    t = TarBuilder().dir("etc").file("etc/emptied", b"notempty").symlink("localetc", "/etc")
    apply(t.file("/localetc/emptied", b"").data(), root)
    assert (root / "etc" / "emptied").read_bytes() == b""
    outside_untouched(root)


HARDLINKS_INSIDE = [
    (
        "HardlinkRelative",
        lambda t: (
            t.dir("breakouts")
            .symlink("breakouts/d1", "../../etc")
            .link("breakouts/mypasswd", "/breakouts/d1/passwd")
        ),
        "breakouts/mypasswd",
    ),
    (
        "HardlinkDownAndOut",
        lambda t: (
            t.dir("breakouts")
            .dir("downandout")
            .symlink("breakouts/d1", "../downandout/../../etc")
            .link("breakouts/mypasswd", "/breakouts/d1/passwd")
        ),
        "breakouts/mypasswd",
    ),
    (
        "HardlinkAbsolute",
        lambda t: t.symlink("localetc", "/etc").link("localpasswd", "/localetc/passwd"),
        "localpasswd",
    ),
    (
        "HardlinkRelativeLong",
        lambda t: t.symlink("localetc", "../../../../../../../etc").link(
            "localpasswd", "/localetc/passwd"
        ),
        "localpasswd",
    ),
    ("HardlinkDirectAbsolute", lambda t: t.link("localpasswd", "/etc/passwd"), "localpasswd"),
]


@pytest.mark.parametrize(
    ("name", "build", "link"), HARDLINKS_INSIDE, ids=[c[0] for c in HARDLINKS_INSIDE]
)
def test_hardlinks_resolve_inside(root: Path, name: str, build, link: str) -> None:  # type: ignore[no-untyped-def]
    t = TarBuilder().dir("etc", 0o770).file("/etc/passwd", b"inside")
    apply(build(t).data(), root)
    assert same_inode(root / link, root / "etc" / "passwd")
    assert (root / "etc" / "passwd").stat().st_nlink == 2
    outside_untouched(root)


REFUSED = [
    ("DotDotName", lambda t: t.file("../x", b"x"), "'..' in the path"),
    ("DotDotDeep", lambda t: t.dir("a").file("a/../../x", b"x"), "'..' in the path"),
    (
        "HardlinkDirectRelative",
        lambda t: t.link("localpasswd", "../../../../../etc/passwd"),
        "'..'",
    ),
    ("SymlinkNamedDot", lambda t: t.symlink(".", "/etc"), "not a directory"),
    ("SymlinkNamedDotSlash", lambda t: t.symlink("./", "/etc"), "not a directory"),
    ("FileNamedRoot", lambda t: t.file("/", b"x"), "not a directory"),
    ("SymlinkParentDirectory", lambda t: t.symlink("..", "/etc/"), "'..' in the path"),
    ("SymlinkParentRelative", lambda t: t.symlink("localetc/sub/..", "/etc/"), "'..'"),
    (
        "HardlinkToSymlink",
        lambda t: t.symlink("localpasswd", "/etc/passwd").link("localpasswd-dup", "localpasswd"),
        "not a regular file",
    ),
    ("HardlinkToDir", lambda t: t.link("x", "etc"), "not a regular file"),
    ("HardlinkToMissing", lambda t: t.link("x", "nope"), "No such file"),
    (
        "HardlinkOutsideViaSymlink",
        lambda t: t.symlink("out", "../../..").link("x", "out/etc/passwd-outside"),
        "No such file",
    ),
    # the kernel's rule, as inside the container: "missing/.." does not resolve
    (
        "HardlinkRelativeUpAndOut",
        lambda t: t.symlink("localetc", "upandout/../../../etc").link(
            "localpasswd", "/localetc/passwd"
        ),
        "No such file",
    ),
    ("HardlinkToItself", lambda t: t.file("f", b"x").link("f", "f"), "itself"),
    ("WhiteoutRoot", lambda t: t.file(".wh..", b""), "invalid whiteout"),
    ("WhiteoutParent", lambda t: t.file("etc/.wh...", b""), "invalid whiteout"),
    ("WhiteoutCurrentDirectory", lambda t: t.file("etc/.wh..", b""), "invalid whiteout"),
    ("WhiteoutBare", lambda t: t.file("etc/.wh.", b""), "invalid whiteout"),
    ("FileThroughFile", lambda t: t.file("f", b"x").file("f/g", b"y"), "parent directory"),
    ("DanglingParent", lambda t: t.symlink("d", "/nonexistent").file("d/f", b"y"), "parent"),
]


@pytest.mark.parametrize(("name", "build", "why"), REFUSED, ids=[c[0] for c in REFUSED])
def test_refused(root: Path, name: str, build, why: str) -> None:  # type: ignore[no-untyped-def]
    t = TarBuilder().dir("etc", 0o770).file("/etc/passwd", b"inside")
    with pytest.raises(ImageError, match="layer entry") as exc:
        apply(build(t).data(), root)
    assert why in str(exc.value)
    outside_untouched(root)
    assert not (root.parent / "x").exists()


def test_hardlink_to_symlink_outside_does_not_chmod(root: Path, tmp_path: Path) -> None:
    """containerd's HardlinkSymlinkChmod: linking must never touch the host file."""
    p = tmp_path / "perm400"
    p.write_text("...")
    p.chmod(0o400)
    t = TarBuilder().symlink(str(tmp_path / "also-outside"), str(p))
    t.link("sketchylink", str(tmp_path / "also-outside"))
    with pytest.raises(ImageError, match="not a regular file"):
        apply(t.data(), root)
    assert stat.S_IMODE(p.stat().st_mode) == 0o400
    assert p.stat().st_nlink == 1


def test_directory_overrides_symlink(root: Path) -> None:
    t = TarBuilder().dir("etc").file("etc/passwd", b"inside").symlink("localetc", "/etc")
    t.dir("localetc").link("/localetc/localpasswd", "/etc/passwd")
    apply(t.data(), root)
    assert (root / "localetc").is_dir() and not (root / "localetc").is_symlink()
    assert same_inode(root / "localetc" / "localpasswd", root / "etc" / "passwd")
    assert not (root / "etc" / "localpasswd").exists()


def test_file_replaces_symlink_without_writing_through(root: Path) -> None:
    t = TarBuilder().dir("etc").file("etc/passwd", b"inside").symlink("f", "/etc/passwd")
    apply(t.file("f", b"replaced").data(), root)
    assert (root / "etc" / "passwd").read_bytes() == b"inside"
    assert not (root / "f").is_symlink() and (root / "f").read_bytes() == b"replaced"


def test_file_replaces_directory_tree(root: Path) -> None:
    t = TarBuilder().dir("d").dir("d/e").file("d/e/f", b"x").file("d", b"now a file")
    apply(t.file("d2/x", b"after").data(), root)
    assert (root / "d").read_bytes() == b"now a file"
    assert (root / "d2" / "x").read_bytes() == b"after"


def test_absolute_names_are_relative(root: Path) -> None:
    apply(TarBuilder().file("/abs/file", b"x").file("///x//y/./z", b"z").data(), root)
    assert (root / "abs" / "file").read_bytes() == b"x"
    assert (root / "x" / "y" / "z").read_bytes() == b"z"
    assert stat.S_IMODE((root / "abs").stat().st_mode) == 0o755  # implicit parent


def test_metadata(root: Path) -> None:
    t = TarBuilder().dir("./", 0o751).dir("ro", 0o555).file("ro/suid", b"#!", 0o4755)
    t.file("sgid", b"", 0o2711).dir("sticky", 0o1777).symlink("ro/link", "suid")
    t.fifo("ro/fifo", 0o640)
    stats = apply(t.data(), root)
    assert stats.entries == 7
    assert stat.S_IMODE(root.stat().st_mode) == 0o751
    assert stat.S_IMODE((root / "ro").stat().st_mode) == 0o555
    assert stat.S_IMODE((root / "ro" / "suid").stat().st_mode) == 0o4755
    assert stat.S_IMODE((root / "sgid").stat().st_mode) == 0o2711
    assert stat.S_IMODE((root / "sticky").stat().st_mode) == 0o1777
    assert stat.S_ISFIFO((root / "ro" / "fifo").lstat().st_mode)
    assert stat.S_IMODE((root / "ro" / "fifo").lstat().st_mode) == 0o640
    for p in ("ro", "ro/suid", "ro/link", "sticky", "ro/fifo"):
        assert (root / p).lstat().st_mtime == MTIME, p
    assert os.readlink(root / "ro" / "link") == "suid"


def test_root_defaults_to_0755(root: Path) -> None:
    root.chmod(0o700)
    apply(TarBuilder().file("f").data(), root)
    assert stat.S_IMODE(root.stat().st_mode) == 0o755


def test_duplicates_later_wins(root: Path) -> None:
    t = TarBuilder().dir("d", 0o700).file("f", b"one").file("f", b"two").dir("d", 0o750)
    apply(t.data(), root)
    assert (root / "f").read_bytes() == b"two"
    assert stat.S_IMODE((root / "d").stat().st_mode) == 0o750


def test_hardlink_and_relink(root: Path) -> None:
    t = TarBuilder().file("a", b"data").link("b", "a").link("b", "a").file("c").link("c", "a")
    apply(t.data(), root)
    assert same_inode(root / "a", root / "b") and same_inode(root / "a", root / "c")


def test_xattrs(root: Path) -> None:
    ti = tarfile.TarInfo("f")
    ti.pax_headers = {
        "SCHILY.xattr.user.key": "value",
        "SCHILY.xattr.user.bin": "\udcff\x00",  # raw bytes ff 00 as tarfile decodes them
        "SCHILY.xattr.trusted.overlay.redirect": "/etc",  # must never come from an image
    }
    apply(TarBuilder().add(ti, b"").data(), root)
    f = root / "f"
    try:
        assert os.getxattr(f, "user.key") == b"value"
    except OSError:
        pytest.skip("no user xattrs on this filesystem")
    assert os.getxattr(f, "user.bin") == b"\xff\x00"
    assert "trusted.overlay.redirect" not in os.listxattr(f)


def test_aufs_metadata_ignored(root: Path) -> None:
    t = TarBuilder().dir(".wh..wh.plnk").file(".wh..wh.plnk/123.45", b"x").file(".wh..wh.aufs")
    apply(t.file("ok").data(), root)
    assert sorted(os.listdir(root)) == ["ok"]


def test_whiteout_directory_name_is_a_plain_dir(root: Path) -> None:
    apply(TarBuilder().file(".wh.etc/somefile", b"non-empty").data(), root)
    assert (root / ".wh.etc" / "somefile").read_bytes() == b"non-empty"


def test_devices_skipped_when_unprivileged(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    stats = apply(TarBuilder().chr("null", 1, 3).blk("sda", 8, 0).file("f").data(), root)
    assert stats.skipped_devices == 2
    assert os.listdir(root) == ["f"]


def test_long_names(root: Path) -> None:
    long = "/".join(["d" * 50] * 8) + "/f"
    apply(TarBuilder().file(long, b"x").symlink("l", "t" * 300).data(), root)
    assert (root / long).read_bytes() == b"x"
    assert os.readlink(root / "l") == "t" * 300


def test_name_too_long(root: Path) -> None:
    with pytest.raises(ImageError, match="name too long"):
        apply(TarBuilder().file("x" * 200).data(), root, Limits(max_name=100))


def test_entry_budget(root: Path) -> None:
    t = TarBuilder()
    for i in range(5):
        t.file(f"f{i}")
    with pytest.raises(ImageError, match="more than 3 entries"):
        apply(t.data(), root, Limits(max_entries=3))


def test_time_budget(root: Path) -> None:
    t = TarBuilder()
    for i in range(300):
        t.file(f"f{i}")
    with pytest.raises(ImageError, match="longer than"):
        apply(t.data(), root, Limits(max_seconds=-1))


def test_gzip_bomb(root: Path) -> None:
    big = tarfile.TarInfo("zeros")
    big.size = 32 << 20
    data = TarBuilder().add(big, b"\0" * big.size).data()
    bomb = gzip.compress(data, compresslevel=9)
    assert len(bomb) * 500 < len(data)
    with pytest.raises(ImageError, match="decompression bomb"):
        apply(bomb, root, Limits(ratio_floor=4 << 20))


def test_gzip_layer(root: Path) -> None:
    apply(TarBuilder().dir("etc").file("etc/os-release", b"ID=test").gz(), root)
    assert (root / "etc" / "os-release").read_bytes() == b"ID=test"


@pytest.mark.parametrize(
    ("mangle", "why"),
    [
        (lambda d: d[:700], "unexpected end of data"),  # truncated inside file data
        (lambda d: d[:1536] + b"\x01" * 512 + b"\0" * 1024, "invalid tar header"),
        (lambda d: b"this is not a tar archive at all" * 40, "corrupt tar"),
        (lambda d: b"", "corrupt tar"),
    ],
)
def test_corrupt_archives(root: Path, mangle, why: str) -> None:  # type: ignore[no-untyped-def]
    data = TarBuilder().file("a", b"x" * 600).file("b", b"y").data()
    with pytest.raises(ImageError, match=why):
        apply(mangle(data), root)


def test_trailing_data_after_end_marker_is_ignored(root: Path) -> None:
    data = TarBuilder().file("a", b"x").data() + b"trailing junk"
    apply(data, root)
    assert (root / "a").read_bytes() == b"x"


def test_reads_whole_stream(root: Path) -> None:
    data = TarBuilder().file("a", b"x").data() + b"\0" * 20000
    src = io.BytesIO(data)
    unpack.apply_tar(src, str(root))
    assert src.tell() == len(data)


def _pax(name: str, kind: bytes = tarfile.REGTYPE, **pax: str) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.pax_headers = {"path": name, **pax}
    return ti


@pytest.mark.parametrize(
    "ti",
    [
        _pax("etc\0evil/passwd"),  # openat2 used to resolve the parent as "etc"
        _pax("lnk", tarfile.LNKTYPE, linkpath="etc\0zzz/passwd"),
    ],
    ids=["name", "hardlink-target"],
)
def test_nul_in_a_name_is_refused_not_truncated(root: Path, ti: tarfile.TarInfo) -> None:
    """Found by fuzzing: a NUL inside a pax path must not alias another file."""
    t = TarBuilder().dir("etc").file("etc/passwd", b"inside").add(ti, b"")
    with pytest.raises(ImageError, match="NUL byte"):
        apply(t.data(), root)
    assert (root / "etc" / "passwd").read_bytes() == b"inside"
    assert (root / "etc" / "passwd").stat().st_nlink == 1


@pytest.mark.parametrize("mtime", ["1e20", "9.3e18"])
def test_directory_mtime_beyond_time_t_is_clamped(root: Path, mtime: str) -> None:
    """Found by fuzzing: a pax mtime past what utime takes raised OverflowError
    from finish(), outside the per-entry error handling."""
    ti = _pax("d", tarfile.DIRTYPE, mtime=mtime)
    ti.mode = 0o755
    apply(TarBuilder().add(ti).file("d/f", b"x").data(), root)
    assert (root / "d").stat().st_mtime > 2**31 - 2  # as far as the filesystem goes


def test_infinite_mtime_is_refused(root: Path) -> None:
    ti = _pax("d", tarfile.DIRTYPE, mtime="1e400")
    with pytest.raises(ImageError, match="layer entry 'd'"):
        apply(TarBuilder().add(ti).data(), root)
