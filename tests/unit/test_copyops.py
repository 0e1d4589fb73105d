"""``launcher cp``'s Docker rules and in-root resolution, with a plain directory
standing in for a container's root (no container, no root needed)."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher import copyops
from launcher.copyops import CopyOptions, End
from launcher.errors import LauncherError, NotFoundError, UsageError
from launcher.spec.model import IDMapping, Linux, Spec

ME = (os.getuid(), os.getgid())


@pytest.fixture(params=["openat2", "walk"])
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    from launcher.image import resolve

    resolve.use_openat2(request.param == "openat2")
    yield str(request.param)
    resolve.use_openat2(True)


class Env:
    """``ctr``: the container's root, with escape symlinks; ``host``: a host dir
    with a secret the container must never reach."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ctr = tmp / "ctr"
        self.host = tmp / "host"
        self.host.mkdir()
        (self.host / "secret").write_text("host secret\n")
        (self.ctr / "etc").mkdir(parents=True)
        (self.ctr / "etc" / "hostname").write_text("inside\n")
        (self.ctr / "d" / "sub").mkdir(parents=True)
        (self.ctr / "d" / "a").write_text("a\n")
        (self.ctr / "d" / "sub" / "b").write_text("b\n")
        os.symlink("/", self.ctr / "escape")  # "/etc -> /" style
        os.symlink("../../../../../../../../" + str(self.host).lstrip("/"), self.ctr / "rel")
        os.symlink(str(self.host), self.ctr / "abs")
        os.symlink(str(self.host / "secret"), self.ctr / "fl")
        os.symlink("d", self.ctr / "dl")
        self.root = os.open(self.ctr, os.O_PATH | os.O_DIRECTORY)
        self.slash = os.open("/", os.O_PATH | os.O_DIRECTORY)
        self.out = tmp / "out"
        self.out.mkdir()

    def close(self) -> None:
        os.close(self.root)
        os.close(self.slash)

    def end(self, path: str) -> End:
        return End(self.root, path, "c")

    def cp_out(self, src: str, dst: str | Path, archive: bool = False, follow: bool = False,
               out: io.BytesIO | None = None) -> copyops.Result:
        return copyops.copy_out(self.end(src), str(dst), self.slash,
                                CopyOptions(archive, follow), out)

    def cp_in(self, src: str | Path, dst: str, follow: bool = False,
              stdin: io.BytesIO | None = None) -> copyops.Result:
        return copyops.copy_in(str(src), self.end(dst), self.slash, CopyOptions(False, follow),
                               stdin, ME)

    def host_untouched(self) -> bool:
        return [p.name for p in self.host.iterdir()] == ["secret"] and \
            (self.host / "secret").read_text() == "host secret\n"


@pytest.fixture
def env(tmp_path: Path, mode: str) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.close()


# ---- parsing
@pytest.mark.parametrize(("arg", "want"), [
    ("c:/etc", ("c", "/etc")), ("c:", ("c", "")), ("/abs:x", ("", "/abs:x")),
    ("./a:b", ("", "./a:b")), ("plain", ("", "plain")), ("-", ("", "-")),
    ("c:rel/x", ("c", "rel/x")),
])
def test_split_arg(arg: str, want: tuple[str, str]) -> None:
    assert copyops.split_arg(arg) == want


def test_end_parsing() -> None:
    e = End(-1, "a/../b/./c/", "c")
    assert (e.parts, e.dot, e.slash) == (["b", "c"], False, True)
    e = End(-1, "/x/.", "c")
    assert (e.parts, e.dot, e.slash) == (["x"], True, False)
    assert End(-1, "../../..", "c").parts == []
    assert End(-1, "rel").parts[-1] == "rel"  # host: from the cwd
    assert End(-1, "rel").path().startswith(os.getcwd())


def test_copy_requires_one_container(tmp_path: Path) -> None:
    from launcher.paths import Paths

    p = Paths.from_root(str(tmp_path))
    with pytest.raises(UsageError, match="at least one container"):
        copyops.copy(p, "/a", "/b", CopyOptions())
    with pytest.raises(UsageError, match="between containers"):
        copyops.copy(p, "a:/x", "b:/y", CopyOptions())
    with pytest.raises(UsageError, match="empty"):
        copyops.copy(p, "", "b:/y", CopyOptions())


# ---- Docker's rules, out of the container
def test_file_out(env: Env) -> None:
    env.cp_out("/etc/hostname", env.out / "new")  # DEST missing: written as DEST
    assert (env.out / "new").read_text() == "inside\n"
    env.cp_out("/etc/hostname", env.out)  # DEST a directory: copied into it
    assert (env.out / "hostname").read_text() == "inside\n"
    (env.out / "existing").write_text("old")
    env.cp_out("etc/hostname", env.out / "existing")  # DEST a file: overwritten
    assert (env.out / "existing").read_text() == "inside\n"
    with pytest.raises(NotFoundError, match="no such directory"):
        env.cp_out("/etc/hostname", f"{env.out}/nodir/")
    with pytest.raises(NotFoundError, match="no such directory"):
        env.cp_out("/etc/hostname", env.out / "nodir" / "x")
    with pytest.raises(UsageError, match="not a directory"):
        env.cp_out("/etc/hostname/", env.out / "y")


def test_dir_out(env: Env) -> None:
    env.cp_out("/d", env.out / "created")  # DEST missing: created with the content
    assert (env.out / "created" / "sub" / "b").read_text() == "b\n"
    env.cp_out("/d", env.out)  # DEST a directory: SRC copied into it
    assert (env.out / "d" / "a").is_file()
    (env.out / "into").mkdir()
    env.cp_out("/d/.", env.out / "into")  # SRC ends "/.": only the content
    assert (env.out / "into" / "a").is_file() and not (env.out / "into" / "d").exists()
    (env.out / "file").write_text("x")
    with pytest.raises(UsageError, match="cannot copy a directory to a file"):
        env.cp_out("/d", env.out / "file")


def test_symlink_source(env: Env) -> None:
    env.cp_out("/dl", env.out)  # copied as a symlink
    assert os.readlink(env.out / "dl") == "d"
    env.cp_out("/dl", env.out / "followed", follow=True)  # -L: the target, the link's name
    assert (env.out / "followed" / "a").is_file()
    (env.out / "x").mkdir()
    env.cp_out("/dl", env.out / "x", follow=True)
    assert (env.out / "x" / "dl" / "a").is_file()


def test_not_found_names_the_container(env: Env) -> None:
    with pytest.raises(NotFoundError, match="Could not find the file /nope in container c"):
        env.cp_out("/nope", env.out)


def test_tar_out(env: Env) -> None:
    buf = io.BytesIO()
    res = env.cp_out("/d", "-", out=buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        assert sorted(tar.getnames()) == ["d", "d/a", "d/sub", "d/sub/b"]
    assert res.size == 4 and res.dest == "-"


# ---- into the container
def test_into(env: Env) -> None:
    src = env.tmp / "src"
    (src / "in").mkdir(parents=True)
    (src / "f").write_text("f\n")
    (src / "in" / "g").write_text("g\n")
    env.cp_in(src / "f", "/etc/")
    assert (env.ctr / "etc" / "f").read_text() == "f\n"
    env.cp_in(src, "/newdir")
    assert (env.ctr / "newdir" / "in" / "g").read_text() == "g\n"
    env.cp_in(f"{src}/.", "/d")
    assert (env.ctr / "d" / "f").is_file() and (env.ctr / "d" / "a").is_file()
    res = env.cp_in(src / "f", "dl")  # a symlink DEST is followed: "dl" -> d
    assert (env.ctr / "d" / "f").is_file() and res.dest == "c:dl"
    with pytest.raises(NotFoundError, match="Could not find the file /nodir in container c"):
        env.cp_in(src / "f", "/nodir/x")
    with pytest.raises(NotFoundError, match="lstat"):
        env.cp_in(env.tmp / "missing", "/")


def test_tar_in(env: Env) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("t/x")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"x\n"))
    buf.seek(0)
    env.cp_in("-", "/d", stdin=buf)
    assert (env.ctr / "d" / "t" / "x").read_text() == "x\n"
    with pytest.raises(UsageError, match="must be a directory"):
        env.cp_in("-", "/etc/hostname", stdin=io.BytesIO(buf.getvalue()))


# ---- escapes: every symlink is resolved inside the container's root
@pytest.mark.parametrize("path", ["/escape" + "/host/secret", "/rel/secret", "/abs/secret"])
def test_escape_reads(env: Env, path: str) -> None:
    path = path.replace("/host", str(env.host))
    with pytest.raises(NotFoundError, match="Could not find"):
        env.cp_out(path, env.out / "got")
    with pytest.raises(NotFoundError):
        env.cp_out("/fl", env.out / "got", follow=True)
    assert not (env.out / "got").exists()


def test_escape_writes(env: Env) -> None:
    src = env.tmp / "payload"
    src.write_text("pwned\n")
    targets = (f"/escape{env.host}/secret", "/rel/new", "/abs/new", "/fl", "/abs/")
    for dst in targets:  # the container has no such directory: each one fails
        with pytest.raises(LauncherError):
            env.cp_in(src, dst)
    assert env.host_untouched()
    inside = env.ctr / str(env.host).lstrip("/")
    inside.mkdir(parents=True)  # now it has: each write lands in the container
    for dst in targets:
        env.cp_in(src, dst)
    assert env.host_untouched()
    assert sorted(p.name for p in inside.iterdir()) == ["new", "payload", "secret"]


def test_escape_symlink_copied_out_stays_a_symlink(env: Env) -> None:
    env.cp_out("/", env.out / "all")
    assert os.readlink(env.out / "all" / "fl") == str(env.host / "secret")
    assert (env.out / "all" / "etc" / "hostname").read_text() == "inside\n"


# ---- owners
def test_root_ids() -> None:
    assert copyops.root_ids(Spec()) == (0, 0)
    maps = [IDMapping(container_id=0, host_id=100000, size=65536)]
    assert copyops.root_ids(Spec(linux=Linux(uid_mappings=maps, gid_mappings=maps))) == \
        (100000, 100000)
    other = [IDMapping(container_id=1, host_id=5, size=10)]
    with pytest.raises(LauncherError, match="maps no uid 0"):
        copyops.root_ids(Spec(linux=Linux(uid_mappings=other, gid_mappings=maps)))
