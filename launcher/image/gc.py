"""Garbage collection of the image store: mark from the index, sweep the rest.

:func:`collect` runs under the EXCLUSIVE store lock (lock.py), so no writer is
between committing content and indexing it. Mark: every index entry keeps its
manifest, config and (if recorded) image index blob, the layer blobs and config
its manifest names, and the layers its config's diff ids name; every layer a
container's bundle names (usage.py) is kept too. Sweep: other blobs in
``blobs/``, other layers in ``layers/`` (renamed into tmp/ first, so a layer
vanishes atomically, then deleted) with their size sidecars, and stale entries
of ``tmp/``.

Fail safe: a corrupt index raises StateError and nothing is swept. A manifest
that cannot be read stops the blob sweep, a config that cannot be read or a
container bundle that cannot tell what it uses stops the layer sweep; each
says why in :attr:`GcReport.warnings`. Names we did not write (not 64 hex
digits) are left alone.

``rmi`` (catalog.remove) and ``image prune`` only drop index entries; the
caller runs :func:`collect` afterwards (``prune`` here does both).
"""

from __future__ import annotations

import os
import stat

from launcher.errors import LauncherError
from launcher.image import digest as dg
from launcher.image import index as ix
from launcher.image import usage as usage_mod
from launcher.image.layersize import read_size, tree_size
from launcher.image.lock import store_lock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from launcher.image.store import ImageStore
    from launcher.paths import Paths


class GcReport:
    """What one collection removed."""

    __slots__ = ("blobs_removed", "bytes_freed", "layers_removed", "tmp_removed", "warnings")

    def __init__(self) -> None:
        self.blobs_removed = 0
        self.layers_removed = 0
        self.bytes_freed = 0  # blob file sizes + unpacked layer sizes
        self.tmp_removed = 0
        self.warnings: list[str] = []  # why a sweep was skipped or left something

    def __repr__(self) -> str:
        return (f"GcReport(blobs={self.blobs_removed}, layers={self.layers_removed}, "
                f"tmp={self.tmp_removed}, bytes={self.bytes_freed})")


def collect(store: ImageStore, paths: Paths, *, blocking: bool = True) -> GcReport:
    """Sweep every blob, layer and tmp entry nothing references.

    Waits for writers holding the store lock; ``blocking=False`` raises
    ConflictError instead. Must not be called while this thread holds the
    store lock shared (StateError).
    """
    with store_lock(paths, exclusive=True, blocking=blocking):
        return _collect(store, paths)


def prune(
    store: ImageStore,
    paths: Paths,
    *,
    all: bool,  # shadows the builtin on purpose: the keyword imageops.prune passes
    in_use: Mapping[str, Sequence[str]],
) -> tuple[list[tuple[str, str]], GcReport]:
    """``image prune [-a]``: drop dangling images (``all``: every image) that
    no container uses, then collect. Returns Docker's lines and the report."""
    with store_lock(paths, exclusive=True):
        images = store.read_index()
        doomed = _prunable(images, all, in_use)
        lines: list[tuple[str, str]] = []
        if doomed:

            def change(images: dict[str, Any]) -> None:
                lines.clear()
                for image_id in _prunable(images, all, in_use):
                    for key in ix.drop_image(images, image_id):
                        lines.append(("Untagged", _familiar(key)))
                    lines.append(("Deleted", image_id))

            store.update_index(change)
        return lines, _collect(store, paths)


def _prunable(images: dict[str, Any], all_images: bool,
              in_use: Mapping[str, Sequence[str]]) -> list[str]:
    ids = sorted({str(v.get("config")) for v in images.values() if type(v) is dict})
    out = []
    for image_id in ids:
        if in_use.get(image_id):
            continue
        if all_images or not ix.refs_of(images, image_id):
            out.append(image_id)
    return out


def _collect(store: ImageStore, paths: Paths) -> GcReport:
    report = GcReport()
    images = store.read_index()  # StateError on a corrupt index: sweep nothing
    keep_blobs, keep_layers = _mark(store, images, report)
    report.tmp_removed = _sweep_tmp(store, report)
    if keep_blobs is not None:
        _sweep_blobs(store, keep_blobs, report)
    used = usage_mod.scan(paths)
    if used.unknown:
        report.warnings.append(f"layers kept: {used.unknown[0]} does not say which layers "
                               "its container uses")
    elif keep_layers is not None:
        _sweep_layers(store, keep_layers | used.layers, report)
    _sweep_sizes(store)
    return report


def _mark(store: ImageStore, images: dict[str, Any],
          report: GcReport) -> tuple[set[str] | None, set[str] | None]:
    """(blobs, layers) to keep; None where it cannot be known (skip that sweep)."""
    blobs: set[str] | None = set()
    layers: set[str] | None = set()
    manifests: set[str] = set()
    configs: set[str] = set()
    for key, raw in sorted(images.items()):
        rec = ix.record(key, raw, store.paths.images_index)
        if blobs is not None:
            blobs.update(d for d in (rec.manifest, rec.config, rec.index) if d)
        if rec.manifest not in manifests:
            manifests.add(rec.manifest)
            try:
                found = _manifest_blobs(store, rec.manifest)
            except LauncherError as exc:
                report.warnings.append(f"blobs kept: image {rec.key}: {exc}")
                blobs = None
            else:
                if blobs is not None:
                    blobs.update(found)
        if rec.config not in configs:
            configs.add(rec.config)
            try:
                diff_ids = store.diff_ids(rec)
            except LauncherError as exc:
                report.warnings.append(f"layers kept: image {rec.key}: {exc}")
                layers = None
            else:
                if layers is not None:
                    layers.update(diff_ids)
    return blobs, layers


def _manifest_blobs(store: ImageStore, digest: str) -> list[str]:
    manifest = store.read_json(digest, "manifest")
    descs = [manifest.get("config"), *(manifest.get("layers") or [])]
    return [dg.validate(d.get("digest") if type(d) is dict else None, "blob digest")
            for d in descs]


def _sweep_blobs(store: ImageStore, keep: set[str], report: GcReport) -> None:
    root = store.paths.blobs
    for name in _listdir(root):
        if not dg.is_hex(name) or dg.PREFIX + name in keep:
            continue
        path = os.path.join(root, name)
        try:
            size = os.lstat(path).st_size
            os.unlink(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            report.warnings.append(f"cannot remove blob {path}: {exc.strerror}")
            continue
        report.blobs_removed += 1
        report.bytes_freed += size


def _sweep_layers(store: ImageStore, keep: set[str], report: GcReport) -> None:
    from launcher.fsutil import remove_tree

    root = store.paths.layers
    for name in _listdir(root):
        diff_id = dg.PREFIX + name
        if not dg.is_hex(name) or diff_id in keep:
            continue
        path = os.path.join(root, name)
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                continue
        except FileNotFoundError:
            continue
        size = read_size(store.size_path(diff_id))
        if size is None:
            size = tree_size(path)
        # Gone from layers/ in one step; the slow delete happens out of sight.
        doomed = os.path.join(store.paths.storage_tmp,
                              f"gc-{os.getpid()}-{name[:16]}{os.urandom(4).hex()}")
        try:
            os.rename(path, doomed)
        except OSError as exc:
            report.warnings.append(f"cannot remove layer {path}: {exc.strerror}")
            continue
        _unlink_quiet(store.size_path(diff_id))
        report.layers_removed += 1
        report.bytes_freed += size
        try:
            remove_tree(doomed)
        except OSError as exc:
            report.warnings.append(f"left {doomed} for the next collection: {exc.strerror}")


def _sweep_sizes(store: ImageStore) -> None:
    """Size sidecars whose layer is gone (a layer removed by hand, a crash)."""
    root = store.sizes_dir
    for name in _listdir(root):
        if dg.is_hex(name) and not os.path.isdir(os.path.join(store.paths.layers, name)):
            _unlink_quiet(os.path.join(root, name))


def _sweep_tmp(store: ImageStore, report: GcReport) -> int:
    """Remove what interrupted writers left in tmp/. Writers that follow the
    protocol hold the store lock, so all of tmp/ is stale while we hold it
    exclusive; entries of a still-running process are kept all the same
    (names are ``kind-PID-random``), for writers that take no lock."""
    from launcher.fsutil import remove_tree

    root = store.paths.storage_tmp
    removed = 0
    for name in _listdir(root):
        if _writer_alive(name):
            continue
        path = os.path.join(root, name)
        try:
            remove_tree(path)
        except OSError as exc:
            report.warnings.append(f"cannot remove {path}: {exc.strerror}")
            continue
        removed += 1
    return removed


def _writer_alive(name: str) -> bool:
    parts = name.rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, OSError):
        return False
    return True


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _familiar(key: str) -> str:
    from launcher.image.reference import parse

    return key if ix.is_id_key(key) else parse(key, default_tag=False).familiar()
