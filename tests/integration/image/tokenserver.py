"""A tiny Docker token service for integration tests (loopback only).

It speaks the token protocol that distribution's ``auth: token`` challenges
point clients at::

    GET  /token?service=S&scope=repository:NAME:pull,push   [Authorization: Basic ...]
    POST /token  (OAuth2 form: grant_type=password, username, password, service, scope)

and answers ``{"token": JWT, "access_token": JWT, "expires_in": N, "issued_at": ...}``.

What distribution 2.8.2 insists on (found by experiment; the last two are
checked in ``test_registry_infra_root.py``): the JWT header carries ``x5c`` (the base64 DER
leaf certificate, verified against ``rootcertbundle``, which is that self-signed
certificate's PEM) and ``alg`` ES256 with a raw ``r||s`` signature; the claims'
``iss`` must equal the configured issuer and ``aud`` the configured service; every
action the registry checks must appear in ``access`` (else 401 with
``error="insufficient_scope"``); ``exp`` gets 60 s of leeway on the registry side,
so a token expired less than a minute ago is still accepted.

Every request is recorded (:class:`TokenRequest`) so tests can assert where
credentials were sent and which scopes were asked for.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

ISSUER = "launcher-test-token-issuer"
SERVICE = "launcher-test-registry"
KNOWN_ACTIONS = frozenset({"pull", "push", "delete", "*"})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenRequest:
    """One request the token server saw."""

    __slots__ = ("auth_present", "client", "host", "method", "path", "query", "scopes", "user")

    def __init__(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        auth_present: bool,
        user: str | None,
        host: str,
        client: str,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        # True when an Authorization header (or a password grant) came with the request,
        # whether or not the credentials were right.
        self.auth_present = auth_present
        # The user whose credentials checked out; None for anonymous or rejected ones.
        self.user = user
        self.host = host  # the Host header the client sent
        self.client = client  # the peer address
        self.scopes = query.get("scope", [])

    def __repr__(self) -> str:
        return (
            f"TokenRequest({self.method} {self.path} scopes={self.scopes} "
            f"auth_present={self.auth_present} user={self.user!r} host={self.host!r})"
        )


class Scope:
    """``type:name:action,action`` (the name may itself contain ``:``, e.g. a port)."""

    __slots__ = ("actions", "name", "type")

    def __init__(self, type_: str, name: str, actions: list[str]) -> None:
        self.type, self.name, self.actions = type_, name, actions

    @classmethod
    def parse(cls, text: str) -> Scope | None:
        head, sep, actions = text.rpartition(":")
        type_, sep2, name = head.partition(":")
        if not sep or not sep2 or not type_ or not name:
            return None
        return cls(type_, name, [a for a in actions.split(",") if a])


class TokenServer:
    """An ES256 JWT token issuer on ``address`` (default 127.0.0.1), port chosen by the OS.

    ``users`` maps user name to password. Anonymous requests get a token granting
    ``pull`` when ``anonymous_pull`` is true, otherwise a token granting nothing
    (so the registry answers 401 insufficient_scope). Wrong credentials get 401.
    ``grants`` may limit what a user may do (``{"bob": {"pull"}}``); by default a
    known user gets every requested action. Use as a context manager or call
    :meth:`start`/:meth:`stop`.
    """

    def __init__(
        self,
        users: dict[str, str] | None = None,
        *,
        address: str = "127.0.0.1",
        anonymous_pull: bool = False,
        grants: dict[str, set[str]] | None = None,
        expires_in: int = 300,
        issuer: str = ISSUER,
        service: str = SERVICE,
    ) -> None:
        self.users = dict(users or {})
        self.address = address
        self.anonymous_pull = anonymous_pull
        self.grants = grants or {}
        self.expires_in = expires_in
        self.issuer = issuer
        self.service = service
        self.requests: list[TokenRequest] = []
        self._lock = threading.Lock()
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._cert = _self_signed(self._key)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> TokenServer:
        handler = type("_BoundHandler", (_Handler,), {"token_server": self})
        self._httpd = ThreadingHTTPServer((self.address, 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="token-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what tests use ----------------------------------------------------------------

    @property
    def host(self) -> str:
        """``ADDRESS:PORT``."""
        if self._httpd is None:
            raise RuntimeError("token server is not running")
        return f"{self.address}:{self._httpd.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def realm(self) -> str:
        """The realm to put in the registry's challenge."""
        return f"{self.url}/token"

    @property
    def cert_pem(self) -> bytes:
        """The signing certificate, for the registry's ``rootcertbundle``."""
        return self._cert.public_bytes(serialization.Encoding.PEM)

    def write_cert_bundle(self, path: str) -> str:
        with open(path, "wb") as f:
            f.write(self.cert_pem)
        return path

    def seen(self) -> list[TokenRequest]:
        """A copy of the requests recorded so far."""
        with self._lock:
            return list(self.requests)

    def clear(self) -> None:
        """Forget recorded requests (the fixture is session-wide; tests call this first)."""
        with self._lock:
            self.requests.clear()

    def issue(self, subject: str, access: list[dict[str, object]]) -> str:
        """A signed JWT for ``subject`` granting ``access`` (also handy to forge one in tests)."""
        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode()],
        }
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + self.expires_in,
            "nbf": now - 10,
            "iat": now,
            "jti": _b64url(os.urandom(12)),
            "access": access,
        }
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        der = self._key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        # JWS wants the raw 64-byte r||s form, not DER.
        return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    # -- request handling (called from the handler thread) ---------------------------

    def _record(self, req: TokenRequest) -> None:
        with self._lock:
            self.requests.append(req)

    def _check_user(self, user: str, password: str) -> bool:
        known = self.users.get(user)
        return known is not None and known == password

    def _access(self, user: str | None, scopes: Iterable[str]) -> list[dict[str, object]]:
        if user is None:
            allowed: set[str] = {"pull"} if self.anonymous_pull else set()
        else:
            allowed = self.grants.get(user, set(KNOWN_ACTIONS))
        access: list[dict[str, object]] = []
        for text in scopes:
            scope = Scope.parse(text)
            if scope is None:
                continue
            granted = [a for a in scope.actions if a in allowed]
            access.append({"type": scope.type, "name": scope.name, "actions": granted})
        return access


class _Handler(BaseHTTPRequestHandler):
    token_server: TokenServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep pytest output clean; requests are recorded instead

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        header = self.headers.get("Authorization")
        user, ok = self._basic_user(header)
        self._answer(url.path, query, header is not None, user, ok)

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        # OAuth2 sends the scopes space-separated in one field.
        form["scope"] = [s for field in form.get("scope", []) for s in field.split(" ") if s]
        ts = self.token_server
        name = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
        present = form.get("grant_type", [""])[0] == "password"
        ok = not present or ts._check_user(name, password)
        self._answer(url.path, form, present, name if present and ok else None, ok)

    def _basic_user(self, header: str | None) -> tuple[str | None, bool]:
        """(user, credentials_ok): anonymous is (None, True)."""
        if header is None:
            return None, True
        kind, _, value = header.partition(" ")
        if kind.lower() != "basic":
            return None, False
        try:
            user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None, False
        if self.token_server._check_user(user, password):
            return user, True
        return None, False

    def _answer(
        self,
        path: str,
        query: dict[str, list[str]],
        auth_present: bool,
        user: str | None,
        ok: bool,
    ) -> None:
        ts = self.token_server
        ts._record(
            TokenRequest(
                self.command,
                path,
                query,
                auth_present,
                user,
                self.headers.get("Host", ""),
                self.client_address[0],
            )
        )
        if path != "/token":
            self._send(404, {"errors": [{"code": "NOT_FOUND", "message": path}]})
        elif not ok:
            self._send(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
        elif query.get("service", [ts.service])[0] != ts.service:
            self._send(400, {"errors": [{"code": "DENIED", "message": "unknown service"}]})
        else:
            token = ts.issue(user or "", ts._access(user, query.get("scope", [])))
            issued = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            body = {
                "token": token,
                "access_token": token,
                "expires_in": ts.expires_in,
                "issued_at": issued,
            }
            self._send(200, body)

    def _send(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="launcher-test-token"')
        self.end_headers()
        self.wfile.write(data)


def _self_signed(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "launcher test token signer")])
    now = datetime.datetime.now(datetime.UTC)
    serial = int.from_bytes(hashlib.sha256(os.urandom(16)).digest()[:16], "big") >> 1
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
