"""/etc/hosts, /etc/resolv.conf and /etc/hostname are bind-mounted from the
bundle onto paths resolved *inside* the rootfs: an image whose /etc/hosts is a
symlink climbing out of the root lands on its own file, never the host's, and
one that goes through a /proc magic link is refused. No network namespace is
needed (``--network none`` gets the files too), so these use the plain ``cli``."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from tests.integration.cli.conftest import Cli

pytestmark = pytest.mark.root

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "cat", "true", "hostname")


def _info(name: str, kind: bytes, mode: int, *, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, link
    return info


def image(cli: Cli, tmp_path: Path, ref: str, links: dict[str, str],
          files: dict[str, str]) -> None:
    """Import a busybox rootfs with ``links`` (name -> target) and ``files``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = {"bin", "dev", "etc", "proc", "sys", "tmp"}
        dirs |= {os.path.dirname(p) for p in files if os.path.dirname(p)}
        for name in sorted(dirs):
            tar.addfile(_info(name, tarfile.DIRTYPE, 0o755))
        with open(BUSYBOX, "rb") as f:
            tar.addfile(_info("bin/busybox", tarfile.REGTYPE, 0o755,
                              size=os.fstat(f.fileno()).st_size), f)
        for applet in APPLETS:
            tar.addfile(_info(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox"))
        for name, text in files.items():
            data = text.encode()
            tar.addfile(_info(name, tarfile.REGTYPE, 0o644, size=len(data)), io.BytesIO(data))
        for name, target in links.items():
            tar.addfile(_info(name, tarfile.SYMTYPE, 0o777, link=target))
    path = tmp_path / "rootfs.tar"
    path.write_bytes(buf.getvalue())
    res = cli.run("import", str(path), ref)
    assert res.returncode == 0, res.stderr


def test_etc_symlinks_climbing_out_stay_in_the_root(cli: Cli, tmp_path: Path) -> None:
    victims = [tmp_path / "hosts-victim", tmp_path / "resolv-victim"]  # host files
    for victim in victims:
        victim.write_text("host file\n")
    hosts, resolv = (str(v).lstrip("/") for v in victims)
    image(cli, tmp_path, "lt-etc-climb:1",
          {"etc/hosts": "../" * 12 + hosts, "etc/resolv.conf": "/" + resolv},
          {hosts: "image file\n", resolv: "image file\n"})
    res = cli.run("run", "--rm", "lt-etc-climb:1", "sh", "-c",
                  f"cat /etc/hosts; echo --; cat /{resolv}")
    assert res.returncode == 0, res.stderr
    seen_hosts, seen_resolv = res.stdout.split("--\n")
    assert seen_hosts.startswith("127.0.0.1\tlocalhost\n")  # ours, on the image's file
    assert "# Based on host file" in seen_resolv
    assert [v.read_text() for v in victims] == ["host file\n"] * 2
    assert cli.run("rmi", "lt-etc-climb:1").returncode == 0


def test_etc_hosts_through_a_proc_magic_link_is_refused(cli: Cli, tmp_path: Path) -> None:
    image(cli, tmp_path, "lt-etc-magic:1", {"etc/hosts": "/proc/1/root/etc/passwd"}, {})
    res = cli.run("run", "--rm", "lt-etc-magic:1", "true")
    assert res.returncode != 0
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and "/etc/hosts" in lines[0], res.stderr
    assert cli.run("rmi", "lt-etc-magic:1").returncode == 0


def test_a_user_mount_of_etc_hosts_wins(cli: Cli, tmp_path: Path) -> None:
    mine = tmp_path / "hosts"
    mine.write_text("10.9.9.9\tmine\n")
    res = cli.run("run", "--rm", "-v", f"{mine}:/etc/hosts:ro", "busybox", "cat", "/etc/hosts")
    assert (res.returncode, res.stdout) == (0, "10.9.9.9\tmine\n"), res.stderr


def test_dangling_etc_symlinks_get_their_target_made_inside(cli: Cli, tmp_path: Path) -> None:
    """An image whose /etc/resolv.conf points at systemd-resolved's stub file (not
    there): the target is created inside the root and gets our file, as runc does."""
    victim = tmp_path / "dangling-victim"  # must stay absent on the host
    image(cli, tmp_path, "lt-etc-dangling:1",
          {"etc/resolv.conf": "../run/systemd/resolve/stub-resolv.conf",
           "etc/hosts": "../" * 12 + str(victim).lstrip("/")}, {})
    res = cli.run("run", "--rm", "lt-etc-dangling:1", "sh", "-c",
                  "cat /run/systemd/resolve/stub-resolv.conf; echo --; cat /etc/hosts")
    assert res.returncode == 0, res.stderr
    resolv, hosts = res.stdout.split("--\n")
    assert "# Based on host file" in resolv
    assert hosts.startswith("127.0.0.1\tlocalhost\n")
    assert not victim.exists()
    assert cli.run("rmi", "lt-etc-dangling:1").returncode == 0
