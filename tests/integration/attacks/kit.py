"""Shared pieces of the attack suite: host sentinels, attack images, probes.

Attack images are OCI layouts written by tests/integration/image/ocibuild.py
(busybox from the host, plus the layers and config a test wants) and brought
in with ``launcher load``, or planted in a registry (registryplant.py) and
pulled. Probes that need syscalls run the host's python3, bind-mounted
read-only into a busybox container (``HOST_PY``), as test_seccomp.py does.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.cli.conftest import LAUNCHER, Cli, mounts_mentioning
from tests.integration.image import ocibuild
from tests.integration.image.layertar import Entry

HOST_PYTHON = "/usr/bin/python3"
HOST_PY = ("-v", "/usr:/usr:ro", "-v", "/lib:/lib:ro", "-v", "/lib64:/lib64:ro")
EPERM, ENOENT, EIO, ENXIO, EACCES, EINVAL, ENOTTY, EROFS, ENOSYS = 1, 2, 5, 6, 13, 22, 25, 30, 38
# A call that takes longer than this hangs (a FIFO read, a blocked open): fail, don't wait.
HANG_TIMEOUT = 15.0

needs_host_python = pytest.mark.skipif(
    os.uname().machine != "x86_64" or not os.path.exists(HOST_PYTHON),
    reason="the probes use the host's /usr/bin/python3 and x86_64 syscall numbers")


def assert_refused(res: subprocess.CompletedProcess[str], *words: str, code: int = 125) -> str:
    """``res`` failed with ``code`` and exactly one ``launcher: ...`` line holding ``words``."""
    lines = res.stderr.strip().splitlines()
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    assert len(lines) == 1 and lines[0].startswith("launcher: "), res.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def _stat_key(path: Path | str) -> tuple[int, ...]:
    st = os.lstat(path)
    return (st.st_mode, st.st_ino, st.st_nlink, st.st_uid, st.st_gid, st.st_size,
            st.st_mtime_ns, st.st_ctime_ns)


def _digest(path: Path | str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class Sentinel:
    """A host directory with one file in it, outside every rootfs and root.

    ``check()`` fails if the file's bytes, mode, owner, link count or times
    changed, if anything was added to the directory, or if anything is
    mounted on or under it (as this process sees the host)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(mode=0o755)
        self.dir = directory
        self.file = directory / "sentinel"
        self.file.write_text(os.urandom(16).hex())
        self.file.chmod(0o600)
        self._was = self._state()

    def _state(self) -> tuple[object, ...]:
        return (self.file.read_bytes(), _stat_key(self.file), sorted(os.listdir(self.dir)),
                os.lstat(self.dir).st_mtime_ns)

    def check(self) -> None:
        assert self._state() == self._was, "the host sentinel changed"
        assert mounts_mentioning(str(self.dir)) == [], "something is mounted on the sentinel"


# Where an escaping layer entry or mount would land first on the host.
ESCAPE_PATHS = ("/etc/unbroken", "/etc/localpasswd", "/etc/emptied", "/breakout", "/escaped",
                "/upandout", "/downandout", "/localpasswd", "/etc/whitedout")


class HostFiles:
    """Host files an escape would change: /etc/passwd, the Python running the
    CLI (CVE-2019-5736 overwrote runc's binary), the launcher script, and the
    python3 probes bind-mount; and names an escaping layer would create."""

    def __init__(self) -> None:
        paths = {"/etc/passwd", "/etc/group", os.path.realpath(sys.executable),
                 os.path.realpath(LAUNCHER), os.path.realpath(HOST_PYTHON)}
        self.files = {p: (_digest(p), _stat_key(p)) for p in sorted(paths) if os.path.exists(p)}
        self.absent = [p for p in ESCAPE_PATHS if not os.path.lexists(p)]

    def check(self) -> None:
        for path, was in self.files.items():
            assert (_digest(path), _stat_key(path)) == was, f"host file {path} changed"
        for path in self.absent:
            assert not os.path.lexists(path), f"{path} appeared on the host"


# -- attack images ---------------------------------------------------------------------


def busybox_base() -> list[Entry]:
    """The base layer of ocibuild's busybox (the host's static busybox, users root/app/nobody)."""
    return ocibuild.busybox_layers()[0]


def build(layout: Path, name: str, layers: list[list[Entry]],
          config: dict[str, object] | None = None, *, base: bool = True) -> str:
    """Write image ``name`` (a whole reference: ``attacks/x:1``) into ``layout``: busybox
    plus ``layers`` (``base=False``: just ``layers``); return the name. Layers are
    plain tars: compression is not what these tests attack, and it saves time."""
    ocibuild.build_image(str(layout), name, [busybox_base(), *layers] if base else layers,
                         config_extra=config, compression="none")
    return name


def load(cli: Cli, layout: Path) -> subprocess.CompletedProcess[str]:
    return cli.run("load", "-q", "-i", str(layout), timeout=60)


def load_ok(cli: Cli, layout: Path) -> None:
    res = load(cli, layout)
    assert res.returncode == 0, res.stderr


def indexed(root: Path) -> set[str]:
    """References (and dangling ids) in the store's image index, read in-process:
    a ``launcher images`` call per check would cost 0.2 s."""
    from launcher.image import index

    path = root / "storage" / "images.json"
    return set(index.read(str(path)).get("images", {})) if path.exists() else set()


def storage_names(root: Path, *sub: str) -> set[str]:
    """Entries of ``root/storage/<sub>`` (an absent directory is empty)."""
    try:
        return set(os.listdir(root.joinpath("storage", *sub)))
    except FileNotFoundError:
        return set()


class Detached:
    """``run -d --name NAME ... ``; ``rm -f`` on exit. A context manager."""

    def __init__(self, cli: Cli, name: str, *args: str) -> None:
        self.cli = cli
        self.name = name
        self.args = args

    def __enter__(self) -> Detached:
        res = self.cli.run("run", "-d", "--name", self.name, *self.args)
        assert res.returncode == 0, res.stderr
        return self

    def __exit__(self, *exc: object) -> None:
        self.cli.run("rm", "-f", self.name)

    def exec(self, *args: str, timeout: float = HANG_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """``exec [OPTIONS...] NAME CMD...``: options before the first ``--``-less word
        that is not an option are passed through (``exec("-u", "1000", "--", "id")``)."""
        if "--" in args:
            i = args.index("--")
            opts, cmd = args[:i], args[i + 1:]
        else:
            opts, cmd = (), args
        return self.cli.run("exec", *opts, self.name, *cmd, timeout=timeout)


def host_python_mounts() -> tuple[str, ...]:
    """``HOST_PY`` plus the library directory of the Python running the CLI (its
    libpython and stdlib, not its binary), so that interpreter, once running,
    can start inside a container too."""
    lib = os.path.join(os.path.realpath(sys.base_prefix), "lib")
    extra = () if lib.startswith("/usr/") else ("-v", f"{lib}:{lib}:ro")
    return (*HOST_PY, *extra)


def identity(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def build_from_tars(layout: Path, name: str, tars: list[bytes],
                    config: dict[str, object] | None = None) -> str:
    """An image of ready-made (uncompressed) layer tars, for layers ocibuild's
    entries cannot express (pax xattr headers); added to ``layout``'s index."""
    import json

    def blob(data: bytes) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (layout / "blobs" / "sha256" / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    def canonical(doc: object) -> bytes:
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    arch, variant = ocibuild.host_platform()
    image_config = {
        "architecture": arch, "os": "linux", **({"variant": variant} if variant else {}),
        "config": {"Env": [ocibuild.PATH_ENV], "Cmd": ["/bin/sh"], **(config or {})},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest() for t in tars]}}
    manifest = canonical({
        "schemaVersion": 2, "mediaType": ocibuild.MT_MANIFEST,
        "config": {"mediaType": ocibuild.MT_CONFIG, **blob(canonical(image_config))},
        "layers": [{"mediaType": ocibuild.MT_LAYER["none"], **blob(t)} for t in tars]})
    entry = {"mediaType": ocibuild.MT_MANIFEST, **blob(manifest),
             "annotations": {ocibuild.REF_NAME: name}}
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_bytes(canonical(
        {"schemaVersion": 2, "mediaType": ocibuild.MT_INDEX, "manifests": [entry]}))
    return name
