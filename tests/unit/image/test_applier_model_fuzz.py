"""Property-based test of layer unpacking against an overlay model (issue 7).

Well-formed layers (what docker writes: parents first, whiteouts and opaque
markers, hard links to earlier files) are applied one directory per layer and
merged as the overlay fallback does (copytree.py); the merged tree must equal
an overlay model of the layers. Whiteouts and opaque markers need root (a 0/0
device, a trusted.* xattr), so they are only generated as root.

Example counts and the long local run: see tests/unit/fuzz.py.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from launcher.image.copytree import copy_layers
from launcher.image.unpack import apply_tar

from ..fuzz import fuzz_settings
from .fuzzjail import HANG_SECONDS, LIMITS, ROOT, Jail, resolver, time_bound, walk_all
from .tarhelp import MTIME

Path = tuple[str, ...]
NAMES = ("a", "b", "c")
# node: ("dir", mode, mtime, uid) | ("file", data, mode, mtime, uid) | ("sym", target, mtime, uid)
Node = tuple[Any, ...]


@dataclass
class Op:
    kind: str  # dir, file, sym, hard, wh, opq
    path: Path
    node: Node | None = None
    target: Path = ()


paths = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map(tuple)
times = st.integers(0, 8**11 - 1)
owners = st.sampled_from([0, 1000, 65534]) if ROOT else st.just(os.getuid())
dir_nodes = st.tuples(st.just("dir"), st.sampled_from([0o755, 0o700, 0o1777, 0o2750]), times,
                      owners)  # fmt: skip
file_nodes = st.tuples(st.just("file"), st.binary(max_size=40),
                       st.sampled_from([0o644, 0o600, 0o4755, 0o2711, 0o444, 0o755]), times,
                       owners)  # fmt: skip
sym_nodes = st.tuples(st.just("sym"), st.sampled_from(["a", "../b", "/c/a", ".", "x y"]),
                      times, owners)  # fmt: skip


@st.composite
def wellformed_layer(draw: st.DrawFn, below: set[Path]) -> list[Op]:
    """One layer: unique paths, every parent an explicit directory entry."""
    kinds = ["dir", "file", "file", "sym", "hard"] + (["wh", "wh", "opq"] if ROOT else [])
    taken: dict[Path, Op] = {}
    for _ in range(draw(st.integers(0, 7))):
        kind = draw(st.sampled_from(kinds))
        if kind == "wh" and below and draw(st.booleans()):
            path = draw(st.sampled_from(sorted(below)))  # mostly hit something below
        elif kind == "opq" and draw(st.integers(0, 3)) == 0:
            path = ()  # at the layer root: overlayfs ignores it (see model())
        else:
            path = draw(paths)
        if not _fits(taken, path, kind):
            continue
        for i in range(1, len(path)):
            taken.setdefault(path[:i], Op("dir", path[:i], draw(dir_nodes)))
        if kind == "opq":
            if path:
                taken.setdefault(path, Op("dir", path, draw(dir_nodes)))
            taken[(*path, ".opq")] = Op("opq", path)
        elif kind == "hard":
            files = [p for p, op in taken.items() if op.kind == "file"]
            if files:
                taken[path] = Op("hard", path, target=draw(st.sampled_from(sorted(files))))
        else:
            nodes = {"dir": dir_nodes, "file": file_nodes, "sym": sym_nodes, "wh": st.none()}
            taken[path] = Op(kind, path, draw(nodes[kind]))
    ops = sorted((op for op in taken.values() if op.kind != "hard"), key=lambda o: o.path)
    return ops + [op for op in taken.values() if op.kind == "hard"]


def _fits(taken: dict[Path, Op], path: Path, kind: str) -> bool:
    if any(path[:i] in taken and taken[path[:i]].kind != "dir" for i in range(1, len(path))):
        return False
    if kind == "opq":
        return path not in taken or taken[path].kind == "dir"
    if path in taken:
        return False
    return kind == "dir" or not any(p[: len(path)] == path for p in taken)


@st.composite
def wellformed_stacks(draw: st.DrawFn) -> list[list[Op]]:
    layers: list[list[Op]] = []
    state: dict[Path, Node] = {}
    for _ in range(draw(st.integers(1, 3))):
        layer = draw(wellformed_layer(set(state)))
        layers.append(layer)
        state = model([layer], state)
    return layers


def model(layers: list[list[Op]], state: dict[Path, Node] | None = None) -> dict[Path, Node]:
    """The merged tree by overlay rules: an upper entry hides the lower one (a
    directory merges with a lower directory unless opaque), a whiteout removes,
    an opaque marker drops the lower directory's children. Opaque at a layer's
    root is ignored, as overlayfs ignores it on lower layer roots."""
    out = dict(state or {})

    def drop(path: Path, keep_self: bool = False) -> None:
        for p in [p for p in out if p[: len(path)] == path]:
            if not (keep_self and p == path):
                del out[p]

    for layer in layers:
        nodes = {op.path: op.node for op in layer if op.kind not in ("wh", "opq", "hard")}
        for op in layer:  # parents before children; hard links last
            if op.kind == "wh":
                drop(op.path)
            elif op.kind == "opq":
                if op.path:
                    drop(op.path, keep_self=True)
            elif op.kind == "dir":
                if op.path in out and out[op.path][0] != "dir":
                    drop(op.path)
                out[op.path] = op.node  # type: ignore[assignment]
            else:
                drop(op.path)
                # a hard link is copied by the overlay fallback: the target's data and mode
                node = nodes[op.target] if op.kind == "hard" else op.node
                out[op.path] = node  # type: ignore[assignment]
    return out


def build_tar(layer: list[Op]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for op in layer:
            name = "/".join(op.path)
            ti = tarfile.TarInfo(name or ".")
            ti.mtime, ti.uid, ti.gid = MTIME, os.getuid(), os.getgid()
            payload = None
            if op.kind == "wh":
                ti.name = "/".join((*op.path[:-1], ".wh." + op.path[-1]))
            elif op.kind == "opq":
                ti.name = "/".join((*op.path, ".wh..wh..opq"))
            elif op.kind == "hard":
                ti.type, ti.linkname = tarfile.LNKTYPE, "/".join(op.target)
            else:
                assert op.node is not None
                ti.uid = ti.gid = op.node[-1]
                ti.mtime = op.node[-2]
                if op.kind == "dir":
                    ti.type, ti.mode = tarfile.DIRTYPE, op.node[1]
                elif op.kind == "sym":
                    ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, op.node[1], 0o777
                else:
                    ti.size, ti.mode = len(op.node[1]), op.node[2]
                    payload = io.BytesIO(op.node[1])
            tf.addfile(ti, payload)
    return buf.getvalue()


def observed(top: str) -> dict[Path, Node]:
    out: dict[Path, Node] = {}
    for p, st_ in walk_all(top):
        key = tuple(os.path.relpath(p, top).split("/"))
        mode, mtime, uid = stat.S_IMODE(st_.st_mode), st_.st_mtime_ns // 10**9, st_.st_uid
        if stat.S_ISDIR(st_.st_mode):
            out[key] = ("dir", mode, mtime, uid)
        elif stat.S_ISREG(st_.st_mode):
            with open(p, "rb") as f:
                out[key] = ("file", f.read(), mode, mtime, uid)
        elif stat.S_ISLNK(st_.st_mode):
            out[key] = ("sym", os.readlink(p), mtime, uid)
        else:
            out[key] = ("other", st_.st_mode, st_.st_rdev)
    return out


@fuzz_settings(150)
@given(layers=wellformed_stacks(), openat2=st.booleans())
def test_wellformed_layers_match_overlay_model(layers: list[list[Op]], openat2: bool) -> None:
    jail = Jail()
    try:
        with resolver(openat2), time_bound(HANG_SECONDS):
            for i, layer in enumerate(layers):
                apply_tar(io.BytesIO(build_tar(layer)), jail.layer(i), LIMITS)
            copy_layers([jail.layer(i) for i in range(len(layers))], jail.rootfs)
        assert observed(jail.rootfs) == model(layers)
    finally:
        jail.close()
