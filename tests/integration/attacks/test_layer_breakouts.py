"""containerd's ``TestBreakouts`` (pkg/archive/tar_test.go), end to end: each case is
an image, brought in with ``launcher load`` (a few also with ``pull``), and what
the container then sees is checked path by path.

tests/unit/image/test_unpack.py runs the same cases against ``unpack()`` alone
(and the near-duplicates left out here: the other invalid whiteouts,
SymlinkOverrideDirectoryRelative, HardlinkSymlinkRelative);
here they go through the whole path a user's image takes (archive plan, blob
store, layer commit, overlay rootfs, container), with the layers in separate
layer directories as the overlay sees them. Cases where containerd's lower
layers come from a test fixture (``apply:``) are a base layer here. Layers are
applied one by one into their own directory, as Docker's overlay2 driver does,
so a symlink in a lower layer is not followed by an upper layer's entries.

Every case: the exact outcome (the view inside the container, or exit 125 with
one line naming the layer entry and the reason), nothing written outside the
layer (host /etc, the directories above the store, a host sentinel), and
nothing left behind.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path

import pytest

from tests.integration.attacks.kit import (
    HostFiles,
    Sentinel,
    assert_refused,
    build,
    indexed,
    load,
    load_ok,
    storage_names,
)
from tests.integration.cli.conftest import Cli
from tests.integration.image.layertar import Entry, dir_, file, layer_tar, symlink

U = b"unbroken"
INSIDE = b"inside"


def link(name: str, target: str) -> Entry:
    """A hard link whose target is written verbatim (ocibuild.hardlink strips a leading /)."""
    return Entry(name, tarfile.LNKTYPE, 0o644, linkname=target)


def raw_symlink(name: str, target: str) -> Entry:
    """A symlink whose member name is written verbatim ("..", "", "a/b/..")."""
    e = Entry("x", tarfile.SYMTYPE, 0o777, linkname=target)
    e.name = name
    return e


def etc_passwd(data: bytes = INSIDE, mode: int = 0o770) -> list[Entry]:
    return [dir_("etc", mode), file("etc/passwd", data)]


# What a path must be inside the container: "file:DATA", "link:TARGET", "dir",
# "absent", or "same:OTHER" (a regular file, the same inode as OTHER).
View = dict[str, str]

# (name, layers above busybox, view)
ACCEPTED: list[tuple[str, list[list[Entry]], View]] = [
    ("SymlinkAbsolute",
     [[dir_("etc"), symlink("localetc", "/etc"), file("localetc/unbroken", U)]],
     {"/etc/unbroken": "file:unbroken", "/localetc": "link:/etc"}),
    ("SymlinkUpAndOut",
     [[dir_("etc"), dir_("dummy"), symlink("localetc", "/dummy/../etc"),
       file("localetc/unbroken", U)]],
     {"/etc/unbroken": "file:unbroken", "/localetc": "link:/dummy/../etc"}),
    ("SymlinkMultipleAbsolute",
     [[dir_("etc"), dir_("dummy"), symlink("dummy/etc", "/etc"),
       symlink("localetc", "/dummy/etc"), file("dummy/etc/unbroken", U)]],
     {"/etc/unbroken": "file:unbroken", "/dummy/etc": "link:/etc"}),
    ("SymlinkMultipleRelative",
     [[dir_("etc"), dir_("dummy"), symlink("dummy/etc", "/etc"),
       symlink("localetc", "./dummy/etc"), file("dummy/etc/unbroken", U)]],
     {"/etc/unbroken": "file:unbroken", "/localetc": "link:./dummy/etc"}),
    ("SymlinkRelativeEscape",  # not in containerd's list: a plain run of ".."
     [[dir_("etc"), symlink("localetc", "../../../../../../../etc"),
       file("localetc/unbroken", U)]],
     {"/etc/unbroken": "file:unbroken"}),
    ("SymlinkEmptyFile",
     [[dir_("etc"), file("etc/emptied", b"notempty"), symlink("localetc", "/etc"),
       file("localetc/emptied", b"")]],
     {"/etc/emptied": "file:"}),
    ("HardlinkRelative",
     [[*etc_passwd(), dir_("breakouts"), symlink("breakouts/d1", "../../etc"),
       link("breakouts/mypasswd", "/breakouts/d1/passwd")]],
     {"/breakouts/mypasswd": "same:/etc/passwd", "/etc/passwd": "file:inside"}),
    ("HardlinkDownAndOut",
     [[*etc_passwd(), dir_("breakouts"), dir_("downandout"),
       symlink("breakouts/d1", "../downandout/../../etc"),
       link("breakouts/mypasswd", "/breakouts/d1/passwd")]],
     {"/breakouts/mypasswd": "same:/etc/passwd"}),
    ("HardlinkAbsolute",
     [[*etc_passwd(), symlink("localetc", "/etc"), link("localpasswd", "/localetc/passwd")]],
     {"/localpasswd": "same:/etc/passwd"}),
    ("HardlinkRelativeLong",
     [[*etc_passwd(), symlink("localetc", "../../../../../../../etc"),
       link("localpasswd", "/localetc/passwd")]],
     {"/localpasswd": "same:/etc/passwd"}),
    ("HardlinkDirectAbsolute",
     [[*etc_passwd(), link("localpasswd", "/etc/passwd")]],
     {"/localpasswd": "same:/etc/passwd"}),
    ("SymlinkSlashEnded",
     [[*etc_passwd(), dir_("localetc/", 0o770), link("localetc/localpasswd", "/etc/passwd")]],
     {"/localetc": "dir", "/localetc/localpasswd": "same:/etc/passwd"}),
    ("DirectoryOverrideSymlinkAndHardlink",
     [[*etc_passwd(), symlink("localetc", "etc"), link("localetc/localpasswd", "/etc/passwd")],
      [dir_("localetc"), file("localetc/localpasswd", b"different")]],
     {"/localetc": "dir", "/localetc/localpasswd": "file:different",
      "/etc/passwd": "file:inside"}),
    ("WhiteoutSymlink",
     [[*etc_passwd(b"all users"), symlink("localetc", "/etc")], [file(".wh.localetc")]],
     {"/etc/passwd": "file:all users", "/localetc": "absent"}),
    # An upper layer's "localetc/..." makes a directory there (layers never see
    # each other while applied): the lower symlink is hidden, /etc is untouched.
    ("WhiteoutSymlinkPath",
     [[*etc_passwd(b"all users"), file("etc/whitedout", b"ahhh"), symlink("localetc", "/etc")],
      [file("localetc/.wh.whitedout")]],
     {"/etc/whitedout": "file:ahhh", "/localetc": "dir", "/localetc/whitedout": "absent"}),
    ("WhiteoutDirectoryName",
     [[*etc_passwd(b"all users"), symlink("localetc", "/etc")],
      [file(".wh.etc/somefile", b"non-empty")]],
     {"/etc/passwd": "file:all users", "/.wh.etc/somefile": "file:non-empty"}),
    ("WhiteoutDeadSymlinkParent",
     [[*etc_passwd(b"all users"), symlink("localetc", "/dne")], [file("localetc/.wh.etc")]],
     {"/etc/passwd": "file:all users", "/localetc": "dir", "/dne": "absent"}),
]

# (name, layers, the entry named in the error, the reason: the end of the error line)
REFUSED: list[tuple[str, list[list[Entry]], str, str]] = [
    ("HardlinkRelativeUpAndOut",  # "upandout/.." does not resolve (the kernel's rule)
     [[*etc_passwd(), symlink("localetc", "upandout/../../../etc"),
       link("localpasswd", "/localetc/passwd")]],
     "'localpasswd'", "No such file or directory"),
    ("HardlinkDirectRelative",
     [[*etc_passwd(), link("localpasswd", "../../../../../etc/passwd")]],
     "'localpasswd'", "hard link target '../../../../../etc/passwd' is the root or has '..'"),
    ("SymlinkParentDirectory",
     [[*etc_passwd(), raw_symlink("..", "/etc/"), link("localpasswd", "/etc/passwd")]],
     "'..'", "'..' in the path"),
    ("SymlinkEmptyFilename",
     [[*etc_passwd(), raw_symlink("", "/etc/"), link("localpasswd", "/etc/passwd")]],
     "''", "names the layer root but is not a directory"),
    ("SymlinkParentRelative",
     [[*etc_passwd(), raw_symlink("localetc/sub/..", "/etc/"),
       link("localetc/localpasswd", "/etc/passwd")]],
     "'localetc/sub/..'", "'..' in the path"),
    ("SymlinkNamedDot",  # SECURITY.md: "a symlink named ." (not in containerd's list)
     [[raw_symlink(".", "/etc")]], "'.'", "names the layer root but is not a directory"),
    ("SymlinkOverrideDirectory",
     [[*etc_passwd(), dir_("localetc")],
      [symlink("localetc", "/etc"), link("localetc/localpasswd", "/etc/passwd")]],
     "'localetc/localpasswd'", "parent directory: Not a directory"),
    ("DirectoryOverrideSymlink",  # the link's target is in another layer
     [[*etc_passwd(), symlink("localetc", "/etc")],
      [dir_("localetc"), link("localetc/localpasswd", "/etc/passwd")]],
     "'localetc/localpasswd'", "No such file or directory"),
    ("WhiteoutParent", [[*etc_passwd()], [file("etc/.wh...")]], "'etc/.wh...'",
     "invalid whiteout"),
    ("WhiteoutRoot", [[*etc_passwd()], [file(".wh..")]], "'.wh..'", "invalid whiteout"),
    ("WhiteoutRelativePath",
     [[*etc_passwd(b"all users"), symlink("localetc", "/dne")], [file("dne/../.wh.etc")]],
     "'dne/../.wh.etc'", "'..' in the path"),
    ("HardlinkSymlinkBeforeCreateTarget",
     [[dir_("etc", 0o770), symlink("localpasswd", "/etc/passwd"),
       link("localpasswd-dup", "localpasswd"), file("etc/passwd", b"after")]],
     "'localpasswd-dup'", "hard link target 'localpasswd' is not a regular file"),
    ("HardlinkSymlinkAbsolute",
     [[*etc_passwd(), symlink("passwdlink", "/etc/passwd"), link("localpasswd", "/passwdlink")]],
     "'localpasswd'", "hard link target '/passwdlink' is not a regular file"),
    ("DotDotMember", [[dir_("etc"), file("etc/../../escaped", b"pwned")]],
     "'etc/../../escaped'", "'..' in the path"),
]

# Lists the container's view of each path: "P|L|target", "P|F|inode|data", "P|D", "P|-".
SHOW = (
    'for f in "$@"; do if [ -L "$f" ]; then echo "$f|L|$(busybox readlink "$f")"; '
    'elif [ -f "$f" ]; then echo "$f|F|$(busybox stat -c %i "$f")|$(cat "$f")"; '
    'elif [ -d "$f" ]; then echo "$f|D"; else echo "$f|-"; fi; done'
)


def _image_name(case: str) -> str:
    return f"attacks/{case.lower()}:1"


def _check_view(out: str, view: View) -> None:
    seen = {line.split("|", 1)[0]: line.split("|")[1:] for line in out.splitlines()}
    for path, want in view.items():
        kind, _, arg = want.partition(":")
        got = seen[path]
        if kind == "file":
            assert got[0] == "F" and got[2] == arg, (path, got)
        elif kind == "link":
            assert got == ["L", arg], (path, got)
        elif kind == "dir":
            assert got == ["D"], (path, got)
        elif kind == "absent":
            assert got == ["-"], (path, got)
        else:
            other = seen[arg]
            assert got[0] == other[0] == "F" and got[1] == other[1], (path, got, arg, other)


def _above_the_store(root: Path) -> dict[str, list[str]]:
    """Listings of the directories a relative escape from a layer dir would reach."""
    dirs = [root / "storage", root, root.parent, root.parent.parent]
    return {str(d): sorted(os.listdir(d)) for d in dirs}


@pytest.fixture(scope="module")
def loaded(cli_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every accepted case as an image of one layout, loaded once: case -> image name."""
    layout = tmp_path_factory.mktemp("breakouts") / "layout"
    names = {case: build(layout, _image_name(case), layers) for case, layers, _ in ACCEPTED}
    load_ok(Cli(cli_root), layout)
    return names


@pytest.mark.parametrize(("case", "view"), [(c, v) for c, _, v in ACCEPTED],
                         ids=[c for c, _, _ in ACCEPTED])
def test_accepted_cases_stay_inside(cli: Cli, loaded: dict[str, str], case: str, view: View,
                                    sentinel: Sentinel, host_files: HostFiles) -> None:
    above = _above_the_store(cli.root)
    paths = {*view, *(w[5:] for w in view.values() if w.startswith("same:"))}
    res = cli.run("run", "--rm", loaded[case], "sh", "-c", SHOW, "sh", *sorted(paths))
    assert res.returncode == 0, res.stderr
    _check_view(res.stdout, view)
    assert _above_the_store(cli.root) == above
    sentinel.check()
    host_files.check()


@pytest.mark.parametrize(("case", "layers", "entry", "why"), REFUSED,
                         ids=[c for c, _, _, _ in REFUSED])
def test_refused_cases_commit_nothing(cli: Cli, tmp_path: Path, case: str,
                                      layers: list[list[Entry]], entry: str, why: str,
                                      sentinel: Sentinel, host_files: HostFiles) -> None:
    layout = tmp_path / "layout"
    name = build(layout, _image_name(case), layers, base=False)
    layers_before = storage_names(cli.root, "layers")
    above = _above_the_store(cli.root)
    res = load(cli, layout)
    bad = _diff_id(layers[-1])  # the last layer is the bad one; the ones below may commit
    line = assert_refused(res, f"{name}: layer blobs/sha256/")
    assert line.endswith(f": layer entry {entry}: {why}"), line
    assert bad not in storage_names(cli.root, "layers")
    new = storage_names(cli.root, "layers") - layers_before
    assert new <= {_diff_id(entries) for entries in layers[:-1]}
    assert storage_names(cli.root, "tmp") == set()
    assert not any(name in key for key in indexed(cli.root))
    assert _above_the_store(cli.root) == above
    sentinel.check()
    host_files.check()


def _diff_id(entries: list[Entry]) -> str:
    """The layer's diff id, hex only (the name of its directory under storage/layers)."""
    return hashlib.sha256(layer_tar(entries)).hexdigest()
