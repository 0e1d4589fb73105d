"""Which images and layers containers use, read from their bundles.

Each container's bundle, ``<storage>/containers/<cid>/config.json``, carries
two annotations set by the backend (launcher.spec.build): the image id and
the layer diff ids its rootfs is made of. ``rmi`` refuses an image a container
uses (unless forced) and GC keeps those layers even after the image is gone.

Conservative by design: a bundle whose config.json is missing, unreadable,
corrupt or without those annotations (a container being created right now,
or one made by an older launcher) cannot say which layers it needs, so it is
listed in :attr:`Usage.unknown`; GC then deletes no layer at all, and
:func:`layers_in_use` raises StateError naming the file.
"""

from __future__ import annotations

import os

from launcher import fastjson
from launcher.errors import ImageError, StateError
from launcher.image import digest as dg

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.paths import Paths

CONFIG_MAX = 16 << 20
BUNDLES = "containers"  # under paths.storage, as backend.linux.layout makes them
# Copies of launcher.spec.build's names: importing that module here would pull
# the whole spec model into `images`/`rmi`.
ANNOTATION_IMAGE_ID = "io.launcher.image.id"
ANNOTATION_IMAGE_LAYERS = "io.launcher.image.layers"


class Usage:
    """What the containers on this host use.

    ``images``: image id -> container ids; ``layers``: diff ids;
    ``unknown``: bundle config files that could not tell (see module doc).
    """

    __slots__ = ("images", "layers", "unknown")

    def __init__(self) -> None:
        self.images: dict[str, list[str]] = {}
        self.layers: set[str] = set()
        self.unknown: list[str] = []


def bundles_dir(paths: Paths) -> str:
    return os.path.join(paths.storage, BUNDLES)


def scan(paths: Paths) -> Usage:
    """Read every container bundle's annotations."""
    usage = Usage()
    root = bundles_dir(paths)
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return usage
    except OSError as exc:
        raise StateError(f"cannot list container bundles in {root}: {exc.strerror}") from None
    for cid in names:
        bundle = os.path.join(root, cid)
        if cid.startswith(".") or not os.path.isdir(bundle):
            continue
        config = os.path.join(bundle, "config.json")
        found = _read(config)
        if found is None:
            usage.unknown.append(config)
            continue
        image_id, layers = found
        usage.images.setdefault(image_id, []).append(cid)
        usage.layers.update(layers)
    return usage


def containers_using(paths: Paths) -> dict[str, list[str]]:
    """Image id -> ids of the containers whose bundles name it."""
    return scan(paths).images


def layers_in_use(paths: Paths) -> set[str]:
    """Diff ids of every layer some container's rootfs is made of.

    StateError when a bundle cannot tell (the set would be incomplete).
    """
    usage = scan(paths)
    if usage.unknown:
        raise StateError(f"cannot tell which layers a container uses: {usage.unknown[0]} "
                         "is missing, unreadable or has no image annotations")
    return usage.layers


def _read(path: str) -> tuple[str, list[str]] | None:
    """(image id, diff ids) from a bundle config, or None if it cannot tell."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            data = f.read(CONFIG_MAX + 1)
        doc = fastjson.loads(data)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    notes = doc.get("annotations") if type(doc) is dict and len(data) <= CONFIG_MAX else None
    if type(notes) is not dict:
        return None
    image_id, layers = notes.get(ANNOTATION_IMAGE_ID), notes.get(ANNOTATION_IMAGE_LAYERS)
    if not isinstance(layers, str):
        return None
    try:
        return (dg.validate(image_id, "image id"),
                [dg.validate(d, "diff id") for d in layers.split(",") if d])
    except ImageError:
        return None
