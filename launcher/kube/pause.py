"""The pod's infra ("pause") image: ``/catatonit`` alone, as podman builds its own.

The infra container owns the pod's network namespace and runs ``catatonit -P``
(pause mode: it sleeps, reaps and exits on SIGTERM). The image is made once per
launcher version from the host's *static* catatonit — nothing of an image is
loaded into it and it needs no libraries — by importing a one-file rootfs tar
(stamped with the binary's mtime, owned by 0:0: the same binary gives the same
image id).
"""

from __future__ import annotations

import os

from launcher import __version__
from launcher.errors import ImageError, NotFoundError, UnsupportedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    from launcher.paths import Paths

PAUSE_IMAGE = f"localhost/launcher-pause:{__version__}"
ENTRYPOINT = "/catatonit"
PAUSE_ARGS = ("-P",)
CANDIDATES = ("/usr/bin/catatonit", "/usr/libexec/podman/catatonit")
_MISSING = "kube play needs catatonit (apt install catatonit)"


def find_catatonit(candidates: tuple[str, ...] = CANDIDATES) -> str:
    """The first candidate that exists and is statically linked (no PT_INTERP)."""
    from launcher.image.bootstrap import check_static

    rejected: list[str] = []
    for path in candidates:
        if not os.path.isfile(path):
            continue
        try:
            check_static(path)
        except ImageError:
            rejected.append(path)
            continue
        return path
    if rejected:
        raise UnsupportedError(f"{_MISSING}: {', '.join(rejected)} is not statically linked")
    raise UnsupportedError(_MISSING)


def write_rootfs_tar(out: BinaryIO, binary: str) -> None:
    """An uncompressed tar holding only ``catatonit`` (0755, root's, the binary's mtime)."""
    import tarfile

    with open(binary, "rb") as f:
        st = os.fstat(f.fileno())
        info = tarfile.TarInfo("catatonit")
        info.type, info.mode, info.size, info.mtime = tarfile.REGTYPE, 0o755, st.st_size, \
            int(st.st_mtime)
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
            tf.addfile(info, f)


def ensure_image(paths: Paths, candidates: tuple[str, ...] = CANDIDATES) -> str:
    """``PAUSE_IMAGE``, built and imported on first use; its reference."""
    import io

    from launcher.image.importer import import_rootfs, rfc3339
    from launcher.image.store import ImageStore

    store = ImageStore(paths)
    try:
        store.get(PAUSE_IMAGE)
        return PAUSE_IMAGE
    except NotFoundError:
        pass
    binary = find_catatonit(candidates)
    tar = io.BytesIO()  # catatonit is well under 2 MiB
    write_rootfs_tar(tar, binary)
    tar.seek(0)
    store.ensure_dirs()
    import_rootfs(store, tar, PAUSE_IMAGE, created=rfc3339(int(os.stat(binary).st_mtime)))
    return PAUSE_IMAGE
