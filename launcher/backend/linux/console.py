"""Terminals: the container side (a pty whose master goes to the console socket)
and the host side (``launcher run -t`` proxying the user's terminal)."""

from __future__ import annotations

import os

from launcher.backend.linux import syscalls as sc
from launcher.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.backend.linux.syscalls import Syscalls
    from launcher.spec.model import Process

TIOCSCTTY = 0x540E
TIOCSWINSZ = 0x5414
TIOCGWINSZ = 0x5413


def setup_terminal(sys: Syscalls, console_fd: int, proc: Process) -> None:
    """In init, after pivot_root: a pty from the container's own devpts."""
    import fcntl
    import socket
    import struct

    if console_fd < 0:
        raise RuntimeFailure("process.terminal is set but no --console-socket was given")
    master, slave = os.openpty()
    try:
        if proc.console_size is not None:
            size = struct.pack("HHHH", proc.console_size.height, proc.console_size.width, 0, 0)
            fcntl.ioctl(slave, TIOCSWINSZ, size)
        name = os.ttyname(slave)
        if proc.user is not None and proc.user.uid:
            os.fchown(slave, proc.user.uid, -1)  # the group stays devpts' gid= (tty)
        _bind_console(sys, name)
        sock = socket.socket(fileno=console_fd)
        try:
            socket.send_fds(sock, [name.encode()], [master])
        finally:
            sock.close()
    finally:
        os.close(master)
    fcntl.ioctl(slave, TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def _bind_console(sys: Syscalls, pts: str) -> None:
    try:
        if not os.path.exists("/dev/console"):
            os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o600))
        sys.mount(pts, "/dev/console", None, sc.MS_BIND, None)
    except OSError:
        pass  # a read-only /dev: the container simply has no /dev/console


def connect_console_socket(path: str) -> int:
    """runc's --console-socket: connect; the fd is inherited by init."""
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise RuntimeFailure(f"connecting to console socket {path}: {exc.strerror}") from exc
    fd = sock.detach()
    os.set_inheritable(fd, False)
    return fd


def console_pair() -> tuple[int, int]:
    """For ``launcher run -t``: (our end, init's end) of a socketpair."""
    import socket

    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return a.detach(), b.detach()


def receive_master(fd: int) -> int:
    import socket

    sock = socket.socket(fileno=fd)
    try:
        _msg, fds, _flags, _addr = socket.recv_fds(sock, 4096, 1)
    finally:
        sock.close()
    if not fds:
        raise RuntimeFailure("container init sent no terminal")
    return fds[0]
