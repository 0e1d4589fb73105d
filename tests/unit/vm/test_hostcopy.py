"""cp through a machine for host paths outside its shares: the plan, the host's
tar of SRC, and Docker's placement rules for a tar coming back."""

from __future__ import annotations

import io
import os
import sys
import tarfile
from pathlib import Path

import pytest

from launcher.errors import NotFoundError, UsageError
from launcher.vm import hostcopy
from launcher.vm.forward import Plan


def _tar(tmp: Path, entries: list[tuple[str, str, bytes | str]]) -> str:
    """(name, kind d|f|l|c, data or link target) → a tar file like `cp C:SRC -`'s."""
    path = tmp / f"out{len(list(tmp.iterdir()))}.tar"
    with tarfile.open(path, "w") as tar:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            if kind == "d":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif kind == "l":
                info.type, info.linkname = tarfile.SYMTYPE, str(data)
                tar.addfile(info)
            elif kind == "c":
                info.type = tarfile.CHRTYPE
                tar.addfile(info)
            else:
                raw = data if isinstance(data, bytes) else data.encode()
                info.size, info.mode = len(raw), 0o644
                tar.addfile(info, io.BytesIO(raw))
    return str(path)


PLACE_NEEDS_LINUX = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="placing a copy outside the shares uses the Linux extractor (elsewhere: refused)")


@pytest.fixture
def tars(tmp_path: Path) -> Path:
    d = tmp_path / "tars"
    d.mkdir()
    return d


@pytest.fixture
def host(tmp_path: Path) -> Path:
    d = tmp_path / "host"
    d.mkdir()
    return d


FILE = [("f", "f", "one")]
DIR = [("d", "d", b""), ("d/f", "f", "two"), ("d/abs", "l", "/etc/passwd")]
CONTENTS = [(".", "d", b""), ("./f", "f", "three")]


@PLACE_NEEDS_LINUX
def test_a_file(tars: Path, host: Path) -> None:
    hostcopy.place(_tar(tars, FILE), str(host / "new"), False)  # missing: its name
    assert (host / "new").read_text() == "one"
    hostcopy.place(_tar(tars, FILE), str(host), False)  # a directory: inside, own name
    assert (host / "f").read_text() == "one"
    (host / "old").write_text("x")
    hostcopy.place(_tar(tars, FILE), str(host / "old"), False)  # a file: overwritten
    assert (host / "old").read_text() == "one"
    with pytest.raises(NotFoundError, match="no such directory"):
        hostcopy.place(_tar(tars, FILE), str(host / "nodir") + "/", False)
    with pytest.raises(NotFoundError, match="no such directory"):
        hostcopy.place(_tar(tars, FILE), str(host / "a" / "b"), False)


@PLACE_NEEDS_LINUX
def test_a_directory(tars: Path, host: Path) -> None:
    hostcopy.place(_tar(tars, DIR), str(host / "copy"), False)  # missing: made
    assert (host / "copy" / "f").read_text() == "two"
    assert os.readlink(host / "copy" / "abs") == "/etc/passwd"  # a link, kept as one
    hostcopy.place(_tar(tars, DIR), str(host / "copy"), False)  # exists: inside it
    assert (host / "copy" / "d" / "f").read_text() == "two"
    (host / "file").write_text("x")
    with pytest.raises(UsageError, match="cannot copy a directory to a file"):
        hostcopy.place(_tar(tars, DIR), str(host / "file"), False)


@PLACE_NEEDS_LINUX
def test_contents_with_slash_dot(tars: Path, host: Path) -> None:
    hostcopy.place(_tar(tars, CONTENTS), str(host), False)
    assert (host / "f").read_text() == "three"
    hostcopy.place(_tar(tars, CONTENTS), str(host / "made"), False)
    assert (host / "made" / "f").read_text() == "three"


@PLACE_NEEDS_LINUX
@pytest.mark.parametrize("entries", [
    [("d", "d", b""), ("d/../../escape", "f", "x")],
    [("d", "d", b""), ("d/dev", "c", b"")],
    [("d", "d", b""), ("d/hard", "h", b"")],
])
def test_what_would_leave_the_destination_is_refused(tars: Path, host: Path,
                                                     entries: list[tuple[str, str, bytes]]
                                                     ) -> None:
    if entries[-1][1] == "h":
        path = tars / "hard.tar"
        with tarfile.open(path, "w") as tar:
            info = tarfile.TarInfo("d")
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
            info = tarfile.TarInfo("d/hard")
            info.type, info.linkname = tarfile.LNKTYPE, "/etc/shadow"
            tar.addfile(info)
        tar_path = str(path)
    else:
        tar_path = _tar(tars, entries)
    with pytest.raises(UsageError, match="refusing"):
        hostcopy.place(tar_path, str(host / "x"), False)
    assert not (host / "x").exists() and not (host.parent / "escape").exists()


def test_pack_names_the_top_entry_and_follows_with_L(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "f").write_text("x")
    (tmp_path / "link").symlink_to("dir")
    out = str(tmp_path / "o.tar")

    def members(src: str, follow: bool) -> list[tarfile.TarInfo]:
        hostcopy.pack(src, follow, out)
        with tarfile.open(out) as tar:
            return tar.getmembers()

    assert [m.name for m in members(str(tmp_path / "dir"), False)] == ["dir", "dir/f"]
    assert [m.issym() for m in members(str(tmp_path / "link"), False)] == [True]
    assert [m.name for m in members(str(tmp_path / "link"), True)] == ["link", "link/f"]


def _shared(path: str) -> bool:
    return path.startswith("/shared/")


def test_plan(tmp_path: Path) -> None:
    p = Plan(["cp", "/shared/a", "c:/x"])
    hostcopy.plan(p, _shared)
    assert p.upload is None and p.download is None and p.argv == ["cp", "/shared/a", "c:/x"]
    src = tmp_path / "src"
    src.mkdir()
    p = Plan(["cp", "-aL", f"{src}/.", "c:/x"])
    hostcopy.plan(p, _shared)
    assert p.upload == (f"{src}/.", True)
    assert p.stage == {"index": 2, "name": "src", "suffix": "/.", "owners": True}
    p = Plan(["cp", "c:/etc/hosts", str(tmp_path / "out")])
    hostcopy.plan(p, _shared)
    assert p.argv == ["cp", "c:/etc/hosts", "-"] and p.download == (str(tmp_path / "out"),
                                                                     False)
    p = Plan(["cp", "-", "c:/x"])
    hostcopy.plan(p, _shared)
    assert p.stdin_tty and p.upload is None
    with pytest.raises(NotFoundError, match="no such file"):
        hostcopy.plan(Plan(["cp", str(tmp_path / "missing"), "c:/x"]), _shared)
    p = Plan(["cp", "--bogus", "a", "c:/x"])  # the guest's cp reports it
    hostcopy.plan(p, _shared)
    assert p.upload is None and p.argv == ["cp", "--bogus", "a", "c:/x"]
