"""``--network slirp4netns``: user-mode networking, the rootless default.

slirp4netns (Debian's package) gives the container's network namespace a tap
device whose packets it turns into ordinary sockets of the calling user: no
root, no bridge, no firewall rule. Inside: ``tap0`` at 10.0.2.100/24, gateway
10.0.2.2, DNS forwarder 10.0.2.3 (the host's resolvers), MTU 65520; the host's
loopback is not reachable from the container (``--disable-host-loopback``).

Published ports (``-p``/``-P``) are forwards slirp4netns listens for on the
host, added through its API socket. The process is started by whoever waits
for the container (the foreground ``run`` or the detached container's monitor)
and holds an exit pipe: when that waiter dies, slirp4netns exits too; teardown
stops it first.
"""

from __future__ import annotations

import os

from launcher.errors import ConflictError, RuntimeFailure, UnsupportedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.network.ports import PortMapping

GUEST_IP = "10.0.2.100"
GATEWAY_IP = "10.0.2.2"
DNS_IP = "10.0.2.3"
READY_TIMEOUT = 10.0
_exit_pipes: list[int] = []  # write ends, open for this process's lifetime


def binary() -> str:
    import shutil

    exe = shutil.which("slirp4netns")
    if exe is None:
        raise UnsupportedError("--network slirp4netns: slirp4netns is not installed (Debian "
                               "package slirp4netns); use --network none or host")
    return exe


def command(exe: str, pid: int, api: str, ready_fd: int, exit_fd: int,
            own_userns: bool) -> list[str]:
    """slirp4netns's argv for init ``pid``; ``own_userns``: the container has a
    user namespace of its own, which slirp4netns must join to enter the netns."""
    argv = [exe, "--configure", "--mtu=65520", "--disable-host-loopback",
            f"--api-socket={api}", f"--ready-fd={ready_fd}", f"--exit-fd={exit_fd}"]
    if own_userns:
        argv.append(f"--userns-path=/proc/{pid}/ns/user")
    return [*argv, str(pid), "tap0"]


def start(pid: int, api: str, log: str) -> tuple[int, int]:
    """Start slirp4netns for init ``pid`` with its API socket at ``api``; wait
    until the tap is configured. Its (pid, start time), for :func:`stop`."""
    import subprocess

    from launcher.backend.linux import procinfo

    exe = binary()
    try:
        os.unlink(api)  # a stale socket of an earlier run of this container
    except FileNotFoundError:
        pass
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe()
    try:
        own = _ns_ino("self") != _ns_ino(str(pid))
        argv = command(exe, pid, api, ready_w, exit_r, own)
        with open(log, "wb") as err:
            proc = subprocess.Popen(argv, pass_fds=(ready_w, exit_r), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True)
    except BaseException:
        for fd in (ready_r, ready_w, exit_r, exit_w):
            os.close(fd)
        raise
    os.close(ready_w)
    os.close(exit_r)
    _exit_pipes.append(exit_w)
    try:
        _wait_ready(ready_r, proc, log)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        os.close(ready_r)
    return proc.pid, procinfo.start_time(proc.pid) or 0


def _wait_ready(fd: int, proc: object, log: str) -> None:
    import select

    ready, _, _ = select.select([fd], [], [], READY_TIMEOUT)
    data = os.read(fd, 1) if ready else b""
    if data == b"1":
        return
    why = _tail(log) or (f"no answer in {READY_TIMEOUT:g} s" if not ready else "it exited")
    raise RuntimeFailure(f"slirp4netns: {why}")


def _tail(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [ln.strip() for ln in f if ln.strip()]
    except OSError:
        return ""
    # "child failed(1)" alone says nothing: keep what the child said before it.
    return "; ".join(lines[-3:])


def _ns_ino(pid: str) -> int:
    try:
        return os.stat(f"/proc/{pid}/ns/user").st_ino
    except OSError:
        return 0


def add_forwards(api: str, mappings: list[PortMapping]) -> None:
    """Ask slirp4netns to listen on each mapping's host port (chosen already)."""
    for m in mappings:
        if m.proto not in ("tcp", "udp"):
            raise UnsupportedError(f"-p {m.spec()}: slirp4netns forwards tcp and udp only")
        reply = _request(api, {"execute": "add_hostfwd", "arguments": {
            "proto": m.proto, "host_addr": m.host_ip or "0.0.0.0", "host_port": m.host_port,
            "guest_addr": GUEST_IP, "guest_port": m.container_port}})
        if "error" in reply:
            desc = reply["error"].get("desc", reply["error"]) \
                if isinstance(reply["error"], dict) else reply["error"]
            raise ConflictError(f"cannot publish {m.host_address()}/{m.proto}: {desc}")


def _request(api: str, body: dict[str, object]) -> dict[str, object]:
    import json
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(READY_TIMEOUT)
        try:
            sock.connect(api)
            sock.sendall(json.dumps(body).encode())
            sock.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        except OSError as exc:
            raise RuntimeFailure(f"slirp4netns API {api}: {exc.strerror or exc}") from exc
    try:
        reply = json.loads(data or b"{}")
    except ValueError:
        raise RuntimeFailure(f"slirp4netns API: unreadable reply {data[:80]!r}") from None
    return reply if isinstance(reply, dict) else {"error": repr(reply)}


def stop(pid: int, start_time: int | None) -> None:
    """Stop slirp4netns ``pid`` if it is still the process we started (its forwards
    go with it)."""
    from launcher.backend.linux import procinfo

    procinfo.kill_and_wait(pid, start_time)
