"""An in-process fake OCI registry for tests of the registry client, pull and push.

    with FakeRegistry() as reg:                       # plain HTTP on 127.0.0.1:<port>
        digest = reg.add_image("library/busybox", "latest", [layer_tgz])
        client = Registry(reg.domain)                 # loopback: plain HTTP is allowed
        ...
        assert not reg.requests_to("blobs")[0].header("Authorization")

It serves manifests (by tag and by digest) and blobs from dicts, accepts uploads
(POST, PATCH, PUT, cross-repository mounts) and manifest PUTs, and records every
request it gets (``requests``: server, method, path, headers, body and the
client's address, one per connection) for assertions.

Three servers, each a ``ThreadingHTTPServer`` thread speaking HTTP/1.1 keep-alive:

* ``registry`` -- the ``/v2/`` API, on ``host`` (plain HTTP, or TLS with ``tls=``);
* ``token`` -- the bearer token endpoint ``/token``: on the registry's own server,
  or on its own server at ``token_host`` (e.g. ``127.0.0.2``: another host);
  its requests are recorded as the ``token`` server's either way;
* ``blobs`` -- where ``redirect_blobs`` sends blob GETs (``blob_host``, own port).

Switches (plain attributes; set them at any time):

``auth``                 None, ``"basic"`` or ``"bearer"``
``users``                username -> password accepted by both
``anonymous_pull``       bearer: tokens without credentials may pull (default True)
``token_field``          ``"token"`` or ``"access_token"`` in token answers
``token_expires_in``     ``expires_in`` of token answers (None: left out)
``redirect_blobs``       blob GET/HEAD -> 307 to the ``blobs`` server
``drop_after``           the next blob GET sends this many bytes, then hangs up (once)
``fail_blob_gets``       the next N blob GETs answer 503
``ignore_range``         blob GETs answer 200 with everything, whatever the Range
``corrupt_blobs``        one byte of every served blob is flipped
``wrong_manifest_digest``  manifests asked for by digest come with one byte more
``huge_manifest``        serve every manifest GET as this many bytes instead
``huge_with_length``     ... with Content-Length (True) or streamed until we hang up
``manifest_content_type``  Content-Type of manifest answers, whatever was stored
``strict_accept``        like distribution 2.8: a type missing from Accept -> 404
``absolute_location``    upload Locations are absolute URLs (default: relative)
``mount_allowed``        cross-repository mounts succeed when the source has the blob
``drop_keepalive``       hang up after each answer without saying so (stale keep-alive)
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.unit.registry.fakeserver import Handler, Request, Site

__all__ = ["OCI_CONFIG", "OCI_LAYER_GZIP", "OCI_MANIFEST", "FakeRegistry", "Request", "sha256"]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FakeRegistry:
    """A registry serving what tests put in it; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", *, token_host: str | None = None,
                 blob_host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        self.auth: str | None = None
        self.users: dict[str, str] = {}
        self.anonymous_pull = True
        self.token_field = "token"
        self.token_expires_in: int | None = None
        self.redirect_blobs = False
        self.drop_after: int | None = None
        self.fail_blob_gets = 0
        self.ignore_range = False
        self.corrupt_blobs = False
        self.wrong_manifest_digest = False
        self.huge_manifest: int | None = None
        self.huge_with_length = True
        self.huge_bytes_sent = 0
        self.manifest_content_type: str | None = None
        self.strict_accept = True
        self.absolute_location = False
        self.mount_allowed = True
        self.drop_keepalive = False

        self.manifests: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.blobs: dict[str, bytes] = {}
        self.repo_blobs: dict[str, set[str]] = {}
        self.uploads: dict[str, tuple[str, bytearray]] = {}
        self.tokens: dict[str, set[str]] = {}  # token -> granted "repo:action" ("" for any)
        self.requests: list[Request] = []
        self.lock = threading.Lock()

        self._sites: list[Site] = []
        self.registry = self._site("registry", host, tls)
        self.token = self._site("token", token_host) if token_host else self.registry
        self.blob_server = self._site("blobs", blob_host)

    def _site(self, name: str, host: str, tls: ssl.SSLContext | None = None) -> Site:
        site = Site(self, name, host, tls)
        self._sites.append(site)
        return site

    # -- what tests use ----------------------------------------------------------------

    @property
    def domain(self) -> str:
        return self.registry.netloc

    @property
    def token_url(self) -> str:
        return f"{self.token.url}/token"

    def __enter__(self) -> FakeRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for site in self._sites:
            site.close()

    def add_blob(self, repo: str, data: bytes) -> str:
        digest = sha256(data)
        with self.lock:
            self.blobs[digest] = data
            self.repo_blobs.setdefault(repo, set()).add(digest)
        return digest

    def add_manifest(self, repo: str, data: bytes, media_type: str, *tags: str) -> str:
        digest = sha256(data)
        with self.lock:
            for ref in (digest, *tags):
                self.manifests[(repo, ref)] = (data, media_type)
        return digest

    def add_image(self, repo: str, tag: str, layers: list[bytes],
                  config: bytes | None = None) -> str:
        """An OCI image of these layer blobs; the manifest digest."""
        config = config or json.dumps({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(b) for b in layers]},
        }).encode()
        manifest = {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": self.add_blob(repo, config),
                       "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": self.add_blob(repo, b),
                        "size": len(b)} for b in layers],
        }
        return self.add_manifest(repo, json.dumps(manifest).encode(), OCI_MANIFEST, tag)

    def requests_to(self, server: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.server == server]

    # -- dispatch ----------------------------------------------------------------------

    def _handle(self, h: Handler, server: str) -> None:
        # Bodies are read first, whatever the answer: the connection stays in step.
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in h.headers.items()}
        path = urlsplit(h.path).path
        is_token = path == "/token" and self.token.name == server
        # Token requests are recorded as the "token" server's, wherever it runs.
        req = Request("token" if is_token else server, h.command, h.path, headers, body)
        req.peer = h.client_address[:2]
        with self.lock:
            self.requests.append(req)
        if server == "blobs":
            return self._serve_blob(h, h.path.rsplit("/", 1)[-1], redirect=False)
        if is_token:
            return self._token(h, req)
        if server != "registry" or not path.startswith("/v2/"):
            return self._send(h, 404, _errors("NOT_FOUND", "no such endpoint"))
        if path == "/v2/":
            if not self._authorized(h, req, None, "pull"):
                return None
            return self._send(h, 200, b"{}", {"Content-Type": "application/json"})
        for marker, route in (("/manifests/", self._manifest), ("/blobs/uploads/", self._upload),
                              ("/blobs/", self._blob)):
            repo, found, rest = path[len("/v2/"):].rpartition(marker)
            if found:
                action = "pull" if h.command in ("GET", "HEAD") else "push"
                if self._authorized(h, req, repo, action):
                    route(h, req, repo, rest)
                return None
        return self._send(h, 404, _errors("NAME_UNKNOWN", "no such route"))

    # -- auth --------------------------------------------------------------------------

    def _user(self, req: Request) -> str | None:
        """The user of a valid Basic header; "" when there is none; None when wrong."""
        value = req.header("Authorization") or ""
        if not value.startswith("Basic "):
            return ""
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user if self.users.get(user) == password and user else None

    def _authorized(self, h: Handler, req: Request, repo: str | None, action: str) -> bool:
        if self.auth is None:
            return True
        value = req.header("Authorization") or ""
        if self.auth == "basic":
            if value.startswith("Basic ") and self._user(req):
                return True
            self._send(h, 401, _errors("UNAUTHORIZED", "authentication required"),
                       {"WWW-Authenticate": 'Basic realm="fake registry"'})
            return False
        with self.lock:
            granted = self.tokens.get(value[7:], set()) if value.startswith("Bearer ") else None
        need = "" if repo is None else f"{repo}:{action}"
        if granted is not None and (need == "" or need in granted):
            return True
        scope = f',scope="repository:{repo}:{"pull,push" if action == "push" else "pull"}"'
        challenge = f'Bearer realm="{self.token_url}",service="fake-registry"'
        self._send(h, 401, _errors("UNAUTHORIZED", "authentication required"),
                   {"WWW-Authenticate": challenge + (scope if repo else "")})
        return False

    def _token(self, h: Handler, req: Request) -> None:
        user = self._user(req)
        if user is None:
            return self._send(h, 401, _errors("UNAUTHORIZED", "incorrect username or password"))
        query = parse_qs(urlsplit(h.path).query)
        granted: set[str] = set()
        for scope in query.get("scope", []):
            kind, _, rest = scope.partition(":")
            repo, _, actions = rest.rpartition(":")
            if kind != "repository":
                continue
            for action in actions.split(","):
                if user or (action == "pull" and self.anonymous_pull):
                    granted.add(f"{repo}:{action}")
        token = secrets.token_hex(16)
        with self.lock:
            self.tokens[token] = granted
        answer: dict[str, Any] = {self.token_field: token}
        if self.token_expires_in is not None:
            answer["expires_in"] = self.token_expires_in
        return self._send(h, 200, json.dumps(answer).encode(),
                          {"Content-Type": "application/json"})

    # -- manifests ---------------------------------------------------------------------

    def _manifest(self, h: Handler, req: Request, repo: str, ref: str) -> None:
        if h.command == "PUT":
            data = req.body
            digest = self.add_manifest(repo, data, req.header("Content-Type") or "", ref)
            return self._send(h, 201, b"", {"Docker-Content-Digest": digest,
                                            "Location": f"/v2/{repo}/manifests/{digest}"})
        if self.huge_manifest is not None:
            return self._huge(h)
        with self.lock:
            found = self.manifests.get((repo, ref))
        accept = [t.strip() for t in (req.header("Accept") or "").split(",")]
        if found is None or (self.strict_accept and found[1] not in accept):
            return self._send(h, 404, _errors("MANIFEST_UNKNOWN", "manifest unknown"))
        data, media_type = found
        if self.wrong_manifest_digest and ref.startswith("sha256:"):
            data += b" "
        return self._send(h, 200, data, {
            "Content-Type": self.manifest_content_type or media_type,
            "Docker-Content-Digest": sha256(data)})

    def _huge(self, h: Handler) -> None:
        size = self.huge_manifest or 0
        if self.huge_with_length:
            return self._send(h, 200, b"{" + b" " * (size - 2) + b"}",
                              {"Content-Type": OCI_MANIFEST})
        h.send_response(200)
        h.send_header("Content-Type", OCI_MANIFEST)
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        piece = b" " * (64 << 10)
        try:
            while self.huge_bytes_sent < size:
                h.wfile.write(piece)
                self.huge_bytes_sent += len(piece)
        except OSError:
            pass  # the client hung up: what the tests want

    # -- blobs -------------------------------------------------------------------------

    def _blob(self, h: Handler, req: Request, repo: str, digest: str) -> None:
        with self.lock:
            known = digest in self.repo_blobs.get(repo, set())
        if not known:
            return self._send(h, 404, _errors("BLOB_UNKNOWN", "blob unknown to registry"))
        return self._serve_blob(h, digest, redirect=self.redirect_blobs)

    def _serve_blob(self, h: Handler, digest: str, redirect: bool) -> None:
        if redirect:
            return self._send(h, 307, b"", {"Location": f"{self.blob_server.url}/blobs/{digest}"})
        with self.lock:
            data = self.blobs.get(digest)
            fail = h.command == "GET" and self.fail_blob_gets > 0
            if fail:
                self.fail_blob_gets -= 1
        if data is None:
            return self._send(h, 404, _errors("BLOB_UNKNOWN", "blob unknown"))
        if fail:
            return self._send(h, 503, _errors("UNAVAILABLE", "try again"))
        if self.corrupt_blobs and data:
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]
        status, headers = 200, {"Content-Type": "application/octet-stream"}
        wanted = h.headers.get("Range", "")
        if wanted.startswith("bytes=") and not self.ignore_range:
            start = int(wanted[6:].split("-", 1)[0])
            if start >= len(data):
                return self._send(h, 416, b"", {"Content-Range": f"bytes */{len(data)}"})
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            status, data = 206, data[start:]
        drop = None
        if h.command == "GET":
            with self.lock:
                drop, self.drop_after = self.drop_after, None
        if drop is None:
            return self._send(h, status, data, headers)
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data[:drop])
        h.wfile.flush()
        h.close_connection = True
        return None

    # -- uploads -----------------------------------------------------------------------

    def _upload(self, h: Handler, req: Request, repo: str, session: str) -> None:
        query = parse_qs(urlsplit(h.path).query)
        if h.command == "POST":
            return self._start_upload(h, req, repo, query)
        with self.lock:
            upload = self.uploads.get(session)
        if upload is None or upload[0] != repo:
            return self._send(h, 404, _errors("BLOB_UPLOAD_UNKNOWN", "upload unknown"))
        buffer = upload[1]
        if h.command == "DELETE":
            with self.lock:
                self.uploads.pop(session, None)
            return self._send(h, 204)
        data = req.body
        if h.command == "PATCH":
            start = (req.header("Content-Range") or f"{len(buffer)}-").split("-", 1)[0]
            if int(start) != len(buffer):
                return self._send(h, 416, _errors("BLOB_UPLOAD_INVALID", "bad range"))
            buffer += data
            return self._send(h, 202, b"", {"Location": self._session_url(repo, session),
                                             "Range": f"0-{len(buffer) - 1}"})
        buffer += data
        digest = query.get("digest", [""])[0]
        if sha256(bytes(buffer)) != digest:
            return self._send(h, 400, _errors("DIGEST_INVALID", "digest does not match"))
        self.add_blob(repo, bytes(buffer))
        with self.lock:
            self.uploads.pop(session, None)
        return self._send(h, 201, b"", {"Docker-Content-Digest": digest,
                                        "Location": f"/v2/{repo}/blobs/{digest}"})

    def _start_upload(self, h: Handler, req: Request, repo: str,
                      query: dict[str, list[str]]) -> None:
        digest, source = query.get("mount", [""])[0], query.get("from", [""])[0]
        if digest and self.mount_allowed:
            token = (req.header("Authorization") or "")[7:]
            with self.lock:
                may_read = self.auth != "bearer" or f"{source}:pull" in self.tokens.get(token, ())
                has = digest in self.repo_blobs.get(source, set())
                if may_read and has:
                    self.repo_blobs.setdefault(repo, set()).add(digest)
            if may_read and has:
                return self._send(h, 201, b"", {"Docker-Content-Digest": digest,
                                                "Location": f"/v2/{repo}/blobs/{digest}"})
        session = secrets.token_hex(8)
        with self.lock:
            self.uploads[session] = (repo, bytearray())
        return self._send(h, 202, b"", {"Location": self._session_url(repo, session),
                                        "Range": "0-0", "Docker-Upload-UUID": session})

    def _session_url(self, repo: str, session: str) -> str:
        # A query of its own, as distribution's _state: the client must add with "&".
        path = f"/v2/{repo}/blobs/uploads/{session}?_state=s{session}"
        return self.registry.url + path if self.absolute_location else path

    # -- plumbing ----------------------------------------------------------------------

    def _send(self, h: Handler, status: int, body: bytes = b"",
              headers: dict[str, str] | None = None) -> None:
        h.send_response(status)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD" and body:
            h.wfile.write(body)
        if self.drop_keepalive:
            h.close_connection = True


def _errors(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()
