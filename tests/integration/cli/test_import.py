"""``launcher import ROOTFS.tar NAME[:TAG]``, then ``launcher run`` of the result."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from .conftest import Cli

pytestmark = pytest.mark.root

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "cat", "ls", "true", "echo")


def rootfs_tar(marker: str, *, proc_symlink: bool = False) -> bytes:
    """A minimal rootfs: the host's static busybox, a few applets, /marker."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("bin", "dev", "etc", "sys", "tmp"):
            tar.addfile(_info(name, tarfile.DIRTYPE, 0o755))
        if proc_symlink:
            tar.addfile(_info("proc", tarfile.SYMTYPE, 0o777, link="/"))
        else:
            tar.addfile(_info("proc", tarfile.DIRTYPE, 0o555))
        with open(BUSYBOX, "rb") as f:
            tar.addfile(
                _info("bin/busybox", tarfile.REGTYPE, 0o755, size=os.fstat(f.fileno()).st_size), f
            )
        for applet in APPLETS:
            tar.addfile(_info(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox"))
        data = marker.encode()
        tar.addfile(_info("marker", tarfile.REGTYPE, 0o644, size=len(data)), io.BytesIO(data))
    return buf.getvalue()


def _info(name: str, kind: bytes, mode: int, *, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, link
    return info


def is_image_id(text: str) -> bool:
    hexpart = text.removeprefix("sha256:")
    return (
        text.startswith("sha256:")
        and len(hexpart) == 64
        and set(hexpart) <= set("0123456789abcdef")
    )


def import_ok(cli: Cli, path: Path, ref: str) -> str:
    res = cli.run("import", str(path), ref)
    assert res.returncode == 0, res.stderr
    assert is_image_id(res.stdout.strip()) and res.stdout.count("\n") == 1, res.stdout
    return res.stdout.strip()


def test_import_and_run(cli: Cli, tmp_path: Path) -> None:
    tar = tmp_path / "t.tar"
    tar.write_bytes(rootfs_tar("plain\n"))
    import_ok(cli, tar, "mine:1")
    res = cli.run("run", "--rm", "mine:1", "cat", "/marker")
    assert (res.returncode, res.stdout) == (0, "plain\n"), res.stderr


def test_import_gzip(cli: Cli, tmp_path: Path) -> None:
    tar = tmp_path / "t.tar.gz"
    tar.write_bytes(gzip.compress(rootfs_tar("gzipped\n")))
    import_ok(cli, tar, "mine:gz")
    res = cli.run("run", "--rm", "mine:gz", "cat", "/marker")
    assert (res.returncode, res.stdout) == (0, "gzipped\n"), res.stderr


def test_import_default_tag_and_run_by_id(cli: Cli, tmp_path: Path) -> None:
    tar = tmp_path / "t.tar"
    tar.write_bytes(rootfs_tar("by id\n"))
    image_id = import_ok(cli, tar, "untagged")
    for ref in ("untagged", "untagged:latest", image_id.removeprefix("sha256:")[:12]):
        res = cli.run("run", "--rm", ref, "cat", "/marker")
        assert (res.returncode, res.stdout) == (0, "by id\n"), (ref, res.stderr)


def test_import_from_stdin(cli: Cli) -> None:
    res = subprocess.run(
        cli.argv("import", "-", "mine:stdin"),
        input=rootfs_tar("stdin\n"),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert is_image_id(res.stdout.decode().strip())
    run = cli.run("run", "--rm", "mine:stdin", "cat", "/marker")
    assert (run.returncode, run.stdout) == (0, "stdin\n"), run.stderr


def test_imported_image_has_default_path(cli: Cli, tmp_path: Path) -> None:
    tar = tmp_path / "t.tar"
    tar.write_bytes(rootfs_tar(""))
    import_ok(cli, tar, "mine:path")
    res = cli.run("run", "--rm", "mine:path", "sh", "-c", 'echo "$PATH"')
    assert res.stdout == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"


def test_imported_image_without_command_is_125(cli: Cli, tmp_path: Path) -> None:
    tar = tmp_path / "t.tar"
    tar.write_bytes(rootfs_tar(""))
    import_ok(cli, tar, "mine:nocmd")
    res = cli.run("run", "--rm", "mine:nocmd")
    assert res.returncode == 125
    assert res.stderr.splitlines() == ["launcher: no command specified"]


def test_import_missing_file_is_125(cli: Cli, tmp_path: Path) -> None:
    res = cli.run("import", str(tmp_path / "absent.tar"), "mine:absent")
    assert res.returncode == 125
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and "absent.tar" in lines[0], res.stderr
    assert cli.run("run", "--rm", "mine:absent", "true").returncode == 125


def test_import_garbage_is_125_and_tags_nothing(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"this is not a tarball\n" * 100)
    res = cli.run("import", str(bad), "mine:garbage")
    assert res.returncode == 125
    assert len(res.stderr.splitlines()) == 1, res.stderr
    assert cli.run("run", "--rm", "mine:garbage", "true").returncode == 125
    assert list((cli.root / "storage" / "tmp").iterdir()) == []


def test_import_bad_reference_is_125(cli: Cli, tmp_path: Path) -> None:
    tar = tmp_path / "t.tar"
    tar.write_bytes(rootfs_tar(""))
    res = cli.run("import", str(tar), "Upper:Case")
    assert res.returncode == 125
    assert len(res.stderr.splitlines()) == 1, res.stderr


def test_import_arity_is_125(cli: Cli) -> None:
    res = cli.run("import", "only-one")
    assert res.returncode == 125
    assert res.stderr.splitlines() == ['launcher: "import" requires exactly 2 arguments']


def test_image_with_proc_symlink_is_refused(cli: Cli, tmp_path: Path) -> None:
    """SECURITY.md rule 5: /proc must be a plain directory in the image."""
    tar = tmp_path / "t.tar"
    tar.write_bytes(rootfs_tar("", proc_symlink=True))
    import_ok(cli, tar, "mine:procsym")
    res = cli.run("run", "--rm", "mine:procsym", "true")
    assert res.returncode == 125
    assert "/proc" in res.stderr and len(res.stderr.splitlines()) == 1, res.stderr
