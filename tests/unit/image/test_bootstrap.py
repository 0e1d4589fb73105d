from __future__ import annotations

import io
import os
import shutil
import stat
import struct
import tarfile
from pathlib import Path

import pytest

from launcher.errors import ImageError
from launcher.image import bootstrap
from launcher.image.store import ImageStore
from launcher.paths import Paths

HOST_BUSYBOX = bootstrap.HOST_BUSYBOX
needs_busybox = pytest.mark.skipif(
    not os.path.exists(HOST_BUSYBOX), reason="needs busybox-static at /bin/busybox"
)


def elf(interp: bool, bits: int = 64, endian: str = "<") -> bytes:
    """A minimal ELF header with two program headers (PT_LOAD, maybe PT_INTERP)."""
    types = [1, 3] if interp else [1, 1]
    if bits == 64:
        head = b"\x7fELF" + bytes([2, 1 if endian == "<" else 2]) + b"\0" * 10
        head += struct.pack(endian + "HHIQQQIHHHHHH", 2, 62, 1, 0, 64, 0, 0, 64, 56, 2, 0, 0, 0)
        phdrs = b"".join(struct.pack(endian + "I", t) + b"\0" * 52 for t in types)
    else:
        head = b"\x7fELF" + bytes([1, 1 if endian == "<" else 2]) + b"\0" * 10
        head += struct.pack(endian + "HHIIIIIHHHHHH", 2, 3, 1, 0, 52, 0, 0, 52, 32, 2, 0, 0, 0)
        phdrs = b"".join(struct.pack(endian + "I", t) + b"\0" * 28 for t in types)
    return head + phdrs + b"\0" * 64


@pytest.mark.parametrize(("bits", "endian"), [(64, "<"), (64, ">"), (32, "<")])
def test_check_static_headers(tmp_path: Path, bits: int, endian: str) -> None:
    static = tmp_path / "static"
    static.write_bytes(elf(False, bits, endian))
    bootstrap.check_static(str(static))
    dynamic = tmp_path / "dynamic"
    dynamic.write_bytes(elf(True, bits, endian))
    with pytest.raises(ImageError, match=r"dynamically linked.*busybox-static"):
        bootstrap.check_static(str(dynamic))


def test_check_static_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"not found.*busybox-static"):
        bootstrap.check_static(str(tmp_path / "nope"))
    (tmp_path / "text").write_bytes(b"#!/bin/sh\n" * 10)
    with pytest.raises(ImageError, match="not an ELF"):
        bootstrap.check_static(str(tmp_path / "text"))
    (tmp_path / "trunc").write_bytes(elf(False)[:70])
    with pytest.raises(ImageError, match="program headers"):
        bootstrap.check_static(str(tmp_path / "trunc"))


@pytest.mark.skipif(not os.path.exists("/bin/ls"), reason="needs /bin/ls")
def test_host_dynamic_binary_refused() -> None:
    with pytest.raises(ImageError, match="dynamically linked"):
        bootstrap.check_static("/bin/ls")


@needs_busybox
def test_host_busybox_is_static_and_lists_applets() -> None:
    bootstrap.check_static(HOST_BUSYBOX)
    applets = bootstrap.list_applets(HOST_BUSYBOX)
    assert "sh" in applets and "ls" in applets and "busybox" not in applets
    assert all("/" not in a for a in applets)


def test_rootfs_tar_layout(tmp_path: Path) -> None:
    fake = tmp_path / "busybox"
    fake.write_bytes(b"\x7fELF fake")
    out = io.BytesIO()
    bootstrap.write_rootfs_tar(out, str(fake), ["sh", "ls", "["], 1234)
    first = out.getvalue()
    out2 = io.BytesIO()
    bootstrap.write_rootfs_tar(out2, str(fake), ["sh", "ls", "["], 1234)
    assert out2.getvalue() == first  # deterministic
    with tarfile.open(fileobj=io.BytesIO(first)) as tf:
        members = {m.name: m for m in tf.getmembers()}
        assert members["tmp"].mode == 0o1777 and members["tmp"].isdir()
        assert members["root"].mode == 0o700
        assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
        assert members["bin/["].issym()
        assert members["bin/busybox"].mode == 0o755
        assert all(m.uid == 0 and m.gid == 0 and m.mtime == 1234 for m in members.values())
        passwd = tf.extractfile("etc/passwd")
        assert passwd is not None
        assert passwd.read().startswith(b"root:x:0:0:root:/root:/bin/sh\n")
        for d in ("dev", "proc", "sys", "var", "home", "usr/bin"):
            assert members[d].isdir()


def test_missing_busybox_is_clear(tmp_path: Path) -> None:
    store = ImageStore(Paths(str(tmp_path / "s"), str(tmp_path / "t")))
    with pytest.raises(ImageError, match="busybox-static"):
        bootstrap.ensure_default_image(store, str(tmp_path / "no-busybox"))


@needs_busybox
def test_ensure_default_image(tmp_path: Path) -> None:
    store = ImageStore(Paths(str(tmp_path / "s"), str(tmp_path / "t")))
    image = bootstrap.ensure_default_image(store)
    assert image.reference.familiar() == "busybox:latest"
    layer = Path(image.layer_dirs[0])
    assert (layer / "bin" / "busybox").stat().st_size == os.path.getsize(HOST_BUSYBOX)
    assert os.readlink(layer / "bin" / "sh") == "busybox"
    assert stat.S_IMODE((layer / "tmp").stat().st_mode) == 0o1777
    assert (layer / "etc" / "group").read_text().startswith("root:x:0:")
    assert image.config.env and image.config.env[0].startswith("PATH=")
    again = bootstrap.ensure_default_image(store)
    assert again.id == image.id
    # rebuilding from the same binary gives the same image id
    other = ImageStore(Paths(str(tmp_path / "s2"), str(tmp_path / "t2")))
    assert bootstrap.build_default_image(other).id == image.id
    assert os.listdir(store.paths.storage_tmp) == []
    shutil.rmtree(tmp_path / "s2")
