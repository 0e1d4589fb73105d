"""Helpers for the image integration tests (root): in-memory tars and real mounts."""

from __future__ import annotations

import ctypes
import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.image import ocibuild

TYPE_CHECKING = False
if TYPE_CHECKING:
    # imported in the fixtures: they need cryptography and bcrypt, which other tests don't
    from tests.integration.image.registryserver import RegistryServer

MTIME = 1_600_000_000


class TarBuilder:
    """Append layer entries; ``data()`` returns the archive bytes."""

    def __init__(self) -> None:
        self._buf = io.BytesIO()
        # closed by data()
        self._tf = tarfile.open(fileobj=self._buf, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115

    def add(
        self, name: str, kind: bytes, mode: int, data: bytes | None = None, **kw: object
    ) -> TarBuilder:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime = kind, mode, MTIME
        for key, value in kw.items():
            setattr(ti, key, value)
        if data is not None:
            ti.size = len(data)
        self._tf.addfile(ti, io.BytesIO(data) if data is not None else None)
        return self

    def dir(self, name: str, mode: int = 0o755, **kw: object) -> TarBuilder:
        return self.add(name, tarfile.DIRTYPE, mode, None, **kw)

    def file(self, name: str, data: bytes = b"", mode: int = 0o644, **kw: object) -> TarBuilder:
        return self.add(name, tarfile.REGTYPE, mode, data, **kw)

    def symlink(self, name: str, target: str) -> TarBuilder:
        return self.add(name, tarfile.SYMTYPE, 0o777, linkname=target)

    def data(self) -> bytes:
        self._tf.close()
        return self._buf.getvalue()


class RealMount:
    """A tiny ctypes mount(2)/umount2(2), standing in for the backend's syscalls."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)

    def mount(self, source: str, target: str, fstype: str, flags: int, data: str) -> None:
        enc = os.fsencode
        if self._libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), target)

    def umount(self, target: str, flags: int) -> None:
        if self._libc.umount2(os.fsencode(target), flags) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), target)


@pytest.fixture
def real_mount() -> RealMount:
    return RealMount()


@pytest.fixture
def small_tmpfs(tmp_path: Path, real_mount: RealMount) -> Iterator[Path]:
    """A 2 MiB tmpfs: for a disk filling up mid-unpack."""
    point = tmp_path / "small"
    point.mkdir()
    real_mount.mount("tmpfs", str(point), "tmpfs", 0, "size=2m,mode=0700")
    yield point
    real_mount.umount(str(point), 2)


@pytest.fixture
def tar() -> type[TarBuilder]:
    """The TarBuilder class (tests make one builder per layer)."""
    return TarBuilder


# -- real registries (docker-registry + skopeo), started once per session --------------
# Blobs are stored once per registry, whatever the repository: a test that damages
# stored content must use ``private_registry``, not the shared ones. Shared ones
# hand out fresh repository names with ``registry.new_repo()``.

REGISTRY_USERS = {"alice": "secret", "bob": "hunter2"}


def _need_registry_tools() -> type[RegistryServer]:
    """RegistryServer, or a skip naming what is missing."""
    import importlib.util
    import shutil

    missing = [
        name for name in ("bcrypt", "cryptography") if importlib.util.find_spec(name) is None
    ]
    if missing:
        pytest.skip(f"needs the python packages {', '.join(missing)}")
    from tests.integration.image.registryserver import RegistryServer, registry_binary

    tools = (("docker-registry", registry_binary()), ("skopeo", shutil.which("skopeo")))
    missing = [name for name, path in tools if path is None]
    if missing:
        pytest.skip(f"needs {' and '.join(missing)} (Debian: apt install {' '.join(missing)})")
    return RegistryServer


@pytest.fixture(scope="session")
def registry() -> Iterator[RegistryServer]:
    """An open registry (no auth) on 127.0.0.1, shared by the session."""
    server_class = _need_registry_tools()
    with server_class() as server:
        yield server


@pytest.fixture(scope="session")
def auth_registry() -> Iterator[RegistryServer]:
    """A registry with Basic auth (bcrypt htpasswd) for ``REGISTRY_USERS``."""
    server_class = _need_registry_tools()
    with server_class(auth="htpasswd", users=REGISTRY_USERS) as server:
        yield server


@pytest.fixture(scope="session")
def token_registry() -> Iterator[RegistryServer]:
    """A registry with Bearer token auth; ``.token_server`` issues tokens for ``REGISTRY_USERS``
    (anonymous requests get a token granting nothing). Call ``.token_server.clear()``
    before asserting on ``.token_server.seen()``."""
    server_class = _need_registry_tools()
    with server_class(auth="token", users=REGISTRY_USERS) as server:
        yield server


@pytest.fixture
def private_registry() -> Iterator[RegistryServer]:
    """An open registry of this test's own (for tests that corrupt or delete content)."""
    server_class = _need_registry_tools()
    with server_class() as server:
        yield server


class OciImages:
    """The session's prebuilt OCI layout (see ocibuild.py) and what each tag holds.

    Tags: ``busybox`` (one layer, gzip), ``busybox-zstd``, ``multilayer`` (expected
    tree: ``ocibuild.MULTILAYER_EXPECTED``), ``multiarch`` (an index; push with
    ``all=True``).
    """

    __slots__ = ("busybox", "busybox_zstd", "layout", "multiarch", "multilayer")

    def __init__(self, layout: str) -> None:
        self.layout = layout
        self.busybox = ocibuild.build_busybox(layout, "busybox")
        self.busybox_zstd = ocibuild.build_busybox(layout, "busybox-zstd", compression="zstd")
        self.multilayer = ocibuild.build_multilayer(layout, "multilayer")
        self.multiarch = ocibuild.build_multiarch(layout, "multiarch")


@pytest.fixture(scope="session")
def oci_images() -> Iterator[OciImages]:
    """Images built once per session into a temporary OCI layout (removed at the end)."""
    import shutil
    import tempfile

    tmp = tempfile.mkdtemp(prefix="launcher-test-oci-")
    try:
        yield OciImages(os.path.join(tmp, "layout"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
