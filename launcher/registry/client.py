"""``Registry``: the OCI distribution API of one registry -- manifests and blobs.

Every request goes through ``_request``: the Authorization header known for its
scopes (``auth``), the transport's origin and TLS rules (``transport``), and
one retry after a 401 with whatever the challenge asks for. Errors are one
line and name the registry and what was asked: ``NotFoundError`` for an
unknown manifest or blob, ``AuthError`` for 401/403, ``RegistryError`` for
the rest (``TransportError``, a subclass, when the network failed).

What this module checks, and what it leaves to its callers:

* A manifest is capped at 4 MiB *while* it is read; fetched by digest, its
  bytes must hash to that digest, and by tag to the ``Docker-Content-Digest``
  the registry names, if it names one; its media type (``Content-Type``, else the
  body's ``mediaType``) must not contradict the body (type confusion).
* A blob is streamed as it comes and never beyond its expected size; its digest
  is the caller's to verify (the store's ``BlobWriter`` does, while writing).
"""

from __future__ import annotations

import time
from urllib.parse import urlencode, urljoin

from launcher.errors import AuthError, LauncherError, NotFoundError, RegistryError, UsageError
from launcher.image import digest as dg
from launcher.registry import mediatypes as mt
from launcher.registry.auth import Authenticator
from launcher.registry.blobio import REDIRECTS, Download, read_exact, stream
from launcher.registry.config import RegistryConfig
from launcher.registry.manifests import GENERIC_TYPES, MANIFEST_MAX, Manifest, media_type
from launcher.registry.transport import Reply, Transport, TransportError, error_message

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from launcher.registry.transport import Body

__all__ = ["Manifest", "Registry"]

BACKOFF = (0.5, 1.0, 2.0)
OCTETS = "application/octet-stream"
SCHEMA1_PREFIX = "application/vnd.docker.distribution.manifest.v1"
_REPO_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-/")
_TAG_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def _check_repo(repo: str) -> None:
    """Repository paths go into URLs: lowercase components, nothing else."""
    parts = repo.split("/")
    if not _REPO_CHARS.issuperset(repo) or any(p in ("", ".", "..") for p in parts):
        raise UsageError(f"invalid repository name {repo!r}")


def _check_ref(ref: str) -> None:
    if dg.is_valid(ref):
        return
    if not (0 < len(ref) <= 128 and _TAG_CHARS.issuperset(ref) and ref[0] not in ".-"):
        raise UsageError(f"invalid tag or digest {ref!r}")


def _pull(repo: str) -> tuple[str, ...]:
    return (f"repository:{repo}:pull",)


def _push(repo: str) -> tuple[str, ...]:
    return (f"repository:{repo}:pull,push",)


def _with_digest(url: str, digest: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode({"digest": digest})


class Registry:
    """A client for one registry (``domain`` as in references: ``docker.io``,
    ``localhost:5000``). Safe to share between threads; ``close`` when done."""

    __slots__ = ("_auth", "_transport", "backoff", "domain", "sleep")

    def __init__(self, domain: str, *, credentials: tuple[str, str] | None = None,
                 tls_verify: bool | None = None, config: RegistryConfig | None = None,
                 timeout: float = 60.0) -> None:
        self.domain = domain
        self._transport = Transport(domain, tls_verify=tls_verify,
                                    config=config or RegistryConfig(), timeout=timeout)
        self._auth = Authenticator(self._transport, credentials)
        # Seams: the pause before each download retry (tests make them free).
        self.backoff: tuple[float, ...] = BACKOFF
        self.sleep: Callable[[float], object] = time.sleep

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    # -- plumbing ------------------------------------------------------------------------

    def _request(self, method: str, url: str, scopes: tuple[str, ...],
                 headers: dict[str, str] | None = None, body: Body = None, *,
                 redirects: int = 0, fresh: bool = False) -> Reply:
        """A request with the auth dance: on 401 learn the challenge, retry once."""
        sent_headers = dict(headers or {})
        sent = self._auth.header(scopes)
        if sent:
            sent_headers["Authorization"] = sent
        reply = self._transport.send(method, url, sent_headers, body, redirects=redirects,
                                     fresh=fresh)
        if reply.status != 401:
            return reply
        values = reply.headers.get_all("WWW-Authenticate") or []
        message = error_message(reply.drain())
        replayable = body is None or isinstance(body, bytes)
        new = self._auth.challenged(values, scopes, sent) if replayable else None
        if new is None:
            raise self._auth.failure(message)
        sent_headers["Authorization"] = new
        reply = self._transport.send(method, url, sent_headers, body, redirects=redirects)
        if reply.status == 401:
            raise self._auth.failure(error_message(reply.drain()))
        return reply

    def _error(self, reply: Reply, what: str) -> RegistryError:
        """The error for an unexpected answer (its body read for a message)."""
        message = error_message(reply.drain())
        if reply.status == 403:
            return AuthError(f"{what}: denied: {message or 'access forbidden'}")
        text = f"{what}: HTTP {reply.status} {reply.response.reason}".rstrip()
        return RegistryError(text + (f": {message}" if message else ""))

    # -- API -----------------------------------------------------------------------------

    def ping(self) -> None:
        """Check that ``/v2/`` answers, authenticating as needed (``login``)."""
        reply = self._request("GET", "/v2/", ())
        if reply.status == 200:
            reply.drain()
            if self._auth.credentials is not None and self._auth.refused_realm:
                raise self._auth.failure("")
            return
        if reply.status == 404:
            reply.drain()
            raise RegistryError(f"{self.domain}: no registry API at /v2/ (HTTP 404)")
        raise self._error(reply, f"{self.domain}: /v2/")

    def get_manifest(self, repo: str, ref: str, accept: str = mt.ACCEPT) -> Manifest:
        """The manifest or index ``ref`` (a tag or a digest) of ``repo``."""
        _check_repo(repo)
        _check_ref(ref)
        where = self._name(repo, ref)
        reply = self._request("GET", f"/v2/{repo}/manifests/{ref}", _pull(repo),
                              {"Accept": accept}, redirects=REDIRECTS)
        if reply.status == 404:
            reply.drain()
            raise NotFoundError(f"manifest unknown: {where}")
        if reply.status != 200:
            raise self._error(reply, where)
        data = reply.body(MANIFEST_MAX, f"{where}: manifest")
        digest = dg.of_bytes(data)
        if dg.is_valid(ref) and digest != ref:
            raise RegistryError(f"{where}: the registry sent a manifest with digest {digest}")
        kind = media_type(reply.header("Content-Type"), data, where)
        # By tag, the registry's Docker-Content-Digest is the only name the bytes
        # have: refuse bytes that are not what it names (changed at rest or on
        # the way), as Docker and containerd do. Schema 1 digests name the
        # payload without its signatures; such manifests are refused later anyway.
        named = reply.header("Docker-Content-Digest").strip()
        if dg.is_valid(named) and named != digest and not kind.startswith(SCHEMA1_PREFIX):
            raise RegistryError(f"{where}: the registry names the manifest {named} but sent "
                                f"one with digest {digest}")
        return Manifest(data, kind, digest)

    def head_manifest(self, repo: str, ref: str) -> tuple[str, str, int] | None:
        """(digest, media type, size) of a manifest, or None if there is none."""
        _check_repo(repo)
        _check_ref(ref)
        where = self._name(repo, ref)
        reply = self._request("HEAD", f"/v2/{repo}/manifests/{ref}", _pull(repo),
                              {"Accept": mt.ACCEPT}, redirects=REDIRECTS)
        if reply.status == 404:
            reply.drain()
            return None
        if reply.status != 200:
            raise self._error(reply, where)
        reply.drain()
        digest = reply.header("Docker-Content-Digest")
        kind = reply.header("Content-Type").split(";", 1)[0].strip().lower()
        size = reply.length()
        if dg.is_valid(ref) and digest and digest != ref:
            raise RegistryError(f"{where}: the registry reports digest {digest}")
        if dg.is_valid(digest) and size is not None and kind not in GENERIC_TYPES:
            return digest, kind, size
        try:  # the headers do not tell: fetch it
            manifest = self.get_manifest(repo, ref)
        except NotFoundError:
            return None
        return manifest.digest, manifest.media_type, len(manifest.data)

    def blob_size(self, repo: str, digest: str) -> int | None:
        """The size of a blob in ``repo``, or None if it has none."""
        _check_repo(repo)
        dg.validate(digest, "blob digest")
        try:
            return self._blob_size(repo, digest, _pull(repo))
        except AuthError:
            # A repository that does not exist yet (a first push) may grant no
            # pull access at all; a pusher's token answers the question.
            if self._auth.credentials is None:
                raise
            return self._blob_size(repo, digest, _push(repo))

    def _blob_size(self, repo: str, digest: str, scopes: tuple[str, ...]) -> int | None:
        where = f"{self.domain}/{repo}@{digest}"
        reply = self._request("HEAD", f"/v2/{repo}/blobs/{digest}", scopes,
                              redirects=REDIRECTS)
        if reply.status == 404:
            reply.drain()
            return None
        if reply.status != 200:
            raise self._error(reply, where)
        reply.drain()
        size = reply.length()
        if size is None:
            raise RegistryError(f"{where}: the registry gave no blob size")
        return size

    def fetch_blob(self, repo: str, digest: str, write: Callable[[bytes], object], *,
                   size: int | None = None, offset: int = 0, retries: int = 3,
                   progress: Callable[[int], object] | None = None) -> int:
        """Stream a blob to ``write`` from ``offset`` on, resuming after failures;
        the total bytes written (``offset`` included). See ``blobio.Download``."""
        _check_repo(repo)
        dg.validate(digest, "blob digest")
        download = Download(self, repo, digest, write, size, offset, progress)
        failures = 0
        while True:
            try:
                download.attempt()
                return download.done
            except TransportError as exc:
                if failures >= retries:
                    raise TransportError(f"{exc} (gave up after {failures + 1} attempts)"
                                         ) from None
                self.sleep(self.backoff[min(failures, len(self.backoff) - 1)])
                failures += 1

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        """Ask the registry to link ``from_repo``'s blob into ``repo``; False when it
        would rather have an upload (its upload session is cancelled)."""
        _check_repo(repo)
        _check_repo(from_repo)
        dg.validate(digest, "blob digest")
        scopes = (f"repository:{repo}:pull,push", f"repository:{from_repo}:pull")
        query = urlencode({"mount": digest, "from": from_repo})
        reply = self._request("POST", f"/v2/{repo}/blobs/uploads/?{query}", scopes,
                              {"Content-Length": "0"}, b"")
        if reply.status == 201:
            reply.drain()
            return True
        if reply.status != 202:
            raise self._error(reply, f"{self.domain}/{repo}: mount {digest}")
        location = reply.header("Location")
        reply.drain()
        if location:
            try:
                self._request("DELETE", urljoin(reply.url, location), scopes).drain()
            except LauncherError:
                pass  # only tidiness: the registry expires abandoned uploads
        return False

    def upload_blob(self, repo: str, digest: str, size: int, read: Callable[[int], bytes], *,
                    chunk_size: int | None = None) -> None:
        """Upload ``size`` bytes from ``read`` as blob ``digest``: one PUT, or PATCHes
        of ``chunk_size`` bytes and a closing PUT."""
        _check_repo(repo)
        dg.validate(digest, "blob digest")
        scopes = _push(repo)
        where = f"{self.domain}/{repo}@{digest}"
        location = self._start_upload(repo, scopes, where)
        if chunk_size is None:
            headers = {"Content-Type": OCTETS, "Content-Length": str(size)}
            reply = self._request("PUT", _with_digest(location, digest), scopes, headers,
                                  stream(read, size, where), fresh=True)
        else:
            if chunk_size <= 0:
                raise UsageError(f"invalid upload chunk size {chunk_size}")
            offset = 0
            while offset < size:
                n = min(chunk_size, size - offset)
                data = read_exact(read, n, offset, size, where)
                headers = {"Content-Type": OCTETS, "Content-Range": f"{offset}-{offset + n - 1}"}
                reply = self._request("PATCH", location, scopes, headers, data)
                if reply.status != 202:
                    raise self._error(reply, f"{where}: upload")
                location = self._location(reply, where)
                reply.drain()
                offset += n
            reply = self._request("PUT", _with_digest(location, digest), scopes,
                                  {"Content-Length": "0"}, b"")
        if reply.status != 201:
            raise self._error(reply, f"{where}: upload")
        stored = reply.header("Docker-Content-Digest")
        reply.drain()
        if stored and stored != digest:
            raise RegistryError(f"{where}: the registry stored the upload as {stored}")

    def _start_upload(self, repo: str, scopes: tuple[str, ...], where: str) -> str:
        reply = self._request("POST", f"/v2/{repo}/blobs/uploads/", scopes,
                              {"Content-Length": "0"}, b"")
        if reply.status != 202:
            raise self._error(reply, f"{where}: start upload")
        location = self._location(reply, where)
        reply.drain()
        return location

    def _location(self, reply: Reply, where: str) -> str:
        """The upload URL a reply names, made absolute (relative ones are common)."""
        location = reply.header("Location")
        if not location:
            reply.drain()
            raise RegistryError(f"{where}: the registry gave no upload Location")
        return urljoin(reply.url, location)

    def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> str:
        """Store a manifest under ``ref``; its digest as the registry reports it."""
        _check_repo(repo)
        _check_ref(ref)
        where = self._name(repo, ref)
        reply = self._request("PUT", f"/v2/{repo}/manifests/{ref}", _push(repo),
                              {"Content-Type": media_type}, data)
        if reply.status not in (200, 201):
            raise self._error(reply, where)
        stored = reply.header("Docker-Content-Digest")
        reply.drain()
        return stored if dg.is_valid(stored) else dg.of_bytes(data)

    def _name(self, repo: str, ref: str) -> str:
        sep = "@" if dg.is_valid(ref) else ":"
        return f"{self.domain}/{repo}{sep}{ref}"
