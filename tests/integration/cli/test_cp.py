"""``launcher cp`` against real containers, running and stopped: Docker's rules,
tar streams, owners, volumes, and symlinks that try to reach the host."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .conftest import CALL_TIMEOUT, Cli
from .test_run_detached import wait_for


@contextmanager
def container(cli: Cli, name: str, *run_args: str, script: str = "true",
              running: bool = True) -> Iterator[str]:
    """A busybox container named ``name`` that ran ``script`` and then either
    sleeps (``running``) or has exited; removed afterwards."""
    cmd = f"set -e; {script}; " + ("touch /.ready; exec sleep 600" if running else "true")
    flags = ["-d"] if running else []
    res = cli.run("run", *flags, "--name", name, *run_args, "busybox", "sh", "-c", cmd)
    try:
        assert res.returncode == 0, res.stderr
        wait_for(cli, name, "running" if running else "exited")
        if running:  # the script is done once /.ready exists
            ready = cli.run("exec", name, "sh", "-c", "while [ ! -e /.ready ]; do sleep 0.05; "
                            "done")
            assert ready.returncode == 0, ready.stderr
        yield name
    finally:
        cli.run("rm", "-f", name)


def cp(cli: Cli, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cli.argv("cp", *args), input=stdin,
                          stdin=subprocess.DEVNULL if stdin is None else None,
                          capture_output=True, timeout=CALL_TIMEOUT, check=False)


def ok(res: subprocess.CompletedProcess[bytes]) -> bytes:
    assert res.returncode == 0, res.stderr.decode()
    return res.stdout


def fails(res: subprocess.CompletedProcess[bytes], text: str) -> None:
    err = res.stderr.decode()
    assert res.returncode == 125, err
    assert text in err and err.count("\n") == 1, err


def cat(cli: Cli, name: str, path: str) -> str:
    res = cli.run("exec", name, "cat", path)
    assert res.returncode == 0, res.stderr
    return res.stdout


def members(tar_bytes: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        return {m.name: m for m in tar}


def names(tar_bytes: bytes) -> list[str]:
    return sorted(members(tar_bytes))


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A host directory the container should only see through volumes."""
    h = tmp_path / "host"
    (h / "tree" / "sub").mkdir(parents=True)
    (h / "file").write_text("from host\n")
    (h / "tree" / "a").write_text("a\n")
    (h / "tree" / "sub" / "b").write_text("b\n")
    return h


SETUP = ("mkdir -p /data/sub && echo one > /data/one && echo two > /data/sub/two "
         "&& ln -s data /dl && chown 1234:5678 /data/one")


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_both_directions(cli: Cli, host: Path, tmp_path: Path, running: bool) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with container(cli, "c", script=SETUP, running=running):
        # out of the container: a file, into a dir / as a new name / over a file
        ok(cp(cli, "c:/data/one", str(out)))
        ok(cp(cli, "c:/data/one", str(out / "renamed")))
        assert (out / "one").read_text() == (out / "renamed").read_text() == "one\n"
        assert (out / "one").stat().st_uid == os.getuid()  # the invoking user, not 1234
        ok(cp(cli, "-a", "c:/data/one", str(out / "kept")))
        st = (out / "kept").stat()
        assert (st.st_uid, st.st_gid) == (1234, 5678)
        # a directory: missing DEST is created; existing DEST gets it inside; /. the content
        ok(cp(cli, "c:/data", str(out / "newdir")))
        assert (out / "newdir" / "sub" / "two").read_text() == "two\n"
        ok(cp(cli, "c:/data", str(out / "newdir")))
        assert (out / "newdir" / "data" / "one").is_file()
        (out / "content").mkdir()
        ok(cp(cli, "c:/data/.", str(out / "content")))
        assert sorted(os.listdir(out / "content")) == ["one", "sub"]
        # symlinks: copied as such, followed with -L (under the link's name)
        ok(cp(cli, "c:/dl", str(out)))
        assert os.readlink(out / "dl") == "data"
        ok(cp(cli, "-L", "c:/dl", str(out / "followed")))
        assert (out / "followed" / "one").is_file()
        # into the container: root-owned unless -a
        os.chown(host / "file", 4321, 8765)
        ok(cp(cli, str(host / "file"), "c:/data/"))
        ok(cp(cli, str(host / "tree"), "c:/newtree"))
        ok(cp(cli, "-a", str(host / "file"), "c:/kept"))
        ok(cp(cli, f"{host / 'tree'}/.", "c:/data"))
        ok(cp(cli, str(host / "file"), "c:/dl"))  # a symlink DEST is followed: into /data
        listing = ok(cp(cli, "c:/", "-"))
        found = members(listing)
        assert found["./data/file"].uid == 0 and found["./kept"].uid == 4321
        assert found["./kept"].gid == 8765 and "./newtree/sub/b" in found
        assert "./data/a" in found and "./data/sub/b" in found and "./data/sub/two" in found


def test_running_container_sees_copies(cli: Cli, host: Path) -> None:
    with container(cli, "r"):
        ok(cp(cli, str(host / "file"), "r:/tmp/f"))
        assert cat(cli, "r", "/tmp/f") == "from host\n"
        assert cli.run("exec", "r", "stat", "-c", "%u:%g", "/tmp/f").stdout == "0:0\n"
        assert cli.run("pause", "r").returncode == 0  # frozen: cp needs none of its processes
        ok(cp(cli, str(host / "tree"), "r:/tmp/t"))
        assert names(ok(cp(cli, "r:/tmp/t", "-"))) == ["t", "t/a", "t/sub", "t/sub/b"]
        assert cli.run("unpause", "r").returncode == 0
        assert cat(cli, "r", "/tmp/t/sub/b") == "b\n"


def test_trailing_slash_rules_and_errors(cli: Cli, host: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with container(cli, "t", script=SETUP, running=False):
        fails(cp(cli, str(host / "file"), "t:/nodir/"), "no such directory")
        fails(cp(cli, "t:/data/one", f"{out}/nodir/"), "no such directory")
        fails(cp(cli, "t:/data/one/", str(out)), "not a directory")
        fails(cp(cli, "t:/nothing", str(out)), "Could not find the file /nothing in container t")
        fails(cp(cli, str(host / "tree"), "t:/data/one"), "cannot copy a directory to a file")
        fails(cp(cli, str(host / "file"), "t:/missing/dir/x"),
              "Could not find the file /missing/dir in container t")
        fails(cp(cli, "t:/etc", "u:/etc"), "copying between containers is not supported")
        fails(cp(cli, str(host), str(out)), "must specify at least one container source")
        fails(cp(cli, "nosuch:/etc", str(out)), "No such container: nosuch")
        fails(cp(cli, "-", "t:/data/one", stdin=b""), "must be a directory")
        ok(cp(cli, str(host / "file"), "t:/newfile"))  # DEST missing, no slash: a file
        assert ok(cp(cli, "t:/newfile", "-")).count(b"from host") == 1


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_tar_streams(cli: Cli, tmp_path: Path, running: bool) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("x/y", b"why\n"), ("top", b"top\n")):
            info = tarfile.TarInfo(name)
            info.size, info.uid = len(data), 999
            tar.addfile(info, io.BytesIO(data))
    with container(cli, "s", script="mkdir /in", running=running):
        ok(cp(cli, "-", "s:/in", stdin=buf.getvalue()))
        got = ok(cp(cli, "s:/in", "-"))
        assert names(got) == ["in", "in/top", "in/x", "in/x/y"]
        assert members(got)["in/top"].uid == 0  # root-owned without -a
        ok(cp(cli, "-a", "-", "s:/in", stdin=buf.getvalue()))
        assert members(ok(cp(cli, "s:/in", "-")))["in/top"].uid == 999
        assert names(ok(cp(cli, "s:/in/.", "-")))[:2] == [".", "./top"]


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_volumes(cli: Cli, tmp_path: Path, running: bool) -> None:
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "keep").write_text("ro\n")
    src = tmp_path / "payload"
    src.write_text("payload\n")
    with container(cli, "v", "-v", f"{rw}:/rw", "-v", f"{ro}:/ro:ro", running=running):
        ok(cp(cli, str(src), "v:/rw/new"))
        assert (rw / "new").read_text() == "payload\n"  # in the volume, not the layer
        assert ok(cp(cli, "v:/ro/keep", "-")).count(b"ro\n") == 1
        fails(cp(cli, str(src), "v:/ro/x"), "read-only file system")
        assert sorted(os.listdir(ro)) == ["keep"]


def test_read_only_root_of_a_stopped_container(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "payload"
    src.write_text("payload\n")
    vol = tmp_path / "vol"
    vol.mkdir()
    with container(cli, "ro", "--read-only", "-v", f"{vol}:/vol", running=False):
        fails(cp(cli, str(src), "ro:/tmp/x"), "read-only file system")
        ok(cp(cli, str(src), "ro:/vol/x"))  # its volumes stay writable, as in Docker
        assert (vol / "x").is_file()


# ---- escapes: symlinks made in the container that name host paths
def _escape_script(marker: Path) -> str:
    up = "../" * 12 + str(marker).lstrip("/")
    return (f"ln -s / /escape && ln -s {up} /rel && ln -s {marker} /abs "
            f"&& ln -s {marker}/secret /fl && mkdir /safe")


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_symlinks_never_reach_the_host(cli: Cli, tmp_path: Path, running: bool) -> None:
    marker = tmp_path / "hostmark"
    marker.mkdir()
    (marker / "secret").write_text("host secret\n")
    out = tmp_path / "out"
    out.mkdir()
    payload = tmp_path / "payload"
    payload.write_text("pwned\n")

    def host_untouched() -> None:
        assert sorted(os.listdir(marker)) == ["secret"]
        assert (marker / "secret").read_text() == "host secret\n"

    with container(cli, "e", script=_escape_script(marker), running=running):
        # reads: resolved in the container's root, where the marker does not exist
        for src in (f"e:/escape{marker}/secret", "e:/rel/secret", "e:/abs/secret",
                    "e:/rel/.", "e:/abs/"):
            fails(cp(cli, src, str(out / "got")), "Could not find the file")
        fails(cp(cli, "-L", "e:/fl", str(out / "got")), "Could not find the file")
        assert not (out / "got").exists()
        ok(cp(cli, "e:/fl", str(out)))  # a symlink is copied as a symlink, not read
        assert os.readlink(out / "fl") == f"{marker}/secret"
        assert b"host secret" not in ok(cp(cli, "e:/", "-"))
        # writes: refused while the container has no such directory...
        for dst in (f"e:/escape{marker}/new", "e:/rel/new", "e:/abs/new", "e:/fl",
                    "e:/abs/"):
            res = cp(cli, str(payload), dst)
            assert res.returncode == 125, (dst, res.stderr)
        host_untouched()
        # ...a tar stream cannot climb out or write through a symlink it made...
        evil = io.BytesIO()
        with tarfile.open(fileobj=evil, mode="w") as tar:
            link = tarfile.TarInfo("lnk")
            link.type, link.linkname = tarfile.SYMTYPE, str(marker)
            tar.addfile(link)
            f = tarfile.TarInfo("lnk/pwn")
            f.size = 3
            tar.addfile(f, io.BytesIO(b"pwn"))
        fails(cp(cli, "-", "e:/safe", stdin=evil.getvalue()), "not a directory")
        dots = io.BytesIO()
        with tarfile.open(fileobj=dots, mode="w") as tar:
            f = tarfile.TarInfo("../../../../../../../../" + str(marker).lstrip("/") + "/pwn")
            f.size = 3
            tar.addfile(f, io.BytesIO(b"pwn"))
        fails(cp(cli, "-", "e:/safe", stdin=dots.getvalue()), "outside the destination")
        host_untouched()
    # ...and once the container has the directory, writes land there, not on the host
    with container(cli, "e2", script=_escape_script(marker) + f" && mkdir -p {marker}",
                   running=running):
        for dst in (f"e2:/escape{marker}/new", "e2:/rel/new2", "e2:/abs/new3", "e2:/fl"):
            ok(cp(cli, str(payload), dst))
        host_untouched()
        listing = names(ok(cp(cli, f"e2:{marker}", "-")))
        assert listing == ["hostmark", "hostmark/new", "hostmark/new2", "hostmark/new3",
                           "hostmark/secret"]
