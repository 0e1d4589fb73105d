"""Anonymous volumes for an image's ``Volumes``, as Docker makes them.

Each path the image config lists gets a fresh directory in the container's
bundle (``volumes/<n>``), filled with what the image holds at that path (the
merged view of the layers: whiteouts and opaque directories honoured), and
bind-mounted there. So the path stays writable under ``--read-only``, starts
with the image's content, lives as long as the container, and goes with it
(``--rm`` removes anonymous volumes, as Docker's does).

Paths are checked before they touch the filesystem (absolute, clean, no
``..``: SECURITY.md rule 6). The layer walk never follows a symlink: a
component that is a symlink in the layer that decides it is refused, so a
layer cannot point a volume at host files. Layers are store content (root
owned, never written after commit), so lstat on their paths cannot race.
"""

from __future__ import annotations

import os
import stat

from launcher.errors import ImageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

VOLUMES_DIR = "volumes"
OPAQUE_XATTR = "trusted.overlay.opaque"
MAX_VOLUMES = 128


def check_path(path: object) -> str:
    """A volume path from an image config, as a clean absolute path."""
    if not isinstance(path, str) or not path.startswith("/") or "\x00" in path:
        raise ImageError(f"image config: Volumes: {path!r} is not an absolute path")
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ImageError(f"image config: Volumes: {path!r} must name a directory below / "
                         "without '.' or '..'")
    return "/" + "/".join(parts)


def layer_sources(layer_dirs: list[str], path: str) -> list[str]:
    """The directories, base layer first, whose merge is the image's ``path``."""
    parts = check_path(path).strip("/").split("/")
    sources: list[str] = []
    for layer in layer_dirs:
        kind = _walk(layer, parts, path)
        if kind in ("hidden", "opaque"):
            sources = []  # this layer hides what the ones below had there
        if kind in ("dir", "opaque"):
            sources.append(os.path.join(layer, *parts))
    return sources


def _walk(layer: str, parts: list[str], path: str) -> str:
    """What ``layer`` says about ``path``: absent, hidden (a whiteout or a
    non-directory on the way), dir, or opaque (a dir that hides lower ones)."""
    current = layer
    opaque = False
    for i, name in enumerate(parts):
        current = os.path.join(current, name)
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            return "hidden" if _whited_out(os.path.dirname(current), name) else "absent"
        if stat.S_ISLNK(st.st_mode):
            shown = "/" + "/".join(parts[: i + 1])
            raise ImageError(f"image volume {path}: {shown} is a symlink in a layer; "
                             "refusing to follow it")
        if not stat.S_ISDIR(st.st_mode):
            return "hidden"  # a file (or whiteout device) replaces the directory
        opaque = opaque or _is_opaque(current)
    return "opaque" if opaque else "dir"


def _whited_out(parent: str, name: str) -> bool:
    try:
        st = os.lstat(os.path.join(parent, ".wh." + name))
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def make_volumes(layer_dirs: list[str], volumes: dict[str, Any] | None,
                 bundle: str) -> list[tuple[str, str]]:
    """Create and fill one directory per image volume under ``bundle/volumes``;
    (container path, host directory) pairs, in path order (parents first)."""
    if not volumes:
        return []
    paths = sorted({check_path(p) for p in volumes})
    if len(paths) > MAX_VOLUMES:
        raise ImageError(f"image config: more than {MAX_VOLUMES} Volumes")
    from launcher.image.copytree import copy_layers

    root = os.path.join(bundle, VOLUMES_DIR)
    os.makedirs(root, 0o700, exist_ok=True)
    made: list[tuple[str, str]] = []
    for n, path in enumerate(paths):
        target = os.path.join(root, str(n))
        os.mkdir(target, 0o755)
        sources = layer_sources(layer_dirs, path)
        if sources:
            copy_layers(sources, target)
        made.append((path, target))
    return made
