"""A small QMP (QEMU Machine Protocol) client over the machine's unix socket.

One request at a time: connect, read the greeting, ``qmp_capabilities``, then
``execute`` commands and read replies, skipping asynchronous events. Used for
status (``query-status``), port forwards added at run time (``hostfwd_add``
through ``human-monitor-command``: QMP has no native command for it) and a
last-resort ``quit``.
"""

from __future__ import annotations

from launcher import fastjson
from launcher.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from typing import Any


class QmpError(RuntimeFailure):
    pass


class Qmp:
    __slots__ = ("_buf", "_sock")

    def __init__(self, path: str | tuple[str, int], timeout: float = 5.0) -> None:
        """``path``: a UNIX socket, or (host, port) of a TCP one (Windows hosts)."""
        import socket

        self._buf = b""
        family = socket.AF_INET if isinstance(path, tuple) else socket.AF_UNIX
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError as exc:
            sock.close()
            raise QmpError(f"cannot reach QEMU's monitor at {path}: "
                           f"{exc.strerror or exc}") from None
        self._sock: socket.socket = sock
        try:
            greeting = self._read()
            if "QMP" not in greeting:
                raise QmpError(f"not a QMP greeting from {path}")
            self.execute("qmp_capabilities")
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Qmp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def _read(self) -> dict[str, Any]:
        while b"\n" not in self._buf:
            try:
                chunk = self._sock.recv(65536)
            except OSError as exc:
                raise QmpError(f"QEMU's monitor: {exc}") from None
            if not chunk:
                raise QmpError("QEMU's monitor closed the connection")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        doc = fastjson.loads(line)
        if not isinstance(doc, dict):
            raise QmpError("QEMU's monitor sent something that is not a JSON object")
        return doc

    def execute(self, command: str, **arguments: object) -> Any:
        req: dict[str, object] = {"execute": command}
        if arguments:
            req["arguments"] = arguments
        try:
            self._sock.sendall(fastjson.dumps(req).encode() + b"\n")
        except OSError as exc:
            raise QmpError(f"QEMU's monitor: {exc}") from None
        while True:
            reply = self._read()
            if "event" in reply:
                continue
            if "error" in reply:
                err = reply["error"]
                desc = err.get("desc", err) if isinstance(err, dict) else err
                raise QmpError(f"QEMU refused {command}: {desc}")
            return reply.get("return")

    def hmp(self, line: str) -> str:
        """A human-monitor command; QEMU reports its errors as text."""
        out = self.execute("human-monitor-command", **{"command-line": line})
        return str(out or "").strip()
