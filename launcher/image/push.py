"""``launcher push``: a stored image to a registry, byte for byte.

The manifest, config and layer blobs are sent exactly as stored, so the
pushed manifest has the digest the store knows (and ``pull`` of it verifies).
Per blob, cheapest first: already in the repository (HEAD) → skip; in another
repository of the same registry that this store knows holds it → cross-repo
mount; else upload — monolithic for small blobs, chunked (PATCH) above
``CHUNK`` so no request body is unbounded. Layers go before the config and the
config before the manifest, as the distribution spec requires.
"""

from __future__ import annotations

import os

from launcher.errors import ImageError, LauncherError
from launcher.image import digest as dg
from launcher.image.reference import Reference, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from launcher.image.progress import Reporter
    from launcher.image.store import Image, ImageStore
    from launcher.registry.client import Registry

CHUNK = 16 << 20  # blobs above this go up in chunks of this size


class PushResult:
    __slots__ = ("digest", "reference", "size")

    def __init__(self, reference: Reference, digest: str, size: int) -> None:
        self.reference = reference
        self.digest = digest
        self.size = size


def push(
    store: ImageStore,
    source: str,
    destination: str | None = None,
    *,
    tls_verify: bool | None = None,
    reporter: Reporter | None = None,
    registry: Registry | None = None,
) -> PushResult:
    """Push image ``source`` as ``destination`` (default: ``source``'s own name)."""
    from launcher.image.progress import NullReporter

    image = store.get(source)
    target = parse(destination or source)
    if not target.tag and not target.digest:
        raise ImageError(f"{target}: a tag is needed to push")
    report = reporter or NullReporter()
    own = registry is None
    if registry is None:
        from launcher.image.pull import open_registry

        registry = open_registry(store.paths, target.domain, tls_verify)
    try:
        return _push(store, registry, image, target, report)
    finally:
        if own:
            registry.close()


def _push(store: ImageStore, registry: Registry, image: Image, target: Reference,
          report: Reporter) -> PushResult:
    repo = target.path
    report.status(f"The push refers to repository [{target.name}]")
    layers = image.manifest.get("layers") or []
    donors = _donor_repos(store, target)
    for desc in layers:
        _blob(store, registry, repo, desc, donors.get(str(desc.get("digest")), []), report)
    config = image.manifest["config"]
    _blob(store, registry, repo, config, [], report, quiet=True)
    data = store.read_blob(image.record.manifest)
    media_type = str(image.manifest.get("mediaType") or
                     "application/vnd.oci.image.manifest.v1+json")
    digest = registry.put_manifest(repo, target.tag or target.digest or "latest", data,
                                   media_type)
    if digest != image.record.manifest:
        raise ImageError(f"{target.familiar()}: registry stored manifest {digest}, "
                         f"expected {image.record.manifest}")
    report.status(f"{target.tag or 'latest'}: digest: {digest} size: {len(data)}")
    return PushResult(target, digest, len(data))


def _blob(store: ImageStore, registry: Registry, repo: str, desc: dict[str, Any],
          donors: list[str], report: Reporter, *, quiet: bool = False) -> None:
    digest = dg.validate(desc.get("digest"), "blob digest")
    size = os.path.getsize(store.blob_path(digest)) if store.has_blob(digest) else -1
    if size < 0:
        raise ImageError(f"blob {digest} is not in the store (was the image imported "
                         "from an archive without it?)")

    def say(state: str) -> None:
        if not quiet:
            report.layer(digest, state)

    if registry.blob_size(repo, digest) is not None:
        say("Layer already exists")
        return
    for donor in donors:
        try:
            if registry.mount_blob(repo, digest, donor):
                say(f"Mounted from {donor}")
                return
        except LauncherError:
            break  # mounting is an optimisation: upload instead
    if not quiet:
        report.start(digest, size)
    with store.open_blob(digest) as f:
        def read(n: int) -> bytes:
            chunk = f.read(n)
            if not quiet:
                report.advance(digest, len(chunk))
            return chunk

        registry.upload_blob(repo, digest, size, read,
                             chunk_size=CHUNK if size > CHUNK else None)
    say("Pushed")


def _donor_repos(store: ImageStore, target: Reference) -> dict[str, list[str]]:
    """Blob digest -> other repositories of the same registry whose images (in
    this store) hold it: the candidates for a cross-repository mount."""
    from launcher import fastjson

    donors: dict[str, list[str]] = {}
    for record in store.list():
        try:
            ref = parse(record.reference, default_tag=False)
            manifest = fastjson.loads(store.read_blob(record.manifest))
        except (LauncherError, ValueError):
            continue  # a dangling entry (no reference) or an unreadable one
        if ref.domain != target.domain or ref.path == target.path:
            continue
        for desc in manifest.get("layers") or []:
            repos = donors.setdefault(str(desc.get("digest")), [])
            if ref.path not in repos:
                repos.append(ref.path)
    return donors
