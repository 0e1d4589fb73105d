"""``launcher pull``: an image from an OCI/Docker registry into the store.

Order of trust, step by step:

1. The manifest (or index) is fetched with the full ``Accept`` list and, when
   asked for by digest, checked against it (the client does). An index picks
   the manifest for ``--platform`` (default: the host's), which is fetched *by
   digest*, so the bytes are exactly those the index named.
2. The config blob comes by digest too, capped, verified before it is parsed.
3. Layers download in parallel into ``BlobWriter`` (sha256 and size checked
   while streaming; nothing reaches ``blobs/`` unverified), and each verified
   blob is unpacked into ``tmp/`` and committed under its diff id only if the
   uncompressed stream hashes to what the config promised.
4. Only then does the index point the reference at the image.

The whole write phase holds the store lock shared, so a concurrent GC cannot
sweep a blob between its commit and the index update. An interrupted pull
leaves verified blobs/layers (content-addressed, reused next time, swept by
GC if never referenced) and nothing marked complete.

Threads: download workers are joined before ``pull`` returns, so a ``run``
that pulls first still forks from a single-threaded process.
"""

from __future__ import annotations

from launcher.errors import ImageError, LauncherError
from launcher.image import digest as dg
from launcher.image import platform as plat
from launcher.image.jsondoc import config_diff_ids, json_object
from launcher.image.reference import Reference, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from launcher.image.progress import Reporter
    from launcher.image.store import Image, ImageStore
    from launcher.paths import Paths
    from launcher.registry.client import Manifest, Registry

CONFIG_MAX = 8 << 20

SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)


class PullResult:
    __slots__ = ("digest", "image", "reference", "updated")

    def __init__(self, reference: Reference, image: Image, digest: str, updated: bool) -> None:
        self.reference = reference
        self.image = image
        self.digest = digest  # what `name@digest` pulls again: the index's, if there was one
        self.updated = updated  # False: the store already had exactly this image


def open_registry(paths: Paths, domain: str, tls_verify: bool | None = None) -> Registry:
    """A client for ``domain`` with the stored credentials and registry settings."""
    from launcher.registry.client import Registry
    from launcher.registry.config import RegistryConfig
    from launcher.registry.credentials import CredentialStore

    creds = CredentialStore(paths.auth_file).get(domain)
    config = RegistryConfig.load(paths.registries_file)
    return Registry(domain, credentials=creds, tls_verify=tls_verify, config=config)


def pull(
    store: ImageStore,
    ref: str | Reference,
    *,
    platform: plat.Platform | None = None,
    tls_verify: bool | None = None,
    reporter: Reporter | None = None,
    registry: Registry | None = None,
) -> PullResult:
    from launcher.image.progress import NullReporter

    reference = ref if isinstance(ref, Reference) else parse(ref)
    report = reporter or NullReporter()
    own = registry is None
    reg = registry or open_registry(store.paths, reference.domain, tls_verify)
    try:
        return _Puller(store, reg, reference, platform, report).run()
    finally:
        if own:
            reg.close()


class _Puller:
    __slots__ = ("platform", "reference", "registry", "repo", "report", "store", "where")

    def __init__(self, store: ImageStore, registry: Registry, reference: Reference,
                 platform: plat.Platform | None, report: Reporter) -> None:
        self.store = store
        self.registry = registry
        self.reference = reference
        self.platform = platform
        self.report = report
        self.repo = reference.path
        self.where = reference.familiar()

    def run(self) -> PullResult:
        ref = self.reference
        top = self.registry.get_manifest(self.repo, ref.digest or ref.tag or "latest")
        self.report.status(f"{ref.tag or ref.digest}: Pulling from {ref.path}")
        manifest = self._single(top)
        doc = json_object(manifest.data, f"{self.where}: manifest")
        config_desc, layers = _descriptors(doc, self.where)
        config_bytes = self._config(config_desc)
        config = json_object(config_bytes, f"{self.where}: image config")
        self._check_platform(config, top is manifest)
        diff_ids = config_diff_ids(config, len(layers), self.where)
        updated = not self._up_to_date(manifest.digest)
        from launcher.image.lock import store_lock

        with store_lock(self.store.paths, exclusive=False):
            self._layers(layers, diff_ids)
            index = None
            if top is not manifest:  # keep the index: its digest is the repo digest
                index = self.store.put_blob(top.data, top.digest)
            image = self.store.put_image(ref, manifest.data, config_bytes, index=index)
        self.report.status(f"Digest: {top.digest}")
        verb = "Downloaded newer image" if updated else "Image is up to date"
        self.report.status(f"Status: {verb} for {ref.familiar()}")
        return PullResult(ref, image, top.digest, updated)

    def _single(self, top: Manifest) -> Manifest:
        """The image manifest: ``top`` itself, or the index entry for the platform."""
        from launcher.registry import mediatypes as mt

        if top.media_type in SCHEMA1:
            raise ImageError(f"{self.where}: schema 1 manifests are not supported "
                             "(push the image again with a current client)")
        if top.media_type in mt.MANIFEST_TYPES:
            return top
        if top.media_type not in mt.INDEX_TYPES:
            raise ImageError(f"{self.where}: unsupported manifest type {top.media_type!r}")
        index = json_object(top.data, f"{self.where}: image index")
        want = self.platform or plat.host()
        desc = plat.select(index, want, self.where)
        digest = dg.validate(desc.get("digest"), "manifest digest")
        manifest = self.registry.get_manifest(self.repo, digest)
        if manifest.media_type not in mt.MANIFEST_TYPES:
            raise ImageError(f"{self.where}: index entry for {want} is a "
                             f"{manifest.media_type!r}, not an image manifest")
        return manifest

    def _config(self, desc: dict[str, Any]) -> bytes:
        digest = dg.validate(desc.get("digest"), "config digest")
        size = _size(desc, self.where)
        if size > CONFIG_MAX:
            raise ImageError(f"{self.where}: image config of {size} bytes is over the "
                             f"{CONFIG_MAX >> 20} MiB limit")
        if self.store.has_blob(digest):
            return self.store.read_blob(digest, CONFIG_MAX)
        chunks: list[bytes] = []
        self.registry.fetch_blob(self.repo, digest, chunks.append, size=size)
        data = b"".join(chunks)
        if len(data) != size or dg.of_bytes(data) != digest:
            raise ImageError(f"{self.where}: config blob {digest} failed verification")
        return data

    def _check_platform(self, config: dict[str, Any], single: bool) -> None:
        got = plat.of_config(config)
        want = self.platform or plat.host()
        if got.matches(want) or not got.os:
            return
        if single and self.platform is not None:
            raise ImageError(f"{self.where}: image is for {got}, not the requested {want}")
        self.report.warn(f"the image's platform ({got}) does not match the host's ({want})")

    def _up_to_date(self, manifest_digest: str) -> bool:
        try:
            have = self.store.get(self.reference)
        except LauncherError:
            return False
        return have.record.manifest == manifest_digest

    def _layers(self, layers: list[dict[str, Any]], diff_ids: list[str]) -> None:
        from launcher.image.fetch import LayerFetcher

        LayerFetcher(self.store, self.registry, self.repo, self.report).fetch_all(
            layers, diff_ids)


def _descriptors(doc: dict[str, Any], where: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if doc.get("schemaVersion") != 2:
        raise ImageError(f"{where}: manifest schemaVersion is not 2")
    config, layers = doc.get("config"), doc.get("layers")
    if type(config) is not dict or type(layers) is not list:
        raise ImageError(f"{where}: manifest has no config or layers")
    for layer in layers:
        if type(layer) is not dict:
            raise ImageError(f"{where}: manifest layer entry is not an object")
        dg.validate(layer.get("digest"), "layer digest")
        _size(layer, where)
        if layer.get("urls"):
            raise ImageError(f"{where}: layer {layer['digest']} is foreign (urls); "
                             "launcher only pulls layers the registry holds")
    return config, layers


def _size(desc: dict[str, Any], where: str) -> int:
    size = desc.get("size")
    if type(size) is not int or size < 0:
        raise ImageError(f"{where}: descriptor {desc.get('digest')} has no valid size")
    return size
