"""The HTTP plumbing of the fake registry: servers in threads, requests recorded.

Each ``Site`` is a ``ThreadingHTTPServer`` in a daemon thread, speaking HTTP/1.1
keep-alive (plain, or TLS when given a server context); its handler passes every
request to ``owner._handle(handler, site_name)``.
"""

from __future__ import annotations

import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.unit.registry.fakeregistry import FakeRegistry


class Request:
    """One request as a server saw it."""

    __slots__ = ("body", "headers", "method", "path", "peer", "server")

    def __init__(self, server: str, method: str, path: str, headers: dict[str, str],
                 body: bytes) -> None:
        self.server = server
        self.method = method
        self.path = path
        self.headers = headers  # lowercased names
        self.body = body
        self.peer: tuple[str, int] = ("", 0)  # the client's address: one per connection

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def __repr__(self) -> str:
        return f"Request({self.server} {self.method} {self.path})"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in separate writes
    server: _HTTPServer

    def setup(self) -> None:
        tls = self.server.site.tls
        if tls is not None:
            self.request = tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def handle(self) -> None:
        if self.server.site.tls is None:
            try:
                first = self.connection.recv(1, socket.MSG_PEEK)
            except OSError:
                return
            if first == b"\x16":
                return  # a TLS ClientHello on plain HTTP: hang up (Go servers answer 400)
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, TimeoutError):
            pass

    def _dispatch(self) -> None:
        self.server.site.owner._handle(self, self.server.site.name)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    site: Site

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # failed handshakes and hang-ups are part of the tests


class Site:
    """One listening server in its own thread."""

    def __init__(self, owner: FakeRegistry, name: str, host: str,
                 tls: ssl.SSLContext | None = None) -> None:
        self.owner = owner
        self.name = name
        self.tls = tls
        self.httpd = _HTTPServer((host, 0), Handler)
        self.httpd.site = self
        self.netloc = f"{host}:{self.httpd.server_address[1]}"
        self.url = f"{'https' if tls else 'http'}://{self.netloc}"
        # A short poll interval: shutdown() waits for it, once per test and server.
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,),
                                       daemon=True, name=f"fake-{name}")
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()
