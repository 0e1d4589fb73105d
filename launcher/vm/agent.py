"""The host agent: one process per running machine that keeps SSH warm.

``python -m launcher.vm.agent STORAGE STATE NAME`` (started by :func:`ensure`, in its
own session, never forked from a CLI that may have threads) logs in once
with the pinned host key and serves ``agent.sock`` in the machine's run
directory. Each CLI invocation is one connection there and one new channel
on the already authenticated transport — no TCP or SSH handshake per command,
and no paramiko import in the CLI. The agent also pushes the host's clock
into the guest when it notices the host slept or was paused (wall clock
jumped against the monotonic clock), and every 10 minutes otherwise.

Protocol: attachserver's frames (type byte, 4-byte length, payload).
client → agent: ``q`` request JSON ``{"argv": [...], "env": {...}, "pty":
[term, cols, rows] | null}`` first; then ``i`` stdin bytes, ``c`` close
stdin, ``r`` resize (rows, cols: 2 bytes each).
agent → client: ``o`` stdout, ``e`` stderr, ``x`` exit code (4 bytes, signed).
The agent exits when the SSH transport dies (the machine stopped); the next
command starts a new one.
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
    from typing import Any

    import paramiko

    from launcher.vm.machine import Machine

SOCKET = "agent.sock"
PIDFILE = "agent.pid"
REQUEST, STDIN, CLOSE_STDIN, RESIZE = b"q", b"i", b"c", b"r"
STDOUT, STDERR, EXIT = b"o", b"e", b"x"
CLOCK_EVERY = 600.0
EOF_GRACE = 2.0
CLOCK_JUMP = 2.0


def serve(m: Machine) -> int:
    import socket

    from launcher.vm import ops

    client = ops.connect(m)
    transport = client.get_transport()
    assert transport is not None
    transport.set_keepalive(15)
    path = os.path.join(m.run_dir, SOCKET)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = f"{path}.{os.getpid()}"
    srv.bind(tmp)
    os.chmod(tmp, 0o600)
    srv.listen(64)
    os.replace(tmp, path)  # appears only once it accepts
    with open(os.path.join(m.run_dir, PIDFILE), "w") as f:
        f.write(str(os.getpid()))
    threading.Thread(target=_clock_loop, args=(transport,), daemon=True).start()
    srv.settimeout(1.0)
    while transport.is_active():
        try:
            conn, _ = srv.accept()
        except TimeoutError:
            continue
        threading.Thread(target=_session, args=(transport, conn), daemon=True).start()
    sys.stderr.write(f"launcher agent: the SSH connection to {m.name} ended\n")
    for stale in (path, os.path.join(m.run_dir, PIDFILE)):
        try:
            os.unlink(stale)
        except FileNotFoundError:
            pass
    return 0


def _session(transport: paramiko.Transport, conn: socket.socket) -> None:
    """One CLI invocation: request, then bytes both ways until the exit code."""
    from launcher import fastjson
    from launcher.vm.remote import GUEST_COMMAND

    buf = bytearray()
    try:
        first = _read_frame(conn, buf)
        if first is None or first[0] != REQUEST:
            return
        req = fastjson.loads(first[1])
        chan = transport.open_session()
        pty = req.get("pty")
        if pty:
            chan.get_pty(term=str(pty[0]), width=int(pty[1]), height=int(pty[2]))
        chan.exec_command(GUEST_COMMAND)
        line = fastjson.dumps({"argv": req["argv"], "env": req.get("env", {})})
        chan.sendall(line.encode() + b"\n")
        code = _pump(conn, chan, buf)
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


def _pump(conn: socket.socket, chan: paramiko.Channel, buf: bytearray) -> int:
    import select

    from launcher.vm.sshconn import exit_code

    client_open, done = True, 0.0
    for kind, payload in split_frames(buf):
        client_open = _from_client(chan, kind, payload) and client_open
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
                _from_client(chan, kind, payload)
        if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
            if chan.eof_received:
                return exit_code(chan)
            # Exited, but something it started still holds its output open:
            # what it printed has arrived; don't wait for the straggler.
            done = done or time.monotonic()
            if time.monotonic() - done > EOF_GRACE:
                return exit_code(chan)


def _from_client(chan: paramiko.Channel, kind: bytes, payload: bytes) -> bool:
    if kind == STDIN:
        chan.sendall(payload)
    elif kind == CLOSE_STDIN:
        chan.shutdown_write()
    elif kind == RESIZE and len(payload) == 4:
        chan.resize_pty(width=int.from_bytes(payload[2:], "big"),
                        height=int.from_bytes(payload[:2], "big"))
    return True


def _clock_loop(transport: paramiko.Transport) -> None:
    """Push the host's time into the guest after a host sleep/pause, and now and then."""
    offset = time.time() - time.monotonic()
    last_push = 0.0
    while transport.is_active():
        time.sleep(10.0)
        now_offset = time.time() - time.monotonic()
        jumped = abs(now_offset - offset) > CLOCK_JUMP
        if jumped or time.monotonic() - last_push > CLOCK_EVERY:
            push_clock(transport)
            offset, last_push = now_offset, time.monotonic()


def push_clock(transport: paramiko.Transport) -> None:
    try:
        chan = transport.open_session()
        chan.exec_command(f"busybox date -u -s @{int(time.time())} >/dev/null")
        chan.recv_exit_status()
        chan.close()
    except Exception:
        pass  # the transport died; serve() notices and exits


def main(argv: list[str]) -> int:
    """``STORAGE STATE NAME``: the machine's launcher directories and name."""
    from launcher.paths import Paths
    from launcher.vm.machine import Machine

    storage, state, name = argv
    return serve(Machine.load(Paths(storage, state), name))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
