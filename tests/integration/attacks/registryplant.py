"""Plant exact bytes in a running docker-registry, behind its API's back.

A hostile or compromised registry serves what it likes; distribution's
filesystem driver serves what its storage holds without re-hashing it. So a
test writes the blob files and the repository links itself (the layout of
distribution's storage driver, v2) and the registry then serves exactly those
bytes: a manifest that is also an index, a blob that does not hash to its name.
No skopeo, no validation on the way in. What docker-registry will not serve
at all (a 10 MiB manifest) comes from :class:`HostileRegistry`, a table of
canned answers.

::

    plant = Planter(registry)
    img = plant.image("attacks/x", "1", [[file("hello", "hi")]])
    plant.manifest("attacks/x", "evil", b'{"schemaVersion": 2, ...}')
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.integration.attacks.kit import busybox_base
from tests.integration.image.layertar import Entry, compress, layer_tar
from tests.integration.image.ocibuild import (
    MT_CONFIG,
    MT_INDEX,
    MT_LAYER,
    MT_MANIFEST,
    PATH_ENV,
    host_platform,
)
from tests.integration.image.registryserver import RegistryServer


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def descriptor(media_type: str, data: bytes, **extra: object) -> dict[str, object]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


@functools.cache
def busybox_layer() -> tuple[bytes, str]:
    """The busybox base layer, gzipped once per session: (blob, diff id)."""
    tar = layer_tar(busybox_base())
    return compress(tar, "gzip"), digest_of(tar)


class PlantedImage:
    """What :meth:`Planter.image` wrote: the documents' bytes and every digest."""

    __slots__ = ("config", "diff_ids", "layers", "manifest", "ref")

    def __init__(self, ref: str, manifest: bytes, config: bytes, layers: list[bytes],
                 diff_ids: list[str]) -> None:
        self.ref = ref  # HOST/REPO:TAG
        self.manifest = manifest
        self.config = config
        self.layers = layers
        self.diff_ids = diff_ids

    @property
    def manifest_digest(self) -> str:
        return digest_of(self.manifest)

    @property
    def layer_digests(self) -> list[str]:
        return [digest_of(b) for b in self.layers]


class Planter:
    """Writes blobs, manifests and tags straight into ``registry``'s storage."""

    def __init__(self, registry: RegistryServer) -> None:
        self.registry = registry

    def _repo(self, repo: str, *parts: str) -> str:
        return os.path.join(self.registry.storage_dir, "docker", "registry", "v2",
                            "repositories", repo, *parts)

    @staticmethod
    def _write(path: str, data: bytes) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    def blob(self, repo: str, data: bytes, name: str | None = None) -> str:
        """Serve ``data`` as blob ``name`` (default: its true digest) of ``repo``."""
        digest = name or digest_of(data)
        self._write(self.registry.blob_path(digest), data)
        self._write(self._repo(repo, "_layers", "sha256", digest[7:], "link"), digest.encode())
        return digest

    def manifest(self, repo: str, tag: str | None, data: bytes, name: str | None = None) -> str:
        """Serve ``data`` as manifest ``name`` (default: its true digest), tagged ``tag``.
        The registry sends the Content-Type of the body's ``mediaType``."""
        digest = name or digest_of(data)
        self._write(self.registry.blob_path(digest), data)
        link = digest.encode()
        self._write(self._repo(repo, "_manifests", "revisions", "sha256", digest[7:], "link"),
                    link)
        if tag is not None:
            self._write(self._repo(repo, "_manifests", "tags", tag, "current", "link"), link)
            self._write(self._repo(repo, "_manifests", "tags", tag, "index", "sha256",
                                   digest[7:], "link"), link)
        return digest

    def image(self, repo: str, tag: str | None, layers: list[list[Entry]],
              config_extra: dict[str, object] | None = None, *, base: bool = True
              ) -> PlantedImage:
        """An OCI image: busybox (unless ``base=False``) plus ``layers``, gzipped."""
        blobs, diff_ids = [], []
        if base:
            blob, diff_id = busybox_layer()
            blobs.append(blob)
            diff_ids.append(diff_id)
        for entries in layers:
            tar = layer_tar(entries)
            blobs.append(compress(tar, "gzip"))
            diff_ids.append(digest_of(tar))
        config = canonical(image_config(diff_ids, config_extra))
        for blob in [*blobs, config]:
            self.blob(repo, blob)
        manifest = canonical({
            "schemaVersion": 2, "mediaType": MT_MANIFEST,
            "config": descriptor(MT_CONFIG, config),
            "layers": [descriptor(MT_LAYER["gzip"], b) for b in blobs]})
        self.manifest(repo, tag, manifest)
        ref = f"{self.registry.host}/{repo}:{tag}" if tag else f"{self.registry.host}/{repo}"
        return PlantedImage(ref, manifest, config, blobs, diff_ids)

    def index(self, repo: str, tag: str, entries: list[dict[str, object]]) -> bytes:
        """An OCI index of ``entries`` (descriptors), tagged; its bytes."""
        data = canonical({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": entries})
        self.manifest(repo, tag, data)
        return data


def image_config(diff_ids: list[str], extra: dict[str, object] | None = None
                 ) -> dict[str, object]:
    arch, variant = host_platform()
    config: dict[str, object] = {
        "architecture": arch, "os": "linux",
        "config": {"Env": [PATH_ENV], "Cmd": ["/bin/sh"], **(extra or {})},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if variant:
        config["variant"] = variant
    return config


def host_platform_desc() -> dict[str, str]:
    arch, variant = host_platform()
    return {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}


class HostileRegistry:
    """A registry that answers GET/HEAD from a table (path -> status, headers, body),
    for what docker-registry will not serve (it fails on a 10 MiB manifest).

    A body of None with status 200 streams spaces without a Content-Length until
    the client hangs up or ``stream_limit`` bytes went out (``streamed`` counts)."""

    def __init__(self, stream_limit: int = 64 << 20) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes | None]] = {
            "/v2/": (200, {"Content-Type": "application/json"}, b"{}")}
        self.stream_limit = stream_limit
        self.streamed = 0
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> HostileRegistry:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                owner._answer(self, head=True)

            def do_GET(self) -> None:
                owner._answer(self, head=False)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def host(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    def _answer(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        status, headers, body = self.routes.get(
            h.path.split("?", 1)[0],
            (404, {"Content-Type": "application/json"},
             b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'))
        h.send_response(status)
        for key, value in headers.items():
            h.send_header(key, value)
        if body is None:
            h.send_header("Connection", "close")
            h.end_headers()
            h.close_connection = True
            piece = b" " * (64 << 10)
            try:
                while not head and self.streamed < self.stream_limit:
                    h.wfile.write(piece)
                    self.streamed += len(piece)
            except OSError:
                pass  # the client hung up
            return
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head:
            try:
                h.wfile.write(body)
            except OSError:
                pass
