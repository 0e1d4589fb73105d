"""Apply one layer tar into a directory, entry by entry, fd-relative.

``tarfile`` only parses headers (see tarstream.py); every entry is applied
here with ``dir_fd=`` calls on a parent directory resolved *inside* the layer
root (resolve.py), so no member name, symlink or hard link can reach outside
it. Member names with a ``..`` component are refused outright; symlinks met
while resolving a parent are followed as if the layer root were ``/``.

OCI whiteouts become overlayfs whiteouts, because the container rootfs is an
overlay of layer directories: ``.wh.NAME`` -> a 0/0 character device ``NAME``;
``.wh..wh..opq`` -> ``trusted.overlay.opaque=y`` on its directory.

Directory modes and mtimes are applied at the end (children would change
the mtime; a 0555 directory would block its own children when not root).
"""

from __future__ import annotations

import os

from launcher.errors import ImageError
from launcher.image import resolve, tarstream
from launcher.image.applier import OPAQUE_XATTR, WHITEOUT_PREFIX, Applier, Stats
from launcher.image.decompress import Limits

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.image.digest import Reader


def unpack(stream: Reader, dest: str, limits: Limits | None = None) -> Stats:
    """Decompress (by magic) and apply a layer stream into the directory ``dest``."""
    from launcher.image.decompress import open_stream

    tar = open_stream(stream, limits)
    return apply_tar(tar, dest, tar.limits)


def apply_tar(stream: Reader, dest: str, limits: Limits | None = None) -> Stats:
    """Apply an uncompressed tar stream into ``dest`` (an existing directory).

    Reads ``stream`` to its end, so a hash below sees every byte. Raises
    ImageError naming the entry; ``dest`` is then half-written and the caller
    removes it (the store unpacks into a temporary directory).
    """
    import tarfile

    src = tarstream.Source(stream)
    root = resolve.open_root(dest)
    app = Applier(root, limits or Limits())
    name = "(start)"
    try:
        try:
            for m, tf in tarstream.headers(src):
                name = m.name
                app.entry(m, tf)
        except (tarfile.TarError, RecursionError) as exc:
            raise ImageError(f"layer: corrupt tar after entry {name!r}: {exc}") from None
        if not src.ended_cleanly():
            raise ImageError(f"layer: invalid tar header after entry {name!r}")
        src.drain()
        app.finish()
    finally:
        app.close()
        os.close(root)
    return app.stats


__all__ = ["OPAQUE_XATTR", "WHITEOUT_PREFIX", "Stats", "apply_tar", "unpack"]
