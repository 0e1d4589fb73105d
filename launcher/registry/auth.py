"""Registry authentication: ``WWW-Authenticate`` challenges, bearer tokens, Basic.

The flow (distribution's token authentication): a request answered 401
carries a challenge. ``Basic realm=...`` wants the credentials on every
request. ``Bearer realm="https://auth.example.com/token",service="..."``
wants a token from the realm: ``GET realm?service=S&scope=repository:R:pull``
(with Basic credentials when we have them and may send them there), answered
``{"token": ...}`` or ``{"access_token": ...}`` plus ``expires_in`` (default
60 s). Tokens are cached per scope set; once the challenge is known, a request
for a new scope fetches its token up front instead of taking another 401.

Where credentials may go -- nowhere else:

* to the registry itself: over HTTPS, or over plain HTTP when the registry is
  loopback or explicitly insecure (registries.toml, ``--tls-verify=false``;
  Docker sends credentials to insecure registries too). The transport reaches
  no other registry over plain HTTP, so nothing else can happen.
* to a token realm, as a Basic header, only if the realm is HTTPS (or plain
  HTTP to a loopback or explicitly insecure host) *and* the realm's host is the
  registry's host or on its site: the same last two DNS labels
  (``registry-1.docker.io`` and ``auth.docker.io``; three under country
  second-level domains such as ``co.uk``); IP addresses must match exactly.
  Any other realm is asked for an anonymous token.
* never to a redirect target or an upload ``Location`` on another origin
  (the transport drops ``Authorization`` there).

One lock guards the challenge and the token cache; it is held while a token
is fetched, so parallel layer downloads share one token request.
"""

from __future__ import annotations

import base64
import threading
import time
from urllib.parse import urlencode, urlsplit

from launcher import fastjson
from launcher.errors import AuthError, RegistryError
from launcher.registry.config import ip_of, split_host
from launcher.registry.transport import Transport, error_message, one_line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

TOKEN_MAX = 1 << 20
DEFAULT_EXPIRY = 60.0
EXPIRY_MARGIN = 5.0  # renew a little early: the request carrying it takes time too
_SECOND_LEVEL = frozenset(("co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go"))


class Challenge:
    """One ``WWW-Authenticate`` challenge: scheme (lowercase) and its parameters."""

    __slots__ = ("params", "scheme")

    def __init__(self, scheme: str, params: dict[str, str]) -> None:
        self.scheme = scheme
        self.params = params

    def __repr__(self) -> str:
        return f"Challenge({self.scheme!r}, {self.params!r})"


def parse_challenges(values: list[str]) -> list[Challenge]:
    """Every challenge in the given header values. Parameter values may be
    quoted, with commas and backslash escapes inside the quotes."""
    out: list[Challenge] = []
    for value in values:
        i, n = 0, len(value)
        current: Challenge | None = None
        while i < n:
            while i < n and value[i] in " \t,":
                i += 1
            j = i
            while j < n and value[j] not in " \t,=":
                j += 1
            if j == i:
                if i >= n:
                    break
                i += 1  # a stray "=": skip it
                continue
            token = value[i:j]
            k = j
            while k < n and value[k] in " \t":
                k += 1
            if k < n and value[k] == "=" and current is not None:
                param, i = _param_value(value, k + 1)
                current.params[token.lower()] = param
            else:
                current = Challenge(token.lower(), {})
                out.append(current)
                i = j
    return out


def _param_value(text: str, i: int) -> tuple[str, int]:
    n = len(text)
    while i < n and text[i] in " \t":
        i += 1
    if i < n and text[i] == '"':
        chars: list[str] = []
        i += 1
        while i < n and text[i] != '"':
            if text[i] == "\\" and i + 1 < n:
                i += 1
            chars.append(text[i])
            i += 1
        return "".join(chars), i + 1
    j = i
    while j < n and text[j] != ",":
        j += 1
    return text[i:j].strip(), j


def _site(host: str) -> str:
    labels = host.rstrip(".").split(".")
    keep = 2
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        keep = 3
    return ".".join(labels[-keep:])


def same_site(host: str, registry_host: str) -> bool:
    """Is ``host`` the registry's host, or on its site? IP addresses: only exactly."""
    host, registry_host = host.lower(), registry_host.lower()
    if host == registry_host:
        return True
    if ip_of(host) is not None or ip_of(registry_host) is not None:
        return False
    if "." not in host or "." not in registry_host:
        return False
    return _site(host) == _site(registry_host)


class Authenticator:
    """Authorization headers for one registry; see the module docstring."""

    __slots__ = ("_challenge", "_lock", "_tokens", "clock", "credentials", "refused_realm",
                 "transport")

    def __init__(self, transport: Transport, credentials: tuple[str, str] | None) -> None:
        self.transport = transport
        self.credentials = credentials
        self.clock: Callable[[], float] = time.monotonic  # a seam for tests of expiry
        self.refused_realm: str | None = None  # a realm our credentials were kept from
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def header(self, scopes: tuple[str, ...]) -> str | None:
        """The Authorization header for a request needing ``scopes``, if any is known."""
        with self._lock:
            challenge = self._challenge
            if challenge is None:
                return None
            if challenge.scheme == "basic":
                return self._basic()
            cached = self._tokens.get(scopes)
            if cached is not None and cached[1] > self.clock():
                return cached[0]
            return self._fetch_token(challenge, scopes)

    def challenged(self, values: list[str], scopes: tuple[str, ...],
                   sent: str | None) -> str | None:
        """After a 401 with these ``WWW-Authenticate`` values: a new header to retry
        with, or None when there is nothing new to try (the caller fails)."""
        found = parse_challenges(values)
        challenge = next((c for c in found if c.scheme == "bearer" and c.params.get("realm")),
                         None) or next((c for c in found if c.scheme == "basic"), None)
        if challenge is None:
            return None
        with self._lock:
            self._challenge = challenge
            if challenge.scheme == "basic":
                header = self._basic()
            else:
                cached = self._tokens.get(scopes)
                if cached is not None and cached[0] != sent and cached[1] > self.clock():
                    header = cached[0]  # another thread got one meanwhile
                else:
                    header = self._fetch_token(challenge, scopes)
        return header if header != sent else None

    def failure(self, message: str) -> AuthError:
        """The error for a final 401; ``message`` is the registry's, possibly empty."""
        domain = self.transport.domain
        if self.credentials is None:
            return AuthError(f"{domain}: authentication required"
                             + (f": {message}" if message else ""))
        if self.refused_realm:
            return AuthError(f"{domain}: authentication required; credentials were not "
                             f"sent to the token server {self.refused_realm} (another site)")
        return AuthError(f"{domain}: unauthorized: "
                         + (message or "incorrect username or password"))

    def _basic(self) -> str | None:
        if self.credentials is None:
            return None
        user, password = self.credentials
        raw = f"{user}:{password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def may_send_credentials(self, url: str) -> bool:
        """The realm rule of the module docstring."""
        parts = urlsplit(url)
        host, _ = split_host(parts.netloc)
        secure = parts.scheme == "https" or self.transport.is_insecure(parts.netloc)
        registry_host, _ = split_host(self.transport.host)
        return secure and same_site(host, registry_host)

    def _fetch_token(self, challenge: Challenge, scopes: tuple[str, ...]) -> str:
        realm = challenge.params.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RegistryError(f"{self.transport.domain}: invalid token realm "
                                f"{one_line(realm, 100)!r}")
        query: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            query.append(("service", challenge.params["service"]))
        wanted = scopes or ((challenge.params["scope"],) if challenge.params.get("scope")
                            else ())
        query += [("scope", scope) for scope in wanted]
        url = (realm + ("&" if parts.query else "?") + urlencode(query)) if query else realm
        headers: dict[str, str] = {"Accept": "application/json"}
        basic = self._basic()
        if basic is not None:
            if self.may_send_credentials(realm):
                headers["Authorization"] = basic
            else:
                self.refused_realm = parts.netloc
        reply = self.transport.send("GET", url, headers, redirects=3,
                                    auth_origin=(parts.scheme, parts.netloc))
        where = f"{self.transport.domain}: token server {parts.netloc}"
        if reply.status != 200:
            message = error_message(reply.drain())
            if reply.status == 401 and "Authorization" in headers:
                raise AuthError(f"{self.transport.domain}: unauthorized: "
                                + (message or "incorrect username or password"))
            raise RegistryError(f"{where}: HTTP {reply.status}"
                                + (f": {message}" if message else ""))
        token, expires = _parse_token(reply.body(TOKEN_MAX, where), where)
        header = f"Bearer {token}"
        self._tokens[scopes] = (header, self.clock() + max(expires - EXPIRY_MARGIN, 0.0))
        return header


def _parse_token(data: bytes, where: str) -> tuple[str, float]:
    try:
        doc = fastjson.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise RegistryError(f"{where}: answer is not JSON") from None
    if type(doc) is not dict:
        raise RegistryError(f"{where}: answer is not a JSON object")
    token = doc.get("token") or doc.get("access_token")
    # A header value: printable ASCII without spaces (no header injection).
    if type(token) is not str or not token or not all("!" <= c <= "~" for c in token):
        raise RegistryError(f"{where}: answer has no usable token")
    expires = doc.get("expires_in")
    if isinstance(expires, int | float) and not isinstance(expires, bool) and expires > 0:
        return token, float(expires)
    return token, DEFAULT_EXPIRY
