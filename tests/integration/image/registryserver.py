"""A real distribution registry (``docker-registry serve``) on loopback, for integration tests.

::

    with RegistryServer() as reg:                       # no auth
        push_with_skopeo(layout, "v1", reg.host, "demo/app:v1")
    with RegistryServer(auth="htpasswd", users={"alice": "secret"}) as reg: ...
    with RegistryServer(auth="token", users={"alice": "secret"}) as reg:
        reg.token_server.seen()                         # who asked the token server for what

Storage is the filesystem driver under a private temporary directory, so tests can
damage what the registry serves (:meth:`RegistryServer.blob_path`,
:meth:`RegistryServer.corrupt_blob`). No blob descriptor cache is configured, so
such changes are seen at once. Everything (process, directory, token server it
started) goes away on :meth:`stop`.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import tempfile
import time
from types import TracebackType

import bcrypt

from tests.integration.image.tokenserver import TokenServer

REGISTRY_BIN = "docker-registry"
START_DEADLINE_S = 20.0
_PORT_RETRIES = 3


def registry_binary() -> str | None:
    """The path of distribution's ``docker-registry``, or None when not installed."""
    return shutil.which(REGISTRY_BIN) or shutil.which("registry")


class RegistryError(RuntimeError):
    """The registry would not start (the message carries the tail of its log)."""


class RegistryServer:
    """``docker-registry serve`` on 127.0.0.1:<free port>; a context manager.

    ``auth`` is None (open), ``"htpasswd"`` (Basic, bcrypt file from ``users``) or
    ``"token"`` (Bearer from ``token_server``; one is started with ``users`` when
    none is given, and then stopped with the registry).
    """

    def __init__(
        self,
        auth: str | None = None,
        users: dict[str, str] | None = None,
        *,
        token_server: TokenServer | None = None,
        log_level: str = "warn",
    ) -> None:
        if auth not in (None, "htpasswd", "token"):
            raise ValueError(f"auth must be None, 'htpasswd' or 'token', not {auth!r}")
        self.auth = auth
        self.users = dict(users or {})
        self.log_level = log_level
        self.token_server = token_server
        self._own_token_server = False
        self._dir: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._port = 0
        self._repo_counter = 0

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> RegistryServer:
        binary = registry_binary()
        if binary is None:
            raise RegistryError(f"{REGISTRY_BIN} is not installed")
        self._dir = tempfile.mkdtemp(prefix="launcher-test-registry-")
        try:
            if self.auth == "token" and self.token_server is None:
                self.token_server = TokenServer(self.users).start()
                self._own_token_server = True
            for attempt in range(_PORT_RETRIES):
                self._port = _free_port()
                self._write_config()
                if self._spawn(binary, last=attempt == _PORT_RETRIES - 1):
                    return self
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the process (terminate, then kill), the owned token server; remove files."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._own_token_server and self.token_server is not None:
            self.token_server.stop()
            self.token_server = None
            self._own_token_server = False
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- where things are --------------------------------------------------------------

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the registry part of an image reference."""
        return f"127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def workdir(self) -> str:
        if self._dir is None:
            raise RuntimeError("registry is not running")
        return self._dir

    @property
    def storage_dir(self) -> str:
        """The filesystem driver's root directory."""
        return os.path.join(self.workdir, "storage")

    @property
    def log_path(self) -> str:
        return os.path.join(self.workdir, "registry.log")

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the registry's stdout/stderr."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - 64 * 1024))
                text = f.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def new_repo(self, prefix: str = "test") -> str:
        """A repository name no other test of this session has used (the server is shared)."""
        self._repo_counter += 1
        return f"{prefix}/repo{self._repo_counter}-{os.getpid()}"

    # -- storage layout (distribution's filesystem driver, v2) -------------------------

    def _v2(self, *parts: str) -> str:
        return os.path.join(self.storage_dir, "docker", "registry", "v2", *parts)

    def blob_path(self, digest: str) -> str:
        """The data file of a blob (layer, config or manifest) in global storage."""
        hexpart = _hex(digest)
        return self._v2("blobs", "sha256", hexpart[:2], hexpart, "data")

    def layer_link_path(self, repo: str, digest: str) -> str:
        """The link that makes a blob visible in ``repo`` (remove it to 'lose' the blob)."""
        return self._v2("repositories", repo, "_layers", "sha256", _hex(digest), "link")

    def manifest_revision_path(self, repo: str, digest: str) -> str:
        """The link that makes manifest ``digest`` fetchable by digest from ``repo``."""
        return self._v2(
            "repositories", repo, "_manifests", "revisions", "sha256", _hex(digest), "link"
        )

    def tag_link_path(self, repo: str, tag: str) -> str:
        """The file holding the manifest digest that ``repo:tag`` points to."""
        return self._v2("repositories", repo, "_manifests", "tags", tag, "current", "link")

    def tag_digest(self, repo: str, tag: str) -> str:
        with open(self.tag_link_path(repo, tag), encoding="ascii") as f:
            return f.read().strip()

    def retag(self, repo: str, tag: str, digest: str) -> None:
        """Point ``repo:tag`` at another manifest already in ``repo``, behind the API's back."""
        with open(self.tag_link_path(repo, tag), "w", encoding="ascii") as f:
            f.write(digest)

    def read_blob(self, digest: str) -> bytes:
        with open(self.blob_path(digest), "rb") as f:
            return f.read()

    def replace_blob(self, digest: str, data: bytes) -> None:
        """Serve ``data`` under ``digest`` from now on (wrong content, wrong length, ...)."""
        with open(self.blob_path(digest), "wb") as f:
            f.write(data)

    def corrupt_blob(self, digest: str, offset: int = 0) -> None:
        """Flip the low bit of one byte (``offset`` may be negative) of a stored blob."""
        with open(self.blob_path(digest), "r+b") as f:
            size = os.fstat(f.fileno()).st_size
            pos = offset if offset >= 0 else size + offset
            f.seek(pos)
            byte = f.read(1)
            f.seek(pos)
            f.write(bytes([byte[0] ^ 1]))

    # -- internals ---------------------------------------------------------------------

    def _write_config(self) -> None:
        lines = [
            "version: 0.1",
            "log:",
            f"  level: {self.log_level}",
            "  formatter: text",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.storage_dir}",
            "  delete:",
            "    enabled: true",
            "  maintenance:",
            "    uploadpurging:",
            "      enabled: false",
            "http:",
            f"  addr: {self.host}",
            "  secret: launcher-test-secret",
            *self._auth_config(),
        ]
        with open(os.path.join(self.workdir, "config.yml"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")

    def _auth_config(self) -> list[str]:
        if self.auth == "htpasswd":
            path = os.path.join(self.workdir, "htpasswd")
            write_htpasswd(path, self.users)
            return ["auth:", "  htpasswd:", "    realm: launcher-test", f"    path: {path}"]
        if self.auth == "token":
            ts = self.token_server
            assert ts is not None
            bundle = ts.write_cert_bundle(os.path.join(self.workdir, "token-ca.pem"))
            return [
                "auth:",
                "  token:",
                f"    realm: {ts.realm}",
                f"    service: {ts.service}",
                f"    issuer: {ts.issuer}",
                f"    rootcertbundle: {bundle}",
            ]
        return []

    def _spawn(self, binary: str, *, last: bool) -> bool:
        """Start the process and wait for /v2/; False to retry on a port taken meanwhile."""
        config = os.path.join(self.workdir, "config.yml")
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [binary, "serve", config],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                if not last and "address already in use" in self.log_tail():
                    return False
                raise RegistryError(f"docker-registry exited at start:\n{self.log_tail()}")
            if _answers(self.host):
                return True
            time.sleep(0.05)
        raise RegistryError(
            f"docker-registry did not answer GET /v2/ within {START_DEADLINE_S} s:\n"
            f"{self.log_tail()}"
        )


def write_htpasswd(path: str, users: dict[str, str]) -> None:
    """An htpasswd file with bcrypt hashes (``$2b$``, which distribution 2.8 accepts)."""
    with open(path, "w", encoding="utf-8") as f:
        for user, password in users.items():
            hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
            f.write(f"{user}:{hashed}\n")


def _hex(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or len(hexpart) != 64:
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return hexpart


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _answers(host: str) -> bool:
    """True once GET /v2/ gets any HTTP answer (401 counts: auth is up too)."""
    conn = http.client.HTTPConnection(host, timeout=1)
    try:
        conn.request("GET", "/v2/")
        return conn.getresponse().status in (200, 401)
    except OSError:
        return False
    finally:
        conn.close()
