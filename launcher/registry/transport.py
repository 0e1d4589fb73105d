"""HTTP(S) plumbing of the registry client: origins, connections, TLS, redirects.

Rules (SECURITY.md, "Registry"):

* TLS is verified. A host is *insecure* -- reachable over plain HTTP, or over
  HTTPS without verifying its certificate -- only if it is loopback
  (127.0.0.0/8, ``::1``, ``localhost``, as in Docker) or listed in
  registries.toml (``config``), or with ``--tls-verify=false``;
  ``--tls-verify=true`` makes every host secure, loopback included.
* An insecure registry is tried over HTTPS first and falls back to plain HTTP
  when the TLS handshake or the connection fails (Docker does the same). The
  choice is made once, on first use, and kept for the life of the Transport.
* Plain HTTP to a secure host is refused outright: a redirect, an upload
  ``Location`` or a token realm cannot downgrade a request.
* ``Authorization`` goes only to the origin (scheme, host, port) it was meant
  for -- the registry's own, or the token realm's when ``auth.py`` allows it.
  A redirect or an upload ``Location`` elsewhere gets the request without it.

Connections are kept per thread and per origin (pull downloads several layers
through one Registry in parallel threads); ``close`` closes all of them.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from urllib.parse import urljoin, urlsplit

from launcher import __version__, fastjson
from launcher.errors import RegistryError
from launcher.registry.config import RegistryConfig, endpoint

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    Body = bytes | Iterable[bytes] | None

USER_AGENT = f"launcher/{__version__}"
REDIRECTS = frozenset((301, 302, 303, 307, 308))
DRAIN_MAX = 64 << 10  # an error or redirect body longer than this closes the connection
READ_CHUNK = 64 << 10


class TransportError(RegistryError):
    """The network failed (refused, reset, timed out, cut short): worth a retry."""


def one_line(text: object, limit: int = 300) -> str:
    """``text`` on one line, at most ``limit`` characters (errors are one line)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def error_message(body: bytes) -> str:
    """The messages of a distribution error body, on one line::

        {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}

    Anything else: empty (callers fall back to the HTTP status)."""
    try:
        doc = fastjson.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError):
        return ""
    errors = doc.get("errors") if type(doc) is dict else None
    if type(errors) is not list:
        return ""
    texts: list[str] = []
    for err in errors:
        if type(err) is not dict:
            continue
        message, code = err.get("message"), err.get("code")
        if type(message) is str and message:
            texts.append(message)
        elif type(code) is str and code:
            texts.append(code.lower().replace("_", " "))
    return one_line("; ".join(texts))


def _error_text(exc: BaseException) -> str:
    return one_line(exc) or type(exc).__name__


class Reply:
    """A response whose connection is given back only once its body was read:
    callers read it whole (``body``, ``drain``) or ``close`` it."""

    __slots__ = ("_conn", "_expected", "_received", "_what", "headers", "response", "status",
                 "url")

    def __init__(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse,
                 url: str, what: str) -> None:
        self._conn = conn
        self._what = what
        self.response = response
        self.status = response.status
        self.headers = response.headers
        self.url = url
        # The body's length as http.client counts it (0 for HEAD, 204, 304).
        self._expected: int | None = response.length
        self._received = 0

    def header(self, name: str) -> str:
        return str(self.headers.get(name, "")).strip()

    def length(self) -> int | None:
        """Content-Length, or None when absent or not a number."""
        value = self.header("Content-Length")
        return int(value) if value.isdigit() else None

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of the body; b"" at its end. A body cut short of its
        Content-Length is a TransportError (http.client just returns b"" there)."""
        try:
            data = self.response.read(n)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise TransportError(f"{self._what}: {_error_text(exc)}") from None
        self._received += len(data)
        if not data and n and self._expected is not None and self._received < self._expected:
            self.close()
            raise TransportError(f"{self._what}: connection closed after {self._received} "
                                 f"of {self._expected} bytes")
        return data

    def body(self, cap: int, what: str) -> bytes:
        """The whole body; RegistryError, without reading on, once it exceeds ``cap``."""
        length = self.length()
        if length is not None and length > cap:
            self.close()
            raise RegistryError(f"{what}: {length} bytes is over the limit of {cap} bytes")
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = self.read(min(READ_CHUNK, cap + 1 - total))
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > cap:
                self.close()
                raise RegistryError(f"{what}: over the limit of {cap} bytes")
            chunks.append(chunk)

    def drain(self) -> bytes:
        """Read a small body (an error, a redirect) so the connection can be reused;
        a longer one is cut and its connection closed. Returns what was read."""
        try:
            data = self.response.read(DRAIN_MAX + 1)
        except (OSError, http.client.HTTPException):
            self.close()
            return b""
        if len(data) > DRAIN_MAX:
            self.close()
            return data[:DRAIN_MAX]
        return data

    def close(self) -> None:
        """Abandon the response: its connection is closed (reopened on next use)."""
        self.response.close()
        self._conn.close()


class Transport:
    """Connections to one registry (``domain``) and the hosts it sends us to."""

    def __init__(self, domain: str, *, tls_verify: bool | None, config: RegistryConfig,
                 timeout: float) -> None:
        self.domain = domain
        self.host = endpoint(domain)
        self.tls_verify = tls_verify
        self.config = config
        self.timeout = timeout
        self._scheme: str | None = None if self.is_insecure(self.host) else "https"
        self._local = threading.local()
        self._lock = threading.Lock()  # guards _open
        self._probe_lock = threading.Lock()  # one thread chooses the scheme
        self._open: set[http.client.HTTPConnection] = set()
        self._contexts: dict[bool, ssl.SSLContext] = {}

    # -- policy --------------------------------------------------------------------------

    def is_insecure(self, netloc: str) -> bool:
        """May ``netloc`` be reached over plain HTTP or unverified TLS?"""
        if self.tls_verify is not None:
            return not self.tls_verify
        return self.config.is_insecure(self.domain if netloc == self.host else netloc)

    def origin(self) -> tuple[str, str]:
        """The registry's (scheme, netloc), choosing the scheme on first use."""
        if self._scheme is None:
            with self._probe_lock:
                if self._scheme is None:
                    self._scheme = self._probe()
        return self._scheme, self.host

    def url(self, path: str) -> str:
        scheme, netloc = self.origin()
        return f"{scheme}://{netloc}{path}"

    # -- requests ------------------------------------------------------------------------

    def send(self, method: str, url: str, headers: dict[str, str], body: Body = None, *,
             redirects: int = 0, auth_origin: tuple[str, str] | None = None,
             fresh: bool = False) -> Reply:
        """One request to ``url`` (absolute, or a path on the registry), following up
        to ``redirects`` redirects for GET/HEAD. ``Authorization`` in ``headers``
        is sent only to ``auth_origin`` (default: the registry's origin)."""
        if url.startswith("/"):
            url = self.url(url)
        allowed = auth_origin or self.origin()
        hop = 0
        while True:
            parts = urlsplit(url)
            scheme, netloc = parts.scheme, parts.netloc
            if scheme not in ("http", "https") or not netloc:
                raise RegistryError(f"{self.domain}: refusing to follow {one_line(url)!r}")
            if scheme == "http" and not self.is_insecure(netloc):
                raise RegistryError(f"{self.domain}: refusing plain HTTP to {netloc} "
                                    "(not a loopback or insecure registry)")
            sent = dict(headers)
            sent["User-Agent"] = USER_AGENT
            if (scheme, netloc) != allowed:
                sent.pop("Authorization", None)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            reply = self._exchange(method, scheme, netloc, target, sent, body, fresh)
            if reply.status not in REDIRECTS or method not in ("GET", "HEAD"):
                return reply
            location = reply.header("Location")
            if not location or redirects == 0:
                return reply
            reply.drain()
            hop += 1
            if hop > redirects:
                raise RegistryError(f"{self.domain}: more than {redirects} redirects for "
                                    f"{method} {parts.path}")
            url = urljoin(url, location)

    def _exchange(self, method: str, scheme: str, netloc: str, target: str,
                  headers: dict[str, str], body: Body, fresh: bool) -> Reply:
        what = f"{self.domain}: {method} {scheme}://{netloc}{target.split('?', 1)[0]}"
        replayable = body is None or isinstance(body, bytes)
        for attempt in (1, 2):
            conn = self._connection(scheme, netloc, fresh)
            reused = conn.sock is not None
            try:
                conn.request(method, target, body=body, headers=headers)
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                # A kept-alive connection the server has meanwhile closed fails on
                # first use: one retry on a new connection, if the body allows.
                if attempt == 1 and reused and replayable:
                    continue
                raise TransportError(f"{what}: {_error_text(exc)}") from None
            return Reply(conn, response, f"{scheme}://{netloc}{target}", what)
        raise AssertionError("unreachable")

    # -- connections ---------------------------------------------------------------------

    def _connection(self, scheme: str, netloc: str,
                    fresh: bool = False) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str], http.client.HTTPConnection] | None
        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        key = (scheme, netloc)
        conn = pool.get(key)
        if conn is not None and fresh:
            conn.close()
        if conn is None:
            conn = self._new(scheme, netloc)
            pool[key] = conn
            with self._lock:
                self._open.add(conn)
        return conn

    def _new(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        if scheme == "http":
            return http.client.HTTPConnection(netloc, timeout=self.timeout)
        context = self._context(verify=not self.is_insecure(netloc))
        return http.client.HTTPSConnection(netloc, timeout=self.timeout, context=context)

    def _context(self, verify: bool) -> ssl.SSLContext:
        context = self._contexts.get(verify)
        if context is None:
            context = ssl.create_default_context()
            if not verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._contexts[verify] = context
        return context

    def _probe(self) -> str:
        """An insecure registry: HTTPS if it answers TLS at all, else plain HTTP."""
        tls = self._connection("https", self.host)
        try:
            tls.connect()
            return "https"
        except OSError as exc:  # ssl.SSLError is an OSError
            tls.close()
            tls_error = _error_text(exc)
        plain = self._connection("http", self.host)
        try:
            plain.connect()
        except OSError as exc:
            plain.close()
            raise TransportError(f"{self.domain}: cannot connect: {_error_text(exc)} "
                                 f"(HTTPS: {tls_error})") from None
        return "http"

    def close(self) -> None:
        with self._lock:
            conns, self._open = self._open, set()
        for conn in conns:
            conn.close()
        self._local = threading.local()
