"""The host agent: one process per running machine that keeps SSH warm.

``python -m launcher.vm.agent STORAGE STATE machine NAME|host URL`` (started by
:func:`launcher.vm.agentclient.ensure`, in its
own session, never forked from a CLI that may have threads) logs in once
with the pinned host key and serves ``agent.sock`` in the machine's run
directory (Windows, which has no UNIX sockets in Python: a loopback TCP
port and a random token, both in ``agent.addr`` in that user-only directory;
a connection's first frame must be ``a`` with the token, or it is closed).
Each CLI invocation is one connection there and one new channel on the
already authenticated transport — no TCP or SSH handshake per command,
and no paramiko import in the CLI. The agent also pushes the host's clock
into the guest when it notices the host slept or was paused (wall clock
jumped against the monotonic clock), and every 10 minutes otherwise.

Protocol: attachserver's frames (type byte, 4-byte length, payload).
client → agent: ``q`` request JSON ``{"argv": [...], "env": {...}, "pty":
[term, cols, rows] | null}`` first; then ``i`` stdin bytes, ``c`` close
stdin, ``r`` resize (rows, cols: 2 bytes each), ``k`` a signal (one byte:
its number) for the guest's launcher, which forwards it as the native CLI does
(Ctrl-C on the host without ``-t``, as Docker's sig-proxy). Or ``s`` alone: make the
machine's port forwards match its containers now (launcher.vm.portsync),
answered with warnings on stderr and exit 0.
agent → client: ``o`` stdout, ``e`` stderr, ``x`` exit code (4 bytes, signed).
The agent exits when the SSH transport dies (the machine stopped, the host
went away); the next command starts a new one. The clock is pushed only into
machines, never into a ``--host`` target.

A spare: the agent keeps one channel open ahead of time whose guest command
has already started Python and imported launcher (see launcher.vm.guest), and
hands it to the next request without a terminal; a new spare is started
right after. Requests with a pty, and requests while the spare is still
starting, get a channel of their own as before.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from launcher.backend.linux.attachserver import frame, split_frames

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable
    from typing import Any

    import paramiko

    from launcher.vm.agentsync import Syncer
    from launcher.vm.target import Target

SOCKET = "agent.sock"
ADDR_FILE = "agent.addr"  # Windows: {"port": N, "token": HEX}
PIDFILE = "agent.pid"
REQUEST, STDIN, CLOSE_STDIN, RESIZE, SYNC, AUTH = b"q", b"i", b"c", b"r", b"s", b"a"
SIGNAL = b"k"  # client -> agent: one byte, a signal number for the guest command
STDOUT, STDERR, EXIT = b"o", b"e", b"x"
FATAL = "launcher agent: fatal: "
CLOCK_EVERY = 600.0
EOF_GRACE = 2.0
CLOCK_JUMP = 2.0


def listen(run_dir: str, tcp: bool) -> tuple[socket.socket, str, str | None]:
    """The agent's listening socket, the file that tells clients where it is
    (it appears only once the socket accepts), and the token (TCP only)."""
    import socket

    if not tcp:
        path = os.path.join(run_dir, SOCKET)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        tmp = f"{path}.{os.getpid()}"
        srv.bind(tmp)
        os.chmod(tmp, 0o600)
        srv.listen(64)
        os.replace(tmp, path)
        return srv, path, None
    from launcher import fastjson

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    token = os.urandom(32).hex()
    path = os.path.join(run_dir, ADDR_FILE)
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(fastjson.dumps({"port": srv.getsockname()[1], "token": token}))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return srv, path, token


def serve(m: Target, tcp: bool | None = None) -> int:
    from launcher.vm.hostpath import is_windows

    client = m.connect()
    transport = client.get_transport()
    assert transport is not None
    transport.set_keepalive(15)
    srv, path, token = listen(m.run_dir, is_windows() if tcp is None else tcp)
    with open(os.path.join(m.run_dir, PIDFILE), "w") as f:
        f.write(str(os.getpid()))
    if m.machine is not None:
        threading.Thread(target=_clock_loop, args=(transport,), daemon=True).start()
    srv.settimeout(1.0)
    if m.machine is not None:
        record_guest(transport, m.run_dir, _update_guest(transport, m.command))
    if m.machine is not None and m.machine.shares_via == "sftp":
        from launcher.vm import sftpshare
        from launcher.vm.hostpath import guest_path

        # they live as long as this connection; mounted before we accept commands
        late = sftpshare.mount_all(transport, [(s, guest_path(s)) for s in m.machine.shares])
        for guest_dir in late:
            sys.stderr.write(f"launcher agent: share {guest_dir} did not mount\n")
    spare = Spare(transport, m.command)
    spare.refill()
    syncer = None
    if m.machine is not None:
        from launcher.vm.agentsync import Syncer

        syncer = Syncer(m.machine, transport, m.command)
        threading.Thread(target=syncer.loop, daemon=True).start()
    import signal

    signal.signal(signal.SIGTERM, _terminated)  # stop_agent: go, and leave no socket
    try:
        while transport.is_active():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            threading.Thread(target=_session, args=(transport, conn, m.command, spare,
                                                    syncer, token), daemon=True).start()
        sys.stderr.write(f"launcher agent: the SSH connection to {m.label} ended\n")
    finally:
        for stale in (path, os.path.join(m.run_dir, PIDFILE)):
            try:
                os.unlink(stale)
            except FileNotFoundError:
                pass
    return 0


def _terminated(signum: int, frame: object) -> None:
    sys.stderr.write("launcher agent: stopped (SIGTERM)\n")
    raise SystemExit(0)


def _update_guest(transport: paramiko.Transport, command: str) -> bool:
    """The machine's launcher becomes the host's (launcher.vm.selfsync)."""
    from launcher.errors import LauncherError
    from launcher.vm import selfsync

    synced = False
    try:
        if selfsync.ensure(transport, command):
            sys.stderr.write("launcher agent: updated launcher in the machine\n")
        synced = True
    except LauncherError as exc:  # the old one still works: say so, go on
        sys.stderr.write(f"launcher agent: WARNING: {exc}\n")
    return synced


def record_guest(transport: paramiko.Transport, run_dir: str, synced: bool) -> None:
    """What ``launcher version`` reports of the running guest (``guest.json``):
    its kernel, and launcher's version there (the host's once synced)."""
    from launcher import __version__, fastjson
    from launcher.vm import selfsync

    code, out = selfsync.run_fixed(transport, "uname -r")
    doc = {"Version": __version__ if synced else "unknown (not synced: see agent.log)",
           "Kernel": out.decode(errors="replace").strip() if code == 0 else "unknown"}
    tmp = os.path.join(run_dir, f"guest.json.{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(fastjson.dumps(doc))
    os.replace(tmp, os.path.join(run_dir, "guest.json"))


class Spare:
    """One guest command started ahead of its request (Python up, launcher imported)."""

    __slots__ = ("command", "lock", "ready", "transport")

    def __init__(self, transport: paramiko.Transport, command: str) -> None:
        self.transport, self.command = transport, command
        self.lock = threading.Lock()
        self.ready: paramiko.Channel | None = None

    def take(self) -> paramiko.Channel | None:
        """The spare channel if one is ready and alive (a new one is started)."""
        with self.lock:
            chan, self.ready = self.ready, None
        if chan is None:
            return None
        threading.Thread(target=self.refill, daemon=True).start()
        if chan.closed or chan.exit_status_ready():  # the guest process died meanwhile
            chan.close()
            return None
        return chan

    def refill(self) -> None:
        try:
            chan = self.transport.open_session()
            chan.exec_command(self.command)
        except Exception:
            return  # the transport is going away; serve() notices
        with self.lock:
            extra = self.ready is not None
            if not extra:
                self.ready = chan
        if extra:
            chan.close()


def _session(transport: paramiko.Transport, conn: socket.socket, command: str,
             spare: Spare | None = None, syncer: Syncer | None = None,
             token: str | None = None) -> None:
    """One CLI invocation: request, then bytes both ways until the exit code."""
    from launcher import fastjson

    buf = bytearray()
    try:
        if token is not None and not _authenticated(conn, buf, token):
            return
        first = _read_frame(conn, buf)
        if first is not None and first[0] == SYNC:
            warnings = syncer.sync() if syncer is not None else []
            conn.sendall(b"".join(frame(STDERR, f"WARNING: {w}\n".encode()) for w in warnings)
                         + frame(EXIT, (0).to_bytes(4, "big", signed=True)))
            return
        if first is None or first[0] != REQUEST:
            return
        req = fastjson.loads(first[1])
        if syncer is not None:
            syncer.session_started(req["argv"])
        pty = req.get("pty")
        chan = spare.take() if spare is not None and not pty else None
        if chan is None:
            chan = transport.open_session()
            if pty:
                chan.get_pty(term=str(pty[0]), width=int(pty[1]), height=int(pty[2]))
            chan.exec_command(command)
        session = os.urandom(16).hex()
        fwd = {"argv": req["argv"], "env": req.get("env", {}), "session": session}
        if req.get("stage") is not None:
            fwd["stage"] = req["stage"]
        line = fastjson.dumps(fwd)
        chan.sendall(line.encode() + b"\n")
        code = _pump(conn, chan, buf, lambda signum: _signal(transport, session, signum))
        if syncer is not None:
            syncer.session_ended(req["argv"])
        conn.sendall(frame(EXIT, code.to_bytes(4, "big", signed=True)))
    except Exception as exc:  # the CLI gets the reason, the agent goes on
        import traceback

        traceback.print_exc()  # into agent.log
        try:
            conn.sendall(frame(STDERR, f"launcher: the VM agent: {exc}\n".encode())
                         + frame(EXIT, (125).to_bytes(4, "big", signed=True)))
        except OSError:
            pass
    finally:
        conn.close()


def _authenticated(conn: socket.socket, buf: bytearray, token: str) -> bool:
    """Whether the connection's first frame is the token (TCP: any local user
    can connect to a loopback port; only the owner can read agent.addr)."""
    import hmac

    conn.settimeout(10.0)
    try:
        first = _read_frame(conn, buf)
    except (OSError, ValueError):
        return False
    finally:
        conn.settimeout(None)
    return first is not None and first[0] == AUTH and hmac.compare_digest(
        first[1], token.encode())


def _read_frame(conn: socket.socket, buf: bytearray) -> tuple[bytes, bytes] | None:
    while True:
        frames = split_frames(buf)
        if frames:
            # put back what followed the first frame
            rest = b"".join(frame(k, p) for k, p in frames[1:])
            buf[:0] = rest
            return frames[0]
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buf += chunk


def _signal(transport: paramiko.Transport, session: str, signum: int) -> None:
    """Send ``signum`` to the guest process serving ``session`` (launcher.vm.guest
    registered its pid); best effort, on a channel of its own."""
    from launcher.vm.guest import SESSIONS

    if 0 < signum < 65:  # the command may have ended meanwhile: nothing to signal then
        _quietly(transport, f"kill -{signum} $(cat {SESSIONS}/{session}) 2>/dev/null")


def _quietly(transport: paramiko.Transport, command: str) -> None:
    """Run a fixed guest command on a channel of its own, best effort: a dead
    transport is noticed by serve(), which then exits."""
    try:
        chan = transport.open_session()
        chan.exec_command(command)
        chan.recv_exit_status()
        chan.close()
    except Exception:
        pass


def _pump(conn: socket.socket, chan: paramiko.Channel, buf: bytearray,
          signal: Callable[[int], None] | None = None) -> int:
    import select

    from launcher.vm.sshconn import exit_code

    client_open, done = True, 0.0
    for kind, payload in split_frames(buf):
        client_open = _from_client(chan, kind, payload, signal) and client_open
    while True:
        fds: list[Any] = [chan] + ([conn] if client_open else [])
        ready = select.select(fds, [], [], 1.0)[0]
        if chan in ready or chan.recv_ready() or chan.recv_stderr_ready():
            if chan.recv_ready():
                conn.sendall(frame(STDOUT, chan.recv(65536)))
            if chan.recv_stderr_ready():
                conn.sendall(frame(STDERR, chan.recv_stderr(65536)))
        if client_open and conn in ready:
            chunk = conn.recv(65536)
            if not chunk:  # the CLI went away (killed): end the remote command's input
                client_open = False
                chan.shutdown_write()
            buf += chunk
            for kind, payload in split_frames(buf):
                _from_client(chan, kind, payload, signal)
        if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
            if chan.eof_received:
                return exit_code(chan)
            # Exited, but something it started still holds its output open:
            # what it printed has arrived; don't wait for the straggler.
            done = done or time.monotonic()
            if time.monotonic() - done > EOF_GRACE:
                return exit_code(chan)


def _from_client(chan: paramiko.Channel, kind: bytes, payload: bytes,
                 signal: Callable[[int], None] | None = None) -> bool:
    if kind == SIGNAL and len(payload) == 1 and signal is not None:
        threading.Thread(target=signal, args=(payload[0],), daemon=True).start()
    elif kind == STDIN:
        chan.sendall(payload)
    elif kind == CLOSE_STDIN:
        chan.shutdown_write()
    elif kind == RESIZE and len(payload) == 4:
        chan.resize_pty(width=int.from_bytes(payload[2:], "big"),
                        height=int.from_bytes(payload[:2], "big"))
    return True


def _clock_loop(transport: paramiko.Transport) -> None:
    """Push the host's time into the guest now (a new connection often follows a
    host sleep that dropped the old one), after a host sleep/pause, and now and then."""
    offset = time.time() - time.monotonic()
    push_clock(transport)
    last_push = time.monotonic()
    while transport.is_active():
        time.sleep(10.0)
        now_offset = time.time() - time.monotonic()
        if clock_due(offset, now_offset, time.monotonic() - last_push):
            push_clock(transport)
            offset, last_push = now_offset, time.monotonic()


def clock_due(offset: float, now_offset: float, since_push: float) -> bool:
    """Whether to push the clock: the wall clock jumped against the monotonic one
    (the host slept, or QEMU was paused), or the last push is ``CLOCK_EVERY`` old."""
    return abs(now_offset - offset) > CLOCK_JUMP or since_push > CLOCK_EVERY


def push_clock(transport: paramiko.Transport) -> None:
    _quietly(transport, f"busybox date -u -s @{int(time.time())} >/dev/null")


def main(argv: list[str]) -> int:
    """``STORAGE STATE machine NAME`` or ``STORAGE STATE host URL``."""
    from launcher.errors import LauncherError
    from launcher.vm.target import from_agent_args

    try:
        return serve(from_agent_args(argv))
    except LauncherError as exc:  # the CLI that started us reports this line
        sys.stderr.write(f"{FATAL}{exc}\n")
        return 125


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
