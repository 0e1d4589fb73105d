"""A line-based message pipe between the runtime and container init.

Pipes rather than a socketpair: ``import socket`` costs ~9 ms and start-up is
what users time.  Each message is ``kind SP json-payload LF`` and stays far
below PIPE_BUF, so writes from init and its parent never interleave.
"""

from __future__ import annotations

import os

from launcher import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Channel:
    __slots__ = ("_buf", "rfd", "wfd")

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd = rfd
        self.wfd = wfd
        self._buf = b""

    @classmethod
    def pair(cls) -> tuple[Channel, Channel]:
        """Two connected ends: (parent's, child's). All fds are close-on-exec."""
        a_r, b_w = os.pipe2(os.O_CLOEXEC)
        b_r, a_w = os.pipe2(os.O_CLOEXEC)
        return cls(a_r, a_w), cls(b_r, b_w)

    def send(self, kind: str, payload: Any = None) -> None:
        data = f"{kind} {fastjson.dumps(payload)}\n".encode()
        try:
            os.write(self.wfd, data)
        except BrokenPipeError:
            pass  # nobody listens any more (create has returned): nothing to tell

    def recv(self) -> tuple[str, Any]:
        """The next message; ("eof", None) when every writer has closed."""
        while b"\n" not in self._buf:
            try:
                chunk = os.read(self.rfd, 65536)
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
            if not chunk:
                return "eof", None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        kind, _, payload = line.decode(errors="replace").partition(" ")
        data = fastjson.loads(payload) if payload else None
        if kind == "execerrno":  # the exec helper's report (exechelper.py)
            from launcher.backend.linux.exechelper import translate

            return "error", translate(data)
        return kind, data

    def expect(self, kind: str) -> Any:
        got, payload = self.recv()
        if got == "error":
            raise error_from(payload)
        if got != kind:
            from launcher.errors import RuntimeFailure

            raise RuntimeFailure(f"container init: expected {kind!r}, got {got!r}"
                                 + (" (init exited)" if got == "eof" else ""))
        return payload

    def close_read(self) -> None:
        if self.rfd >= 0:
            os.close(self.rfd)
            self.rfd = -1

    def close_write(self) -> None:
        if self.wfd >= 0:
            os.close(self.wfd)
            self.wfd = -1

    def close(self) -> None:
        self.close_read()
        self.close_write()


def error_from(payload: Any) -> Exception:
    """The exception an ``error`` message from init stands for."""
    from launcher.errors import ExecFailure, RuntimeFailure

    msg, code = (payload[0], payload[1]) if isinstance(payload, list) else (payload, 0)
    if code in (126, 127):
        return ExecFailure(str(msg), code)
    return RuntimeFailure(str(msg))
