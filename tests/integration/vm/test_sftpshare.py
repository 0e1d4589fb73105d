"""launcher.vm.sftpshare with the real sshfs: a directory of this host mounted
by ``sshfs -o slave`` speaking SFTP to ShareFS over a socket pair, as the guest
does over the agent's SSH channel on Windows hosts. Reads and writes go
through; ``..``, symlinks out of the share and new symlinks are refused."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.vm import sftpshare

pytestmark = pytest.mark.root


class _Transport:
    def get_log_channel(self) -> str:
        return "paramiko.transport"

    def get_hexdump(self) -> bool:
        return False


class _Channel:
    """What sftpshare.serve uses of a paramiko Channel, over a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send(self, data: bytes) -> int:
        return self.sock.send(data)

    def recv(self, n: int) -> bytes:
        return self.sock.recv(n)

    def get_name(self) -> str:
        return "test"

    def get_transport(self) -> _Transport:
        return _Transport()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    if shutil.which("sshfs") is None or not os.path.exists("/dev/fuse"):
        pytest.skip("needs sshfs and /dev/fuse (scripts/setup.sh installs sshfs)")
    share, mnt, secret = tmp_path / "share", tmp_path / "mnt", tmp_path / "secret"
    for d in (share, mnt, secret):
        d.mkdir()
    (secret / "s").write_text("SECRET\n")
    (share / "a.txt").write_text("hello\n")
    (share / "out").symlink_to(secret)
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen(["sshfs", "-f", "-o", sftpshare.SSHFS_OPTIONS, ":/", str(mnt)],
                            stdin=theirs.fileno(), stdout=theirs.fileno())
    theirs.close()
    server = threading.Thread(target=sftpshare.serve, args=(_Channel(ours), str(share)),
                              daemon=True)
    server.start()
    deadline = time.monotonic() + 30
    while not os.path.ismount(mnt):
        assert proc.poll() is None and time.monotonic() < deadline, "sshfs did not mount"
        time.sleep(0.05)
    try:
        yield share, mnt, secret
    finally:
        subprocess.run(["fusermount", "-u", str(mnt)], check=False, capture_output=True)
        proc.wait(timeout=30)
        server.join(timeout=30)
        ours.close()


def test_reads_and_writes_go_through(mounted: tuple[Path, Path, Path]) -> None:
    share, mnt, _ = mounted
    assert sorted(os.listdir(mnt)) == ["a.txt", "out"]
    assert (mnt / "a.txt").read_text() == "hello\n"
    (mnt / "new.txt").write_text("from the guest\n")
    assert (share / "new.txt").read_text() == "from the guest\n"
    (mnt / "d").mkdir()
    os.rename(mnt / "new.txt", mnt / "d" / "n.txt")
    assert os.listdir(share / "d") == ["n.txt"]
    (mnt / "d" / "n.txt").unlink()
    (mnt / "d").rmdir()
    assert sorted(os.listdir(share)) == ["a.txt", "out"]


def test_nothing_outside_the_share(mounted: tuple[Path, Path, Path]) -> None:
    share, mnt, secret = mounted
    for path in (mnt / "out", mnt / "out" / "s"):
        with pytest.raises(PermissionError):
            path.stat()
    with pytest.raises(PermissionError):
        (mnt / "out" / "s").read_text()
    with pytest.raises(OSError):
        os.symlink("/etc/passwd", mnt / "lnk")
    assert not (share / "lnk").exists() and (secret / "s").read_text() == "SECRET\n"


def test_the_guest_command_mounts_in_the_foreground() -> None:
    cmd = sftpshare.mount_command("/mnt/c/Users/me/it's here")
    assert "exec sshfs -f -o slave," in cmd and ":/ '/mnt/c/Users/me/it'\\''s here'" in cmd
