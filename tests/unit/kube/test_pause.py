"""The infra image: the host's static catatonit, alone in a one-layer image."""

from __future__ import annotations

import io
import os
import struct
import sys
import tarfile
from pathlib import Path

import pytest

from launcher.errors import UnsupportedError
from launcher.kube import pause


def elf(interp: bool) -> bytes:
    """A minimal 64-bit little-endian ELF header: PT_LOAD, and PT_INTERP if dynamic."""
    head = b"\x7fELF" + bytes([2, 1]) + b"\0" * 10
    head += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 64, 0, 0, 64, 56, 2, 0, 0, 0)
    phdrs = b"".join(struct.pack("<I", t) + b"\0" * 52 for t in ([1, 3] if interp else [1, 1]))
    return head + phdrs + b"\0" * 64


def test_the_first_static_candidate_is_chosen(tmp_path: Path) -> None:
    dynamic, static = tmp_path / "dynamic", tmp_path / "static"
    dynamic.write_bytes(elf(True))
    static.write_bytes(elf(False))
    found = pause.find_catatonit((str(tmp_path / "absent"), str(dynamic), str(static)))
    assert found == str(static)


def test_no_catatonit_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedError) as info:
        pause.find_catatonit((str(tmp_path / "absent"),))
    assert str(info.value) == "kube play needs catatonit (apt install catatonit)"
    dynamic = tmp_path / "catatonit"
    dynamic.write_bytes(elf(True))
    with pytest.raises(UnsupportedError, match=r"catatonit \(apt install catatonit\): .*/catatonit"
                       " is not statically linked"):
        pause.find_catatonit((str(dynamic),))


def test_rootfs_tar_holds_only_catatonit(tmp_path: Path) -> None:
    binary = tmp_path / "bin"
    binary.write_bytes(elf(False))
    os.chmod(binary, 0o700)
    os.utime(binary, (1_600_000_000, 1_600_000_000))
    out = io.BytesIO()
    pause.write_rootfs_tar(out, str(binary))
    out.seek(0)
    with tarfile.open(fileobj=out) as tf:
        [member] = tf.getmembers()
        data = tf.extractfile(member)
        assert data is not None and data.read() == elf(False)
    assert (member.name, member.type, member.mode) == ("catatonit", tarfile.REGTYPE, 0o755)
    assert (member.uid, member.gid, member.mtime) == (0, 0, 1_600_000_000)
    again = io.BytesIO()
    pause.write_rootfs_tar(again, str(binary))
    assert again.getvalue() == out.getvalue()  # the same binary, the same image id


def test_the_image_reference() -> None:
    from launcher import __version__

    assert f"localhost/launcher-pause:{__version__}" == pause.PAUSE_IMAGE
    assert (pause.ENTRYPOINT, pause.PAUSE_ARGS) == ("/catatonit", ("-P",))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the image store is Linux's")
def test_ensure_image_builds_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from launcher.image import importer
    from launcher.image.store import ImageStore
    from launcher.paths import Paths

    binary = tmp_path / "catatonit"
    binary.write_bytes(elf(False))
    paths = Paths.from_root(str(tmp_path / "root"))
    assert pause.ensure_image(paths, (str(binary),)) == pause.PAUSE_IMAGE
    image = ImageStore(paths).get(pause.PAUSE_IMAGE)
    [layer] = image.layer_dirs
    assert os.listdir(layer) == ["catatonit"]
    assert (Path(layer) / "catatonit").read_bytes() == elf(False)

    def no_second_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("rebuilt")

    monkeypatch.setattr(importer, "import_rootfs", no_second_build)
    assert pause.ensure_image(paths, (str(binary),)) == pause.PAUSE_IMAGE
