"""The agent's port-forward keeper: asks the guest which host ports its
running containers publish and makes the machine's forwards match
(launcher.vm.portsync).

When: right after a forwarded command ends and a few seconds after one
that may publish ports begins (a foreground ``run -P`` is published while it
runs), every :data:`EVERY` seconds while any forward exists (a container that
exits by itself), and on demand (the CLI's ``s`` frame, after ``run -d -P``).
Only commands that can change what is published count, and only while a
forward exists or the command publishes (``-p``/``-P``) or restarts a
container: a plain ``run --rm`` costs no query. A query is one guest command on
a channel of its own (the spare stays for the next request).
"""

from __future__ import annotations

import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import paramiko

    from launcher.vm.machine import Machine

EVERY = 30.0
AFTER_START = 3.0
STARTS = frozenset({"run", "start", "restart", "create", "unpause"})
READ_ONLY = frozenset({"ps", "images", "image", "inspect", "logs", "port", "version", "info",
                       "system", "top", "stats", "events", "exec", "cp", "pull", "push",
                       "tag", "save", "load", "import", "network", "volume", "login",
                       "logout", "history", "diff", "wait", "attach", "export", "commit"})


class Syncer:
    __slots__ = ("busy", "command", "due", "machine", "transport", "wake")

    def __init__(self, m: Machine, transport: paramiko.Transport, command: str) -> None:
        self.machine, self.transport, self.command = m, transport, command
        self.wake = threading.Condition()
        self.due: list[float] = []
        self.busy = threading.Lock()  # one reconcile at a time

    def poke(self, delay: float = 0.0) -> None:
        with self.wake:
            self.due.append(time.monotonic() + delay)
            self.wake.notify()

    def session_started(self, argv: list[str]) -> None:
        if argv and argv[0] in STARTS and self.relevant(argv):
            self.poke(AFTER_START)

    def session_ended(self, argv: list[str]) -> None:
        if self.relevant(argv):
            self.poke()

    def relevant(self, argv: list[str]) -> bool:
        """Whether ``argv`` may have changed which ports are published."""
        from launcher.vm import portsync

        if not argv or argv[0] in READ_ONLY:
            return False
        if portsync.has_forwards(self.machine) or argv[0] in ("start", "restart"):
            return True
        return argv[0] in STARTS and any(
            w.startswith("--publish") or (w[:1] == "-" and w[1:2] != "-"
                                          and ("p" in w or "P" in w)) for w in argv[1:])

    def loop(self) -> None:
        from launcher.vm import portsync

        while self.transport.is_active():
            with self.wake:
                now = time.monotonic()
                if not any(d <= now for d in self.due):
                    wait = min([d - now for d in self.due] + [EVERY])
                    self.wake.wait(wait)
                    now = time.monotonic()
                    if not any(d <= now for d in self.due) \
                            and not portsync.has_forwards(self.machine):
                        continue
                self.due = [d for d in self.due if d > now]
            for warning in self.sync():
                sys.stderr.write(f"launcher agent: {warning}\n")  # agent.log

    def sync(self) -> list[str]:
        from launcher.vm import portsync

        with self.busy:
            try:
                published = self.query()
            except Exception as exc:  # the guest could not answer: change nothing
                return [f"cannot list the machine's published ports: {exc}"]
            return portsync.reconcile(self.machine, published)

    def query(self) -> list[tuple[str, int]]:
        """(proto, port) pairs the guest's running containers publish."""
        from launcher import fastjson

        chan = self.transport.open_session()
        chan.exec_command(self.command)
        try:
            chan.sendall(b'{"op": "ports"}\n')
            chan.shutdown_write()
            out = bytearray()
            while True:
                chunk = chan.recv(65536)
                if not chunk:
                    break
                out += chunk
            code = chan.recv_exit_status()
        finally:
            chan.close()
        if code != 0:
            raise RuntimeError(f"the guest answered with exit status {code}")
        doc = fastjson.loads(bytes(out))
        return [(str(proto), int(port)) for proto, port in doc]
