"""The fd-relative tree walker, tar streams and extractor behind ``launcher cp``."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.backend.linux import copyfs
from launcher.backend.linux.copyextract import Extractor, clean
from launcher.errors import UnsupportedError, UsageError

ME = (os.getuid(), os.getgid())


def _fd(path: Path) -> int:
    return os.open(path, os.O_PATH | os.O_DIRECTORY)


def _copy(src_parent: Path, name: str, top: str, dest: Path, owner: tuple[int, int] | None = ME
          ) -> Extractor:
    parent, into = _fd(src_parent), _fd(dest)
    try:
        ex = Extractor(into, owner, ME, str(dest))
        try:
            for info, data in copyfs.walk(parent, name, top):
                ex.add(info, data)
            ex.finish()
        finally:
            ex.close()
        return ex
    finally:
        os.close(parent)
        os.close(into)


def _names(parent: Path, name: str, top: str) -> list[str]:
    fd = _fd(parent)
    try:
        return [info.name for info, _ in copyfs.walk(fd, name, top)]
    finally:
        os.close(fd)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """src/d: a file, a 0555 subdir with a file, a symlink to a host file, a fifo,
    two hard links to one file."""
    d = tmp_path / "src" / "d"
    (d / "sub").mkdir(parents=True)
    (d / "f").write_text("hello\n")
    (d / "sub" / "g").write_bytes(b"\0" * 70000)
    os.chmod(d / "sub", 0o555)
    os.utime(d / "f", (1_000_000_000, 1_000_000_000))
    (tmp_path / "hostsecret").write_text("secret\n")
    os.symlink(tmp_path / "hostsecret", d / "abs")
    os.symlink("../../../hostsecret", d / "rel")
    os.mkfifo(d / "pipe")
    (d / "h1").write_text("linked\n")
    os.link(d / "h1", d / "h2")
    return tmp_path


def test_walk_names_and_kinds(tree: Path) -> None:
    src = tree / "src"
    assert _names(src, "d", "d") == ["d", "d/abs", "d/f", "d/h1", "d/h2", "d/pipe", "d/rel",
                                     "d/sub", "d/sub/g"]
    assert _names(src / "d", ".", ".")[:2] == [".", "./abs"]  # "/." : the content
    assert _names(src / "d", "f", "renamed") == ["renamed"]
    fd = _fd(src)
    try:
        kinds = {i.name: (i.type, i.linkname) for i, _ in copyfs.walk(fd, "d", "d")}
    finally:
        os.close(fd)
    assert kinds["d/abs"] == (tarfile.SYMTYPE, str(tree / "hostsecret"))
    assert kinds["d/pipe"][0] == tarfile.FIFOTYPE
    assert kinds["d/h2"] == (tarfile.LNKTYPE, "d/h1")


def test_copy_tree_keeps_content_modes_links_and_times(tree: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    ex = _copy(tree / "src", "d", "d", dest)
    out = dest / "d"
    assert (out / "f").read_text() == "hello\n"
    assert (out / "f").stat().st_mtime == 1_000_000_000
    assert (out / "sub" / "g").read_bytes() == b"\0" * 70000
    assert stat.S_IMODE((out / "sub").stat().st_mode) == 0o555
    assert os.readlink(out / "abs") == str(tree / "hostsecret")  # copied, never followed
    assert os.readlink(out / "rel") == "../../../hostsecret"
    assert stat.S_ISFIFO((out / "pipe").lstat().st_mode)
    assert (out / "h1").stat().st_ino == (out / "h2").stat().st_ino
    assert ex.copied == 6 + 70000 + 7


def test_renamed_top_and_content_copy(tree: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    _copy(tree / "src", "d", "newname", dest)
    assert (dest / "newname" / "f").is_file()
    _copy(tree / "src" / "d", ".", ".", dest)  # "d/." into dest: the content only
    assert (dest / "f").is_file() and (dest / "sub" / "g").is_file()


def test_tar_round_trip(tree: Path, tmp_path: Path) -> None:
    buf = io.BytesIO()
    fd = _fd(tree / "src")
    try:
        size = copyfs.write_tar(copyfs.walk(fd, "d", "d"), buf)
    finally:
        os.close(fd)
    assert size == 6 + 70000 + 7
    buf.seek(0)
    dest = tmp_path / "fromtar"
    dest.mkdir()
    into = _fd(dest)
    try:
        ex = Extractor(into, ME, ME, "x")
        for info, data in copyfs.read_tar(buf):
            ex.add(info, data)
        ex.finish()
    finally:
        os.close(into)
    assert (dest / "d" / "sub" / "g").read_bytes() == b"\0" * 70000
    assert (dest / "d" / "h1").stat().st_ino == (dest / "d" / "h2").stat().st_ino


def _tar(*members: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    return info


def _extract(stream: io.BytesIO, dest: Path) -> None:
    into = _fd(dest)
    ex = Extractor(into, ME, ME, str(dest))
    try:
        for info, data in copyfs.read_tar(stream):
            ex.add(info, data)
        ex.finish()
    finally:
        ex.close()
        os.close(into)


def test_symlink_in_the_way_is_never_followed(tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    evil = _tar((_member("d", tarfile.SYMTYPE, str(host)), b""), (_member("d/x"), b"pwned"))
    with pytest.raises(OSError, match="not a directory"):
        _extract(evil, dest)
    assert list(host.iterdir()) == []
    # a directory entry over the symlink is refused too
    evil = _tar((_member("d", tarfile.SYMTYPE, str(host)), b""),
                (_member("d", tarfile.DIRTYPE), b""))
    with pytest.raises(OSError, match="cannot overwrite a non-directory"):
        _extract(evil, dest)
    # a file entry replaces the symlink itself, not what it points to
    (host / "f").write_text("host\n")
    os.symlink(host / "f", dest / "f")
    _extract(_tar((_member("f"), b"new\n")), dest)
    assert (host / "f").read_text() == "host\n" and (dest / "f").read_text() == "new\n"


def test_names_may_not_climb_out(tmp_path: Path) -> None:
    assert clean("./a//b/../c/") == ["a", "c"]
    assert clean("/abs/x") == ["abs", "x"]
    assert clean(".") == []
    with pytest.raises(UsageError, match="outside"):
        clean("a/../../x")
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UsageError):
        _extract(_tar((_member("../x"), b"x")), dest)
    assert not (tmp_path / "x").exists()


def test_hardlink_target_must_be_inside(tmp_path: Path) -> None:
    (tmp_path / "outside").write_text("host\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(tmp_path, dest / "up")
    with pytest.raises(OSError):  # "up" is a symlink: not walked through
        _extract(_tar((_member("l", tarfile.LNKTYPE, "up/outside"), b"")), dest)
    with pytest.raises(UsageError):
        _extract(_tar((_member("l", tarfile.LNKTYPE, "../outside"), b"")), dest)
    assert not (dest / "l").exists()


def test_overwrite_rules(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "dir").mkdir(parents=True)
    (dest / "file").write_text("old")
    with pytest.raises(OSError, match="cannot overwrite a directory"):
        _extract(_tar((_member("dir"), b"x")), dest)
    with pytest.raises(OSError, match="cannot overwrite a non-directory"):
        _extract(_tar((_member("file", tarfile.DIRTYPE), b"")), dest)
    _extract(_tar((_member("file"), b"new")), dest)
    assert (dest / "file").read_text() == "new"
    d = _member("dir", tarfile.DIRTYPE)
    d.mode = 0o700
    _extract(_tar((d, b"")), dest)  # an existing directory takes the entry's mode
    assert stat.S_IMODE((dest / "dir").stat().st_mode) == 0o700


def test_missing_parents_are_made(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    _extract(_tar((_member("a/b/c"), b"deep")), dest)
    assert (dest / "a" / "b" / "c").read_text() == "deep"


def test_owner_fixed_or_kept(tree: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    _copy(tree / "src", "d", "kept", dest, owner=None)
    st = (dest / "kept" / "f").stat()
    assert (st.st_uid, st.st_gid) == ME
    info = _member("f")
    info.uid = 1 << 40  # not a 32-bit id: refused, never truncated or taken as 0
    into = _fd(dest)
    try:
        with pytest.raises(OSError, match="invalid owner"):
            Extractor(into, None, ME, "x").add(info, io.BytesIO(b""))
    finally:
        os.close(into)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to other ids and mknod need root")
def test_root_owner_and_devices(tree: Path, tmp_path: Path) -> None:
    src = tree / "src" / "d"
    os.chown(src / "f", 1234, 5678)
    dest = tmp_path / "dest"
    dest.mkdir()
    _copy(tree / "src", "d", "fixed", dest, owner=(0, 0))
    _copy(tree / "src", "d", "kept", dest, owner=None)
    assert (dest / "fixed" / "f").stat().st_uid == 0
    st = (dest / "kept" / "f").stat()
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    os.mknod(src / "null", 0o620 | stat.S_IFCHR, os.makedev(1, 3))
    os.chmod(src / "null", 0o620)  # past the umask
    _copy(tree / "src", "d", "dev", dest)
    st = (dest / "dev" / "null").lstat()
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(st.st_mode) == 0o620


def test_kernel_file_systems(tmp_path: Path) -> None:
    fd = os.open("/proc", os.O_PATH | os.O_DIRECTORY)
    try:
        assert copyfs.kernel_fs(fd) == "proc"
    finally:
        os.close(fd)
    fd = _fd(tmp_path)
    try:
        assert copyfs.kernel_fs(fd) is None
    finally:
        os.close(fd)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts proc in a private namespace (root)")
def test_kernel_fs_below_is_shown_empty_and_refused_as_target(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "etc").mkdir()
    pid = os.fork()
    if pid == 0:  # the child takes the mount namespace; pytest's own stays untouched
        code = 1
        try:
            code = _kernel_fs_child(root)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _kernel_fs_child(root: Path) -> int:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x20000) != 0:  # CLONE_NEWNS
        return 2
    libc.mount(None, b"/", None, 0x4000 | 0x40000, None)  # MS_REC | MS_PRIVATE
    if libc.mount(b"proc", str(root / "proc").encode(), b"proc", 0, None) != 0:
        return 3
    parent = _fd(root.parent)
    try:
        names = [i.name for i, _ in copyfs.walk(parent, "root", "r")]
    finally:
        os.close(parent)
    if names != ["r", "r/etc", "r/proc"]:  # proc shown, not its content
        return 4
    into = _fd(root)
    ex = Extractor(into, ME, ME, "c:/")
    try:
        ex.add(_member("proc", tarfile.DIRTYPE), None)  # left alone, no error
        try:
            ex.add(_member("proc/sysrq-trigger"), io.BytesIO(b""))
        except UnsupportedError as exc:
            return 0 if "proc, a kernel file system" in str(exc) else 5
        return 6
    finally:
        ex.close()
        os.close(into)


def test_fd_reader_pads_a_shrunk_file(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"abc")
    fd = os.open(f, os.O_RDONLY)
    try:
        r = copyfs.FdReader(fd, 5)
        assert r.read(4) == b"abc\0" and r.read(10) == b"\0" and r.read(1) == b""
    finally:
        os.close(fd)


def test_fifos_are_listed_never_opened(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    os.mkfifo(d / "p")
    fd = _fd(tmp_path)
    try:
        entries: Iterator[copyfs.Entry] = copyfs.walk(fd, "d", "d")
        assert [(i.name, data) for i, data in entries] == [("d", None), ("d/p", None)]
    finally:
        os.close(fd)
