"""Property-based fuzzing of layer unpacking with hostile tars (issue 7).

Tars built from the pieces attacks are made of (``..``, absolute names, symlink
and hard-link escapes, bad whiteouts, devices, FIFOs, size lies, NUL bytes,
duplicates, type changes) are applied as 1-3 layers in a jail (fuzzjail.py)
whose sentinel files sit beside the layer and rootfs directories, then merged
as the overlay fallback does (copytree.py). The applier either succeeds or
raises a LauncherError, never hangs; nothing outside the layer/rootfs
directories changes, gets hard-linked or gets trusted.overlay.* xattrs; the
last entry of an applied layer is exactly where and what its name says.

Example counts and the long local run: see tests/unit/fuzz.py.
"""

from __future__ import annotations

import io
import os
import re
import stat
import tarfile
from dataclasses import dataclass, field

from hypothesis import event, given
from hypothesis import strategies as st

from launcher.errors import LauncherError
from launcher.image import resolve, tarstream
from launcher.image.copytree import copy_layers
from launcher.image.unpack import apply_tar

from ..fuzz import fuzz_settings
from .fuzzjail import HANG_SECONDS, LIMITS, ROOT, Jail, resolver, time_bound, walk_all
from .tarhelp import MTIME, TarBuilder

JAIL = "@J"  # replaced by the jail's absolute path when a tar is built

# -- hostile layers --------------------------------------------------------------------------

COMMON = ["a", "a", "a", "b", "b", "etc", "sentinel", "passwd"]
HOSTILE = ["..", ".", "", ".wh.a", ".wh.b", ".wh..wh..opq", ".wh..", ".wh.", ".wh...",
           ".wh..wh.plnk", "x" * 255, "y" * 256, "a\0b", "\udcff", "\n", "\u00e4"]  # fmt: skip
PREFIXES = ["", "", "", "/", "./", "//", JAIL + "/"]
SPECIAL_NAMES = ["/".join(["d" * 100] * 45), JAIL + "/sentinel/passwd", "../sentinel/passwd",
                 ".", "./", "/"]  # fmt: skip
SPECIAL_TARGETS = [JAIL + "/sentinel/passwd", JAIL + "/sentinel", JAIL + "/sentinel/sub",
                   JAIL + "/sentinel/fifo", JAIL + "/sentinel/link", JAIL, "/", "..",
                   *("../" * k + "sentinel/passwd" for k in range(1, 6)),
                   *("../" * k + "sentinel" for k in range(1, 6)),
                   "", "\0x", "a/\0/b", "t" * 5000]  # fmt: skip
KINDS = {
    "file": tarfile.REGTYPE, "areg": tarfile.AREGTYPE, "cont": tarfile.CONTTYPE,
    "dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE,
    "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE,
    "pax": tarfile.XHDTYPE, "gpax": tarfile.XGLTYPE, "longname": tarfile.GNUTYPE_LONGNAME,
    "longlink": tarfile.GNUTYPE_LONGLINK, "sparse": tarfile.GNUTYPE_SPARSE,
    "weird": b"Z", "vol": b"V",
}  # fmt: skip
COMMON_KINDS = ["file"] * 3 + ["dir"] * 3 + ["sym"] * 3 + ["hard"] * 3 + ["chr", "fifo"]
RARE_KINDS = [k for k in KINDS if k not in ("file", "dir", "sym", "hard", "chr", "fifo")]
DATA_KINDS = ("file", "areg", "cont", "pax", "gpax", "longname", "longlink", "sparse", "weird")
XATTR_KEYS = ["user.k", "user.k", "trusted.overlay.opaque", "trusted.overlay.redirect",
              "security.capability", "system.posix_acl_access", "security.selinux"]  # fmt: skip
PAX_RECORDS = [b"11 path=a\n", b"15 linkpath=/x\n", b"20 size=99999999999\n", b"9 uid=-1\n",
               b"18 GNU.sparse.map=\n", b"5 a=\n", b"99 path=a\n", b"0 x=y\n",
               b"1" * 300 + b" path=x\n", b"16 mtime=1e400\n"]  # fmt: skip


@dataclass
class Member:
    kind: str
    name: str
    linkname: str = ""
    data: bytes = b""
    size: int | None = None  # declared; None = len(data)
    mode: int = 0o644
    uid: int = 0
    mtime: float = MTIME
    pax_names: bool = False
    xattrs: dict[str, str] = field(default_factory=dict)
    dev: tuple[int, int] = (1, 3)

    def tobytes(self, jail: str) -> bytes:
        ti = tarfile.TarInfo()
        name, link = self.name.replace(JAIL, jail), self.linkname.replace(JAIL, jail)
        ti.name, ti.linkname, ti.type = name, link, KINDS[self.kind]
        ti.mode, ti.uid, ti.gid, ti.mtime = self.mode, self.uid, self.uid, self.mtime
        ti.devmajor, ti.devminor = self.dev
        ti.size = len(self.data) if self.size is None else self.size
        pax = {f"SCHILY.xattr.{k}": v for k, v in self.xattrs.items()}
        if self.pax_names:
            pax["path"] = name
            if link:
                pax["linkpath"] = link
        ti.pax_headers = pax
        try:
            head = ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        except (ValueError, UnicodeError):
            return b""  # tarfile cannot even write it
        pad = -len(self.data) % tarfile.BLOCKSIZE
        return head + self.data + b"\0" * pad


def rarely(draw: st.DrawFn, odds: int = 6) -> bool:
    """True about once in ``odds`` draws: one hostile piece per member keeps
    most layers applicable, so later entries meet what earlier ones made."""
    return draw(st.integers(0, odds - 1)) == 0


@st.composite
def hostile_names(draw: st.DrawFn, pool: list[str]) -> str:
    if rarely(draw, 8):
        return draw(st.sampled_from(pool))
    prefix = draw(st.sampled_from(PREFIXES))
    comps = [draw(st.sampled_from(HOSTILE if rarely(draw, 12) else COMMON))
             for _ in range(draw(st.integers(1, 4)))]  # fmt: skip
    return prefix + "/".join(comps) + draw(st.sampled_from(["", "", "", "/"]))


@st.composite
def hostile_members(draw: st.DrawFn, earlier: list[str]) -> Member:
    kind = draw(st.sampled_from(RARE_KINDS if rarely(draw, 10) else COMMON_KINDS))
    m = Member(kind, draw(hostile_names(SPECIAL_NAMES)))
    if kind in ("sym", "hard", "longlink"):
        if earlier and not rarely(draw, 4):  # links mostly to what exists
            m.linkname = draw(st.sampled_from(earlier))
        else:
            m.linkname = draw(hostile_names(SPECIAL_TARGETS))
    if kind in ("pax", "gpax"):
        m.data = b"".join(draw(st.lists(st.sampled_from(PAX_RECORDS), max_size=3)))
    elif kind in ("longname", "longlink"):
        m.data = draw(hostile_names(SPECIAL_NAMES)).encode("utf-8", "surrogateescape") + b"\0"
    elif kind in DATA_KINDS:
        m.data = draw(st.binary(max_size=64) | st.sampled_from([b"\0" * 1024, b"x" * 600]))
    if rarely(draw, 12):
        lie = draw(st.sampled_from(["short", "long", "huge", "negative"]))
        if lie == "short":
            m.size = len(m.data) + draw(st.integers(1, 1100))
        elif lie == "long":
            m.size = max(len(m.data) - draw(st.integers(1, 600)), 0)
        else:
            m.size = {"huge": 1 << 40, "negative": -1}[lie]
    m.mode = draw(st.integers(0, 0o7777) | st.sampled_from([0o4755, 0o2755, 0o1777, 0, 0o644]))
    m.uid = os.getuid()
    if rarely(draw, 12):
        m.uid = draw(st.sampled_from([0, 65534, 2**32 - 1, 2**32, -1, 2**40]))
    if rarely(draw, 12):
        m.mtime = draw(st.sampled_from([0, -1, 2**40, 1e20, 1.5]))
    m.pax_names = draw(st.booleans())
    if rarely(draw):
        m.xattrs = draw(st.dictionaries(st.sampled_from(XATTR_KEYS), st.sampled_from(
            ["y", "v", "", "\x01\x02", "\udcff"]), max_size=2))  # fmt: skip
    m.dev = draw(st.sampled_from([(1, 3), (0, 0), (1, 5)]))
    return m


@dataclass
class Layer:
    members: list[Member]
    end: bytes
    flip: tuple[int, int] | None

    def tobytes(self, jail: str) -> bytes:
        data = bytearray(b"".join(m.tobytes(jail) for m in self.members) + self.end)
        if self.flip is not None and data:
            at, xor = self.flip
            data[at % len(data)] ^= xor
        return bytes(data)


@st.composite
def hostile_layers(draw: st.DrawFn) -> Layer:
    members: list[Member] = []
    for _ in range(draw(st.integers(0, 8))):
        members.append(draw(hostile_members([m.name for m in members])))
    end = b"\0" * 1024
    if rarely(draw, 10):
        end = draw(st.sampled_from([b"", b"\0" * 512, b"junk" * 200]))
    flip = None
    if rarely(draw, 10):
        flip = (draw(st.integers(0, 1 << 20)), draw(st.integers(1, 255)))
    return Layer(members, end, flip)


def last_member(data: bytes) -> tuple[tarfile.TarInfo | None, bytes]:
    """The final header the applier saw, parsed the same way (tarstream), and its data."""
    last = None
    for m, _tf in tarstream.headers(tarstream.Source(io.BytesIO(data))):
        last = m
    if last is None or not last.isreg():
        return last, b""
    return last, data[last.offset_data : last.offset_data + last.size]


def check_last_entry(data: bytes, layer_dir: str, openat2: bool) -> None:
    """After a successful apply, the entry that nothing follows is where its name
    says: a symlink with its target verbatim (never followed), a file with its
    data, a directory. Resolved with the O_NOFOLLOW walk, which refuses a NUL
    rather than cutting the path there as openat2 through ctypes does."""
    m, content = last_member(data)
    if m is None:
        return
    parts = resolve.split(m.name)
    if not parts or parts[-1].startswith(".wh.") or any(p.startswith(".wh..wh.") for p in parts):
        return
    root = resolve.open_root(layer_dir)
    resolve.use_openat2(False)
    try:
        try:
            parent = resolve.open_dir_in_root(root, parts[:-1])
        except PermissionError:
            assert not ROOT
            return  # a 0000 directory on the way, when not root
        try:
            if m.issym():
                assert os.readlink(parts[-1], dir_fd=parent) == m.linkname, m.name
            elif m.isreg():
                try:
                    fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW, dir_fd=parent)
                except PermissionError:
                    assert not ROOT
                    return  # a mode 0 file, when not root
                with open(fd, "rb") as f:
                    assert f.read() == content, m.name
            elif m.isdir():
                st_ = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
                assert stat.S_ISDIR(st_.st_mode), m.name
        finally:
            os.close(parent)
    finally:
        resolve.use_openat2(openat2)
        os.close(root)


def check_no_escape(jail: Jail, outside: set[tuple[int, int]]) -> None:
    """No hard link to an outside file; no trusted.overlay.* besides opaque=y in a
    layer, none at all in the rootfs; rootfs non-directories are single links."""
    for top in (jail.layers, jail.rootfs):
        for p, st_ in walk_all(top):
            assert (st_.st_dev, st_.st_ino) not in outside, f"{p} is a hard link to the jail"
            if stat.S_ISLNK(st_.st_mode):
                continue
            for attr in os.listxattr(p, follow_symlinks=False):
                if attr.startswith("trusted."):
                    assert top == jail.layers and stat.S_ISDIR(st_.st_mode), (p, attr)
                    assert attr == "trusted.overlay.opaque", (p, attr)
                    assert os.getxattr(p, attr, follow_symlinks=False) == b"y"
            if top == jail.rootfs and not stat.S_ISDIR(st_.st_mode):
                assert st_.st_nlink == 1, f"{p}: the copy made a hard link"


def _why(exc: Exception) -> str:
    """The kind of refusal, names left out, for ``--hypothesis-show-statistics``."""
    text = str(exc).split(" after ")[0]
    if text.startswith(("layer entry ", "tar entry ")):
        text = text.split("': ", 1)[-1]
    return re.sub(r"'[^']*'|\d{3,}", "X", text)


@fuzz_settings(200)
@given(layers=st.lists(hostile_layers(), min_size=1, max_size=3), openat2=st.booleans())
def test_hostile_layers_stay_inside(layers: list[Layer], openat2: bool) -> None:
    jail = Jail()
    try:
        before = jail.snapshot()
        outside = jail.inodes()
        applied = []
        with resolver(openat2), time_bound(HANG_SECONDS):
            for i, layer in enumerate(layers):
                data = layer.tobytes(jail.path)
                try:
                    apply_tar(io.BytesIO(data), jail.layer(i), LIMITS)
                except LauncherError as exc:
                    assert str(exc)
                    event(f"layer refused: {_why(exc)}")
                    continue
                event("layer applied")
                applied.append(jail.layer(i))
                check_last_entry(data, jail.layer(i), openat2)
            try:
                copy_layers(applied, jail.rootfs)
            except LauncherError as exc:
                assert str(exc)
        assert jail.snapshot() == before
        check_no_escape(jail, outside)
    finally:
        jail.close()


odd_names = st.lists(
    st.text(st.sampled_from(["a", "e", "\0", "\n", "\t", " ", "\\", "\udcff", "\u00e4", "."]),
            min_size=1, max_size=5),
    min_size=1, max_size=3,
).map("/".join)  # fmt: skip


def _plant(root: str, name: str, data: bytes) -> str | None:
    """Create file ``name`` (directories on the way) if it can exist; its path."""
    parts = resolve.split(name)
    if not parts or any("\0" in p for p in parts):
        return None
    path = os.path.join(root, *parts)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "xb") as f:
            f.write(data)
    except OSError:
        return None
    return path


def _cut(name: str) -> str:
    """What a C call sees of ``name``'s directory: the text before the first NUL,
    then the base name (the aliasing that openat2 through ctypes allowed)."""
    head, _, base = name.rpartition("/")
    return head.split("\0")[0] + "/" + base.split("\0")[0]


@fuzz_settings(150)
@given(name=odd_names, hard=st.booleans(), openat2=st.booleans())
def test_odd_bytes_in_names_never_alias(name: str, hard: bool, openat2: bool) -> None:
    """A member (or hard-link target) named with NULs, newlines, backslashes or
    undecodable bytes is refused or lands at exactly that name, never on a
    file that a truncated name would hit."""
    jail = Jail()
    layer = jail.layer(0)
    try:
        exact = _plant(layer, name, b"exact") if hard else None
        decoy = _plant(layer, _cut(name), b"decoy") if "\0" in name else None
        t = tarfile.TarInfo("lnk" if hard else "x")
        t.pax_headers = {"path": "lnk", "linkpath": name} if hard else {"path": name}
        t.type, t.mtime = (tarfile.LNKTYPE if hard else tarfile.REGTYPE), MTIME
        t.size = 0 if hard else 3
        tar = TarBuilder().add(t, None if hard else b"new").data()
        with resolver(openat2), time_bound(HANG_SECONDS):
            try:
                apply_tar(io.BytesIO(tar), layer, LIMITS)
            except LauncherError:
                return
        resolve.use_openat2(False)  # the walk refuses a NUL instead of cutting there
        if hard:
            assert exact is not None, f"hard link to {name!r} cannot exist"
            assert os.path.samefile(os.path.join(layer, "lnk"), exact)
        else:
            root = resolve.open_root(layer)
            try:
                fd = resolve.open_in_root(root, resolve.split(name) or [], os.O_RDONLY)
            finally:
                os.close(root)
            with open(fd, "rb") as f:
                assert f.read() == b"new"
        if decoy is not None:
            with open(decoy, "rb") as f:
                assert f.read() == b"decoy", f"{name!r} landed on {decoy}"
    finally:
        resolve.use_openat2(True)
        jail.close()
