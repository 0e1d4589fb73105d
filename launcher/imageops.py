"""The core behind the image commands: pull, push, images, rmi, tag, inspect,
save, load, login, logout and prune.

The CLI (``launcher.cli.images``) parses and prints; this module does the
work, so the Python API and the VM path reach the same logic. Images live
with the backend (the native one here; inside the guest for the VM backend),
so each entry point first asks for the backend and fails clearly without one.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from launcher.image.platform import Platform
    from launcher.image.progress import Reporter
    from launcher.image.pull import PullResult
    from launcher.image.push import PushResult
    from launcher.image.store import ImageStore
    from launcher.paths import Paths


def store_for(paths: Paths) -> ImageStore:
    from launcher.backend.select import select_backend
    from launcher.image.store import ImageStore

    select_backend(paths)  # the store lives with the backend: fail clearly where there is none
    return ImageStore(paths)


def pull(paths: Paths, ref: str, *, platform: Platform | None = None,
         tls_verify: bool | None = None, reporter: Reporter | None = None) -> PullResult:
    from launcher.image.pull import pull as do_pull

    return do_pull(store_for(paths), ref, platform=platform, tls_verify=tls_verify,
                   reporter=reporter)


def push(paths: Paths, source: str, destination: str | None = None, *,
         tls_verify: bool | None = None, reporter: Reporter | None = None) -> PushResult:
    from launcher.image.push import push as do_push

    return do_push(store_for(paths), source, destination, tls_verify=tls_verify,
                   reporter=reporter)


def remove(paths: Paths, refs: list[str], *, force: bool) -> list[tuple[str, str]]:
    """``rmi``: untag/delete, then sweep what no image or container uses any more."""
    from launcher.image import catalog, gc, usage

    store = store_for(paths)
    try:
        return catalog.remove(store, refs, force=force, in_use=usage.containers_using(paths))
    finally:
        gc.collect(store, paths)


def prune(paths: Paths, *, all_images: bool) -> tuple[list[tuple[str, str]], Any]:
    from launcher.image import gc, usage

    store = store_for(paths)
    return gc.prune(store, paths, all=all_images, in_use=usage.containers_using(paths))


def tag(paths: Paths, source: str, target: str) -> None:
    from launcher.image import catalog

    catalog.tag(store_for(paths), source, target)


def summaries(paths: Paths) -> list[Any]:
    from launcher.image import catalog

    return catalog.summaries(store_for(paths))


def inspect(paths: Paths, ref: str) -> dict[str, Any]:
    from launcher.image import catalog

    return catalog.inspect(store_for(paths), ref)


def save(paths: Paths, refs: list[str], out: BinaryIO | str, fmt: str) -> None:
    from launcher.image.save import save as do_save

    do_save(store_for(paths), refs, out, format=fmt)


def load(paths: Paths, source: BinaryIO | str) -> list[str]:
    from launcher.image.load import load as do_load

    return do_load(store_for(paths), source)


def login(paths: Paths, server: str, username: str, password: str,
          tls_verify: bool | None = None) -> str:
    """Check the credentials against the registry, then store them; the domain."""
    from launcher.registry.client import Registry
    from launcher.registry.config import RegistryConfig
    from launcher.registry.credentials import CredentialStore

    domain = registry_domain(server)
    config = RegistryConfig.load(paths.registries_file)
    registry = Registry(domain, credentials=(username, password), tls_verify=tls_verify,
                        config=config)
    try:
        registry.ping()
    finally:
        registry.close()
    CredentialStore(paths.auth_file).set(domain, username, password)
    return domain


def logout(paths: Paths, server: str) -> tuple[str, bool]:
    from launcher.registry.credentials import CredentialStore

    domain = registry_domain(server)
    return domain, CredentialStore(paths.auth_file).remove(domain)


def registry_domain(server: str) -> str:
    """``login``'s SERVER as the store keys it: ``https://x:5000/`` → ``x:5000``;
    Docker Hub's aliases → ``docker.io``."""
    from launcher.errors import UsageError

    text = server.strip()
    for scheme in ("https://", "http://"):
        if text.startswith(scheme):
            text = text[len(scheme):]
    text = text.split("/", 1)[0]
    if not text or any(c.isspace() for c in text):
        raise UsageError(f"invalid registry address {server!r}")
    if text in ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"):
        return "docker.io"
    return text
