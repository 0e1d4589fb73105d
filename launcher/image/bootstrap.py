"""The offline default image ``busybox:latest``, built from the host's busybox-static.

No network: the rootfs is ``bin/busybox`` (the host's static binary), one
symlink per applet in ``/bin``, a minimal ``/etc/passwd`` and ``/etc/group``
and the usual empty directories. Everything is stamped with the binary's
mtime and owned by 0:0, so the tarball — hence the layer, config and image
id — is the same on every build from the same binary.

Running the host's ``busybox --list`` is fine: it is a host binary, not one
from an image (SECURITY.md rule 3 is about the latter).
"""

from __future__ import annotations

import os

from launcher.errors import ImageError, NotFoundError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    from launcher.image.store import Image, ImageStore

DEFAULT_IMAGE = "busybox:latest"
HOST_BUSYBOX = "/bin/busybox"
PT_INTERP = 3

PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = b"root:x:0:\ntty:x:5:\nwheel:x:10:root\nusers:x:100:\nnobody:x:65534:\n"
DIRS = (
    ("bin", 0o755),
    ("dev", 0o755),
    ("etc", 0o755),
    ("home", 0o755),
    ("proc", 0o555),
    ("root", 0o700),
    ("sys", 0o555),
    ("tmp", 0o1777),
    ("usr", 0o755),
    ("usr/bin", 0o755),
    ("var", 0o755),
)


def ensure_default_image(store: ImageStore, busybox: str = HOST_BUSYBOX) -> Image:
    """``busybox:latest`` from the store, built and imported on first use."""
    try:
        return store.get(DEFAULT_IMAGE)
    except NotFoundError:
        pass
    return build_default_image(store, busybox)


def build_default_image(store: ImageStore, busybox: str = HOST_BUSYBOX) -> Image:
    from launcher.image.importer import import_rootfs, rfc3339

    check_static(busybox)
    applets = list_applets(busybox)
    mtime = int(os.stat(busybox).st_mtime)
    store.ensure_dirs()
    path = os.path.join(store.paths.storage_tmp, f"busybox-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        with open(path, "xb") as out:
            write_rootfs_tar(out, busybox, applets, mtime)
        return import_rootfs(store, path, DEFAULT_IMAGE, created=rfc3339(mtime))
    finally:
        if os.path.lexists(path):
            os.unlink(path)


def check_static(path: str) -> None:
    """ImageError unless ``path`` is an ELF executable without PT_INTERP."""
    try:
        with open(path, "rb") as f:
            head = f.read(64 << 10)
    except FileNotFoundError:
        raise ImageError(
            f"{path} not found: the default image needs busybox-static "
            "(apt-get install busybox-static)"
        ) from None
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror}") from None
    for ptype in _program_header_types(path, head):
        if ptype == PT_INTERP:
            raise ImageError(
                f"{path} is dynamically linked: the default image needs busybox-static "
                "(apt-get install busybox-static)"
            )


def _program_header_types(path: str, head: bytes) -> list[int]:
    import struct

    if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
        raise ImageError(f"{path} is not an ELF executable")
    end = "<" if head[5] == 1 else ">"
    if head[4] == 2:  # 64-bit
        phoff = struct.unpack_from(end + "Q", head, 32)[0]
        phentsize, phnum = struct.unpack_from(end + "HH", head, 54)
    else:
        phoff = struct.unpack_from(end + "I", head, 28)[0]
        phentsize, phnum = struct.unpack_from(end + "HH", head, 42)
    if phentsize < 4 or phoff + phentsize * phnum > len(head):
        raise ImageError(f"{path}: unreadable ELF program headers")
    return [struct.unpack_from(end + "I", head, phoff + i * phentsize)[0] for i in range(phnum)]


def list_applets(busybox: str) -> list[str]:
    """Applet names from the host binary's ``--list``, checked as file names."""
    import subprocess

    try:
        out = subprocess.run(
            [busybox, "--list"],
            capture_output=True,
            timeout=10,
            check=True,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ImageError(f"{busybox} --list failed: {exc}") from None
    names = []
    for raw in out.decode("ascii", "replace").splitlines():
        name = raw.strip()
        if name in ("", ".", "..", "busybox") or len(name) > 64:
            continue
        if "/" in name or not name.isprintable():
            raise ImageError(f"{busybox} --list printed an odd applet name {name!r}")
        names.append(name)
    if "sh" not in names:
        raise ImageError(f"{busybox} has no 'sh' applet")
    return sorted(set(names))


def write_rootfs_tar(out: BinaryIO, busybox: str, applets: list[str], mtime: int) -> None:
    """The default image's rootfs as an uncompressed tar written to ``out``."""
    import io
    import tarfile

    def info(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.size, ti.linkname, ti.mtime = kind, mode, size, link, mtime
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        return ti

    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, mode in DIRS:
            tf.addfile(info(name, tarfile.DIRTYPE, mode))
        with open(busybox, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            tf.addfile(info("bin/busybox", tarfile.REGTYPE, 0o755, size), f)
        for name in applets:
            tf.addfile(info(f"bin/{name}", tarfile.SYMTYPE, 0o777, link="busybox"))
        for name, data in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
            tf.addfile(info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
