"""newc cpio archives, deterministic (zero times, root owner): initramfs images.

Written here rather than by the ``cpio`` tool so the result depends only on
the input bytes (the guest image recipe wants reproducible output) and so no
extra host package is needed."""

from __future__ import annotations

import gzip
import io

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

DIR, FILE = 0o40755, 0o100644
EXEC = 0o100755


def newc(entries: Iterable[tuple[str, int, bytes]]) -> bytes:
    """A newc archive of ``(name, mode, data)`` entries, in the given order."""
    out = io.BytesIO()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], 1):
        if name.startswith("/") or ".." in name.split("/"):
            raise ValueError(f"cpio member name must be relative: {name!r}")
        nb = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0)
        out.write(b"070701" + "".join(f"{v:08x}" for v in fields).encode() + nb)
        out.write(b"\0" * (-(110 + len(nb)) % 4))
        out.write(data + b"\0" * (-len(data) % 4))
    return out.getvalue()


def initramfs(entries: Iterable[tuple[str, int, bytes]]) -> bytes:
    """``newc`` gzip-compressed with a zero mtime (what the kernel unpacks)."""
    return gzip.compress(newc(entries), compresslevel=6, mtime=0)


def marker_initramfs(busybox: bytes, marker: str) -> bytes:
    """An initramfs whose init prints ``marker`` and powers off: a probe boot
    (does this accelerator run the kernel?) and the boot-time floor."""
    init = (f"#!/bin/busybox sh\n/bin/busybox echo {marker}\n"
            "/bin/busybox poweroff -f\n").encode()
    return initramfs([("bin", DIR, b""), ("dev", DIR, b""), ("bin/busybox", EXEC, busybox),
                      ("init", EXEC, init)])
