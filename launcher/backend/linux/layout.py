"""Where the native backend keeps a container's bundle (config.json, rootfs, layers)."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.paths import Paths


def make_bundle_dir(paths: Paths, cid: str) -> str:
    """``storage/containers/<id>``, mode 0700, created exactly once."""
    parent = os.path.join(paths.storage, "containers")
    os.makedirs(parent, mode=0o700, exist_ok=True)
    bundle = os.path.join(parent, cid)
    os.mkdir(bundle, 0o700)
    return bundle


def remove_tree(path: str) -> None:
    from launcher.fsutil import remove_tree as rm

    try:
        rm(path)
    except OSError:
        pass  # best effort: whatever is left shows up in `ls` and is retried by rm
