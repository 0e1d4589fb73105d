"""The container's volumes as OCI mounts: ``-v`` (bind, named, anonymous) and the
image's ``Volumes``.

* bind ``-v /host:/dst``: the host path (created as a directory when missing,
  as ``docker run -v`` does), bind-mounted;
* named ``-v name:/dst``: the volume (created on first use), filled from the
  image's content at ``/dst`` while it is empty (unless ``nocopy``);
* anonymous ``-v /dst`` and image ``Volumes``: a directory in the bundle,
  filled from the image, gone with the container (image/volumes.py).

A ``-v`` for a destination wins over an image volume there. Destinations are
resolved inside the rootfs by the runtime (fd-relative), never here.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from launcher.image.store import Image
    from launcher.paths import Paths
    from launcher.spec.model import Mount


def volume_mounts(paths: Paths, image: Image, bundle: str, requested: list[Any]) -> list[Mount]:
    from launcher.image.volumes import make_volumes
    from launcher.spec.model import Mount

    wanted = {v.destination for v in requested}
    image_vols = {p: v for p, v in (image.config.volumes or {}).items()
                  if _clean(p) not in wanted}
    anonymous: dict[str, Any] = {v.destination: {} for v in requested if v.kind == "anonymous"}
    made = dict(make_volumes(image.layer_dirs, {**image_vols, **anonymous}, bundle))
    mounts: list[Mount] = []
    for dest in sorted(image_vols, key=_clean):
        mounts.append(Mount(destination=_clean(dest), type="bind", source=made[_clean(dest)],
                            options=["rbind", "rprivate"]))
    for v in requested:
        if v.kind == "anonymous":
            source = made[v.destination]
        elif v.kind == "volume":
            source = _named(paths, image, v)
        else:
            source = _bind_source(v.source)
        mounts.append(Mount(destination=v.destination, type="bind", source=source,
                            options=list(v.options)))
    return mounts


def _clean(path: str) -> str:
    from launcher.image.volumes import check_path

    return check_path(path)


def _bind_source(source: str) -> str:
    from launcher.errors import UnsupportedError, UsageError

    if not source.startswith("/"):
        raise UnsupportedError(f"bind source {source!r}: Windows paths need the VM backend")
    if not os.path.exists(source):
        try:
            os.makedirs(source, 0o755)  # docker run -v creates a missing host directory
        except OSError as exc:
            raise UsageError(f"bind source {source}: {exc.strerror}") from None
    return source


def _named(paths: Paths, image: Image, v: Any) -> str:
    """The named volume's data dir, made on first use and seeded from the image."""
    from launcher.backend.linux.volstore import VolumeStore
    from launcher.image.copytree import copy_layers
    from launcher.image.volumes import layer_sources

    store = VolumeStore(paths)
    name, _ = store.create(v.source)
    data = store.data(name)
    if not v.no_copy and not os.listdir(data):
        sources = layer_sources(image.layer_dirs, v.destination)
        if sources:
            copy_layers(sources, data)
    return data
