"""SSH to a machine with paramiko: the guest's host key pinned, never learned.

launcher generates both keys of a machine at ``machine init`` (the client's
and the guest's host key, handed to the guest through fw_cfg), so the client
trusts exactly that host key: ``RejectPolicy`` for anything unknown, and a
different key for the same address is refused by paramiko as a mismatch.
Before connecting, :func:`wait_banner` waits for ``SSH-`` on the port (QEMU's
user networking accepts TCP connections long before sshd listens).

:func:`run` runs one command on a channel, with or without a pty, and returns
its exit status the way a local process would: ``exit-status`` as is, and
``exit-signal`` (which paramiko reports as -1) as 128 + the signal number.
Output is drained to EOF before the status is read, so a large output never
deadlocks on a full window.
"""

from __future__ import annotations

import os

from launcher.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from typing import Any

    import paramiko

SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "ABRT": 6, "FPE": 8, "KILL": 9,
           "SEGV": 11, "PIPE": 13, "ALRM": 14, "TERM": 15, "USR1": 10, "USR2": 12}


class HostKeyMismatch(RuntimeFailure):
    pass


def generate_keypair() -> tuple[bytes, str]:
    """A new Ed25519 key: (OpenSSH private key bytes, ``ssh-ed25519 AAAA…`` line)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH)
    return private, public.decode()


READY_LINE = b"Server listening on"  # sshd -e, on the guest's console
# sshd starts before the guest's network is up (boot.d/35-sshd.sh): a probe
# sent earlier is lost in QEMU's user networking and retried only seconds later.
NETWORK_LINES = (b"launcher-guest: network up", b"launcher-guest: ready")


def wait_banner(port: int, deadline: float, alive: object = None,
                console: str | None = None) -> socket.socket:
    """Until ``SSH-`` answers on 127.0.0.1:``port``; ``alive()`` False aborts.
    Returns that connection with the banner unread (peeked), for the login.

    With ``console`` (the serial log), probing starts only once sshd says it
    listens there: every connection that reaches sshd costs the guest a fork,
    which under TCG slows the boot it is waiting for."""
    import time

    while console is not None and not _console_ready(console):
        if callable(alive) and not alive():
            raise _hung("the machine stopped while booting", console)
        if time.monotonic() > deadline:
            raise _hung("sshd did not start in the guest in time", console)
        time.sleep(0.05)
    while True:
        sock = peek_banner(port, 5.0)
        if sock is not None:
            return sock
        if callable(alive) and not alive():
            raise _hung("the machine stopped while booting", console)
        if time.monotonic() > deadline:
            raise _hung(f"no SSH banner on 127.0.0.1:{port} in time", console)
        time.sleep(0.05)


CONSOLE_TAIL = 40


def _hung(what: str, console: str | None) -> RuntimeFailure:
    """The boot's failure, naming the console log; with ``--debug`` (log level
    debug) its last lines go to stderr first, so a hang shows why."""
    from launcher import log

    if console is None:
        return RuntimeFailure(f"{what} (see the machine's console log)")
    if log.enabled(log.DEBUG):
        try:
            with open(console, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()[-CONSOLE_TAIL:]
        except OSError:
            lines = []
        for line in lines:
            log.debug(f"console: {line}")
    return RuntimeFailure(f"{what} (see the console log {console}; --debug shows its end)")


def peek_banner(port: int, timeout: float) -> socket.socket | None:
    """A connection to 127.0.0.1:``port`` whose peer has said ``SSH-`` (left
    unread for the SSH client), or None."""
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", port))
        if s.recv(4, socket.MSG_PEEK) == b"SSH-":
            s.settimeout(None)
            return s
    except OSError:
        pass
    s.close()
    return None


def _console_ready(path: str) -> bool:
    """sshd listens and the guest's network is up (the serial console says both)."""
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError:
        return False
    return READY_LINE in text and any(line in text for line in NETWORK_LINES)


def connect(host: str, port: int, user: str, key_file: str, host_key_line: str,
            timeout: float = 15.0, sock: socket.socket | None = None) -> paramiko.SSHClient:
    """An authenticated client that accepts only ``host_key_line``'s key (over
    ``sock`` when given: a connection already open to it)."""
    import paramiko

    kind, _, rest = host_key_line.strip().partition(" ")
    blob = rest.split(" ")[0]
    client = paramiko.SSHClient()
    entry = host if port == 22 else f"[{host}]:{port}"
    try:
        pinned = paramiko.PKey.from_type_string(kind, __import__("base64").b64decode(blob))
    except Exception as exc:
        raise RuntimeFailure(f"bad pinned host key: {exc}") from None
    client.get_host_keys().add(entry, kind, pinned)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(host, port=port, username=user, key_filename=key_file,
                       look_for_keys=False, allow_agent=False, timeout=timeout,
                       banner_timeout=timeout, auth_timeout=timeout, sock=sock)
    except paramiko.BadHostKeyException:
        client.close()
        raise HostKeyMismatch(f"the host key of {entry} does not match the pinned key: "
                              "refusing to connect") from None
    except (paramiko.SSHException, OSError) as exc:
        client.close()
        raise RuntimeFailure(f"cannot connect to {entry} over SSH: {exc}") from None
    catch_exit_signals(client)
    return client


KNOWN_HOSTS_ENV = "LAUNCHER_SSH_KNOWN_HOSTS"  # instead of ~/.ssh/known_hosts
IDENTITY_ENV = "LAUNCHER_SSH_KEY"  # a private key file, instead of the agent/default keys


def connect_known(host: str, port: int, user: str, timeout: float = 15.0
                  ) -> paramiko.SSHClient:
    """A client for ``--host``: the host key must be in known_hosts already."""
    import paramiko

    client = paramiko.SSHClient()
    known = os.environ.get(KNOWN_HOSTS_ENV) or os.path.expanduser("~/.ssh/known_hosts")
    try:
        client.load_host_keys(known)
    except OSError:
        pass  # no file: every host is unknown, and refused below
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    key = os.environ.get(IDENTITY_ENV) or None
    entry = host if port == 22 else f"[{host}]:{port}"
    try:
        client.connect(host, port=port, username=user, key_filename=key,
                       look_for_keys=key is None, allow_agent=key is None, timeout=timeout,
                       banner_timeout=timeout, auth_timeout=timeout)
    except paramiko.BadHostKeyException:
        client.close()
        raise HostKeyMismatch(f"the host key of {entry} does not match {known}: refusing "
                              "to connect") from None
    except paramiko.SSHException as exc:
        client.close()
        if "not found in known_hosts" in str(exc):
            raise RuntimeFailure(f"{entry} is not in {known}: add its host key first "
                                 "(launcher never trusts a key on first use)") from None
        raise RuntimeFailure(f"cannot connect to {entry} over SSH: {exc}") from None
    except OSError as exc:
        client.close()
        raise RuntimeFailure(f"cannot connect to {entry} over SSH: {exc}") from None
    catch_exit_signals(client)
    return client


def catch_exit_signals(client: paramiko.SSHClient) -> None:
    """paramiko ignores ``exit-signal`` (the status stays -1): make it set the
    channel's status to 128 + the signal number, as a shell would report."""
    import paramiko
    from paramiko.common import MSG_CHANNEL_REQUEST

    transport = client.get_transport()
    if transport is None:
        return
    table = dict(getattr(paramiko.Transport, "_channel_handler_table"))  # noqa: B009

    def handle(chan: paramiko.Channel, m: paramiko.Message) -> None:
        pos = m.packet.tell()
        if m.get_text() == "exit-signal":
            m.get_boolean()  # want_reply
            chan.exit_status = 128 + (SIGNALS.get(m.get_text(), 0) or 1)
            chan.status_event.set()
            return
        m.packet.seek(pos)
        getattr(paramiko.Channel, "_handle_request")(chan, m)  # noqa: B009

    table[MSG_CHANNEL_REQUEST] = handle
    transport._channel_handler_table = table  # type: ignore[attr-defined]


def exit_code(chan: paramiko.Channel) -> int:
    status = chan.recv_exit_status()
    return 255 if status < 0 else status


def open_session(client: paramiko.SSHClient, command: str, pty: tuple[str, int, int] | None,
                 env: dict[str, str] | None = None) -> paramiko.Channel:
    """A channel running ``command`` (a fixed string: requests go on stdin)."""
    transport = client.get_transport()
    if transport is None:
        raise RuntimeFailure("the SSH connection is closed")
    chan = transport.open_session()
    if pty is not None:
        term, cols, rows = pty
        chan.get_pty(term=term, width=cols, height=rows)
    if env:
        chan.update_environment(env)
    chan.exec_command(command)
    return chan


def relay(chan: paramiko.Channel, stdin_fd: int | None) -> int:
    """Copy stdin to the channel and its output to our stdout/stderr until both
    ends are done; the command's exit code."""
    import select

    out, err = 1, 2
    want_in = stdin_fd is not None
    while True:
        fds: list[Any] = [chan]
        if want_in:
            fds.append(stdin_fd)
        ready, _, _ = select.select(fds, [], [], 1.0)
        if chan in ready:
            if chan.recv_ready():
                _write_all(out, chan.recv(65536))
            if chan.recv_stderr_ready():
                _write_all(err, chan.recv_stderr(65536))
        if want_in and stdin_fd in ready:
            data = os.read(stdin_fd, 65536)  # type: ignore[arg-type]
            if data:
                chan.sendall(data)
            else:
                chan.shutdown_write()
                want_in = False
        if (chan.exit_status_ready() and chan.eof_received and not chan.recv_ready()
                and not chan.recv_stderr_ready()):
            break
    return exit_code(chan)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]
