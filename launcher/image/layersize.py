"""Layer-size sidecars: each stored layer's unpacked size, in ``layer-sizes/<hex>``.

The unpacked size of a layer (sum of its regular files' sizes, hard links
once, as Docker counts it) is recorded once, in decimal, when the layer is
committed: from the tar headers when ``ImageStore.unpack_layer`` applied it,
else by one walk of the fresh directory. The sidecar is a cache (written
after the layer, recomputed if missing or unreadable); GC removes it with its
layer. ``launcher images`` sums these.

Not on the container start path: the store imports this module where it
records or reads a size.
"""

from __future__ import annotations

import os

from launcher.image import blobs
from launcher.image import digest as dg

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.paths import Paths


def size_path(paths: Paths, diff_id: str) -> str:
    """The sidecar of layer ``diff_id`` (beside layers/, not in it: layers/
    holds nothing but overlay lower dirs)."""
    return os.path.join(paths.layer_sizes, dg.hex_of(diff_id, "diff id"))


def layer_size(paths: Paths, diff_id: str) -> int:
    """Unpacked size of a stored layer (0 if absent), from its sidecar; a
    missing sidecar (a store from before sizes were kept) is rebuilt once."""
    size = read_size(size_path(paths, diff_id))
    if size is not None:
        return size
    path = os.path.join(paths.layers, dg.hex_of(diff_id, "diff id"))
    if not os.path.isdir(path):
        return 0
    size = tree_size(path)
    try:
        write_size(paths, diff_id, size)
    except OSError:
        pass  # a cache: a read-only store still lists its images
    return size


def write_size(paths: Paths, diff_id: str, size: int) -> None:
    """Record ``size`` for layer ``diff_id`` (temp file under tmp/, then rename)."""
    os.makedirs(paths.layer_sizes, mode=0o700, exist_ok=True)
    tmp, fd = blobs.tmp_file(paths.storage_tmp, "size")
    try:
        try:
            os.write(fd, str(size).encode())
        finally:
            os.close(fd)
        os.rename(tmp, size_path(paths, diff_id))
    except BaseException:
        blobs.unlink_quiet(tmp)
        raise


def read_size(path: str) -> int | None:
    """A layer's recorded size, or None when the sidecar is missing or unreadable."""
    try:
        with open(path, "rb") as f:
            text = f.read(32)
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def tree_size(path: str) -> int:
    """Sum of the sizes of the regular files under ``path`` (hard links once),
    never following symlinks. Unreadable subdirectories count as empty."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [path]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                stack.append(e.path)
            elif e.is_file(follow_symlinks=False):
                st = e.stat(follow_symlinks=False)
                if st.st_nlink > 1:
                    if (st.st_dev, st.st_ino) in seen:
                        continue
                    seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total
