"""Host directories shared with a machine over SFTP: the Windows hosts' shares.

QEMU for Windows has no 9p, so there the guest mounts each shared directory
with ``sshfs -o slave`` ("reverse sshfs"): the host agent opens a channel on
its SSH connection that runs sshfs in the guest, and serves SFTP itself on
that channel's other end (paramiko's SFTP server over :class:`ShareFS`). No
port is opened and no key is handed out: the share lives and dies with the
agent's authenticated connection.

:class:`ShareFS` confines every request to the shared directory: the path is
joined to the share and resolved with ``realpath``; anything that resolves
outside (``..``, or a symlink pointing out) is refused with permission
denied. Operations on a symlink itself (``lstat``, ``readlink``, ``remove``)
resolve only its parent. Making symlinks is refused: the guest must not
plant links that the host's own programs would follow.
"""

from __future__ import annotations

import os
import threading

import paramiko
from paramiko import SFTPAttributes, SFTPHandle, SFTPServer, SFTPServerInterface
from paramiko.sftp import SFTP_OK, SFTP_OP_UNSUPPORTED, SFTP_PERMISSION_DENIED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SSHFS_OPTIONS = "slave,idmap=none,dir_cache=no"


def mount_command(guest_dir: str) -> str:
    """What the guest runs on the channel: a fresh mount point, then sshfs in the
    foreground speaking SFTP on its stdin/stdout (paths quoted for sh)."""
    q = _quote(guest_dir)
    return (f"modprobe fuse 2>/dev/null; mkdir -p {q} && "
            f"{{ mountpoint -q {q} && umount -l {q}; true; }} && "
            f"exec sshfs -f -o {SSHFS_OPTIONS} :/ {q}")


def _quote(path: str) -> str:
    """``path`` as one word for sh."""
    return "'" + path.replace("'", "'\\''") + "'"


class _Denied(Exception):
    """A path that resolves outside the share."""


class _Handle(SFTPHandle):
    def stat(self) -> SFTPAttributes | int:
        try:
            return SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))  # type: ignore[attr-defined]
        except OSError as exc:
            return SFTPServer.convert_errno(exc.errno or 0)


class ShareFS(SFTPServerInterface):
    """SFTP requests answered from directory ``root`` of this host, and only it."""

    def __init__(self, server: Any, root: str) -> None:
        super().__init__(server)
        self.root = os.path.realpath(root)

    # -- paths ------------------------------------------------------------------
    def _inside(self, path: str) -> str:
        if path != self.root and not path.startswith(self.root.rstrip(os.sep) + os.sep):
            raise _Denied(path)
        return path

    def _real(self, path: str, follow: bool = True) -> str:
        """The host path of SFTP path ``path`` (``/`` is the share), checked."""
        rel = path.replace("\\", "/").lstrip("/")
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        joined = os.path.join(self.root, *parts) if parts else self.root
        if follow or not parts:
            return self._inside(os.path.realpath(joined))
        parent = self._inside(os.path.realpath(os.path.dirname(joined)))
        name = os.path.basename(joined)
        if name == "..":
            return self._inside(os.path.dirname(parent))
        return os.path.join(parent, name)

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except _Denied:
            return SFTP_PERMISSION_DENIED
        except OSError as exc:
            return SFTPServer.convert_errno(exc.errno or 0)

    # -- requests ---------------------------------------------------------------
    def canonicalize(self, path: str) -> str:
        try:
            real = self._real(path)
        except _Denied:
            return "/"
        rel = os.path.relpath(real, self.root)
        return "/" if rel == "." else "/" + rel.replace(os.sep, "/")

    def list_folder(self, path: str) -> Any:
        def ls() -> list[SFTPAttributes]:
            d = self._real(path)
            out = []
            for name in os.listdir(d):
                st = os.lstat(os.path.join(d, name))
                out.append(SFTPAttributes.from_stat(st, name))
            return out

        return self._call(ls)

    def stat(self, path: str) -> Any:
        return self._call(lambda: SFTPAttributes.from_stat(os.stat(self._real(path))))

    def lstat(self, path: str) -> Any:
        return self._call(lambda: SFTPAttributes.from_stat(
            os.lstat(self._real(path, follow=False))))

    def open(self, path: str, flags: int, attr: SFTPAttributes) -> Any:
        def do() -> _Handle:
            real = self._real(path)
            mode = getattr(attr, "st_mode", None) or 0o666
            fd = os.open(real, flags | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0),
                         mode & 0o777)
            if flags & os.O_WRONLY:
                fmode = "ab" if flags & os.O_APPEND else "wb"
            elif flags & os.O_RDWR:
                fmode = "a+b" if flags & os.O_APPEND else "r+b"
            else:
                fmode = "rb"
            f = os.fdopen(fd, fmode)
            handle = _Handle(flags)
            handle.filename = real  # type: ignore[attr-defined]
            handle.readfile = f  # type: ignore[attr-defined]
            handle.writefile = f  # type: ignore[attr-defined]
            return handle

        return self._call(do)

    def remove(self, path: str) -> int:
        return self._ok(lambda: os.remove(self._real(path, follow=False)))

    def rename(self, oldpath: str, newpath: str) -> int:
        return self._ok(lambda: os.rename(self._real(oldpath, follow=False),
                                          self._real(newpath, follow=False)))

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        return self._ok(lambda: os.replace(self._real(oldpath, follow=False),
                                           self._real(newpath, follow=False)))

    def mkdir(self, path: str, attr: SFTPAttributes) -> int:
        mode = getattr(attr, "st_mode", None) or 0o777
        return self._ok(lambda: os.mkdir(self._real(path, follow=False), mode & 0o777))

    def rmdir(self, path: str) -> int:
        return self._ok(lambda: os.rmdir(self._real(path, follow=False)))

    def chattr(self, path: str, attr: SFTPAttributes) -> int:
        return self._ok(lambda: SFTPServer.set_file_attr(self._real(path), attr))

    def readlink(self, path: str) -> Any:
        return self._call(lambda: os.readlink(self._real(path, follow=False)))

    def symlink(self, target_path: str, path: str) -> int:
        return SFTP_OP_UNSUPPORTED

    def _ok(self, fn: Any) -> int:
        result = self._call(fn)
        return result if isinstance(result, int) else SFTP_OK


def serve(channel: Any, root: str) -> None:
    """Answer SFTP on ``channel`` (the sshfs of one guest mount) from ``root``
    until the channel closes. Blocks: run it on a thread of its own."""
    handler = SFTPServer(channel, "sftp", paramiko.ServerInterface(), ShareFS, root)
    try:
        handler.start_subsystem("sftp", channel.get_transport(), channel)
    except EOFError:
        pass  # sshfs ended before it said hello (it failed to mount: its stderr says why)
    finally:
        handler.finish_subsystem()


def mount(transport: paramiko.Transport, host_dir: str, guest_dir: str) -> threading.Thread:
    """Mount ``host_dir`` at ``guest_dir`` in the guest, served from a thread."""
    chan = transport.open_session()
    chan.exec_command(mount_command(guest_dir))
    worker = threading.Thread(target=serve, args=(chan, host_dir), daemon=True,
                              name=f"share {host_dir}")
    worker.start()
    return worker


def mount_all(transport: paramiko.Transport, shares: list[tuple[str, str]],
              timeout: float = 20.0) -> list[str]:
    """Mount every (host dir, guest dir) and wait until the guest sees each one
    mounted, so the first command after the agent starts finds its files; the
    guest dirs that did not come up in time (their sshfs said why on stderr)."""
    import time

    for host_dir, guest_dir in shares:
        mount(transport, host_dir, guest_dir)
    waiting = [g for _, g in shares]
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        waiting = [g for g in waiting if not _mounted(transport, g)]
        if waiting:
            time.sleep(0.1)
    return waiting


def _mounted(transport: paramiko.Transport, guest_dir: str) -> bool:
    chan = transport.open_session()
    try:
        chan.exec_command(f"mountpoint -q {_quote(guest_dir)}")
        return chan.recv_exit_status() == 0
    finally:
        chan.close()
