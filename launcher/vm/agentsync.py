"""The agent's port-forward keeper: asks the guest which host ports its
running containers publish and makes the machine's forwards match
(launcher.vm.portsync).

When: right after every forwarded command ends (``run --rm`` finished,
``rm``, ``stop``, ``-P``), a few seconds after a command that may start
containers begins (a foreground ``run -P`` is published while it runs), every
:data:`EVERY` seconds while any forward exists (a container that exits by
itself), and on demand (the CLI's ``s`` frame, after ``run -d -P``). One
query is one guest command on the spare channel: Python already started.
"""

from __future__ import annotations

import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import paramiko

    from launcher.vm.agent import Spare
    from launcher.vm.machine import Machine

EVERY = 30.0
AFTER_START = 3.0
STARTS = frozenset({"run", "start", "restart", "create", "unpause"})


class Syncer:
    __slots__ = ("busy", "due", "machine", "spare", "transport", "wake")

    def __init__(self, m: Machine, transport: paramiko.Transport, spare: Spare) -> None:
        self.machine, self.transport, self.spare = m, transport, spare
        self.wake = threading.Condition()
        self.due: list[float] = []
        self.busy = threading.Lock()  # one reconcile at a time

    def poke(self, delay: float = 0.0) -> None:
        with self.wake:
            self.due.append(time.monotonic() + delay)
            self.wake.notify()

    def session_started(self, argv: list[str]) -> None:
        if argv and argv[0] in STARTS:
            self.poke(AFTER_START)

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

        chan = self.spare.take()
        if chan is None:
            chan = self.transport.open_session()
            chan.exec_command(self.spare.command)
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
