"""The pull benchmark's image and the local registry that serves it.

``build(workdir)`` writes a multi-layer gzip image made of real host files
(binaries, shared libraries, /usr/share, Python's library, headers) as an OCI
image layout under ``workdir``, cached by recipe: a second call returns the
same layout without rebuilding.  The build is deterministic for a given host
(sorted walk, integer mtimes, gzip header without name or time), so digests
only change when the host's files do.  ``Registry`` runs distribution's
``docker-registry`` on 127.0.0.1 with throwaway filesystem storage and pushes
the layout into it with ``skopeo copy``.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import platform
import shutil
import socket
import stat
import subprocess
import tarfile
import time
import urllib.request
import zlib
from collections.abc import Iterator, Mapping
from typing import IO, cast

MB = 1_000_000
# Bump when the recipe or the writer changes: it names the cache directory.
RECIPE_VERSION = 2
# One entry per layer: (name, ((source glob, uncompressed byte budget), ...)).
# Each tree is walked in sorted order and cut at the first file that would
# overflow its budget, so every host gets about the same size whatever its
# /usr holds; the mix gives realistic file counts and
# compressibility (ELF binaries ~2.5x, text and headers ~4x).
LAYERS: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = (
    ("libs", (("/usr/lib/*-linux-gnu", 70 * MB), ("/usr/sbin", 10 * MB))),
    ("bin", (("/usr/bin", 60 * MB),)),
    ("share", (("/usr/share", 60 * MB),)),
    ("python", (("/usr/lib/python3*", 50 * MB),)),
    ("dev", (("/usr/include", 30 * MB), ("/usr/lib/gcc", 40 * MB))),
)
MIN_UNCOMPRESSED = 200 * MB
REF_NAME = "bench"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"


class Layer:
    """One built layer: its blob and what went into it."""

    __slots__ = ("diff_id", "digest", "entries", "files", "name", "size", "tar_size")

    def __init__(self, name: str) -> None:
        self.name = name
        self.digest = ""
        self.diff_id = ""
        self.size = 0  # compressed bytes
        self.tar_size = 0  # uncompressed bytes
        self.entries = 0
        self.files = 0  # regular files, hard links excluded

    def to_json(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Layer:
        layer = cls(str(data["name"]))
        for key in cls.__slots__:
            setattr(layer, key, data[key])
        return layer


class Image:
    """A built OCI layout: where it is, its manifest digest, its layers in order."""

    __slots__ = ("layers", "layout", "manifest_digest")

    def __init__(self, layout: str, manifest_digest: str, layers: list[Layer]) -> None:
        self.layout = layout
        self.manifest_digest = manifest_digest
        self.layers = layers

    def blob(self, digest: str) -> str:
        return os.path.join(self.layout, "blobs", "sha256", digest.removeprefix("sha256:"))

    @property
    def size(self) -> int:
        return sum(layer.size for layer in self.layers)

    @property
    def tar_size(self) -> int:
        return sum(layer.tar_size for layer in self.layers)

    @property
    def files(self) -> int:
        return sum(layer.files for layer in self.layers)

    @property
    def entries(self) -> int:
        return sum(layer.entries for layer in self.layers)

    def describe(self) -> str:
        return (f"{len(self.layers)} gzip layers, {self.size / MB:.1f} MB compressed, "
                f"{self.tar_size / MB:.1f} MB uncompressed, {self.files} files "
                f"({self.entries} tar entries), manifest {self.manifest_digest}")


class _GzipSink:
    """Tar bytes in, gzip level 6 out to ``out``; hashes and counts both sides."""

    __slots__ = ("comp", "gz_hash", "gz_size", "out", "tar_hash", "tar_size")

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        # wbits 31: a gzip wrapper with no file name and mtime 0, so the
        # blob depends on the content only.
        self.comp = zlib.compressobj(6, zlib.DEFLATED, 31)
        self.tar_hash = hashlib.sha256()
        self.gz_hash = hashlib.sha256()
        self.tar_size = 0
        self.gz_size = 0

    def write(self, data: bytes) -> int:
        self.tar_hash.update(data)
        self.tar_size += len(data)
        self._emit(self.comp.compress(data))
        return len(data)

    def finish(self) -> None:
        self._emit(self.comp.flush())

    def _emit(self, data: bytes) -> None:
        if data:
            self.out.write(data)
            self.gz_hash.update(data)
            self.gz_size += len(data)


def _walk(path: str) -> Iterator[tuple[str, os.stat_result]]:
    """(path, lstat) depth-first in name order; symlinks are never followed."""
    st = os.lstat(path)
    yield path, st
    if stat.S_ISDIR(st.st_mode):
        for name in sorted(os.listdir(path)):
            yield from _walk(os.path.join(path, name))


class _LayerWriter:
    """Adds host trees to one tar stream, parents first, within byte budgets."""

    __slots__ = ("added", "layer", "tar")

    def __init__(self, tar: tarfile.TarFile, layer: Layer) -> None:
        self.tar = tar
        self.layer = layer
        self.added: set[str] = set()

    def add_tree(self, root: str, budget: int) -> int:
        """Add ``root``'s tree until ``budget`` file bytes are in; return the bytes used."""
        self._add_parents(os.path.dirname(root))
        used = 0
        for path, st in _walk(root):
            kind = stat.S_IFMT(st.st_mode)
            if kind not in (stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK):
                continue  # sockets, fifos and devices have no place in a layer
            if kind == stat.S_IFREG and used + st.st_size > budget:
                break  # keeps every layer within its budget, even past a huge file
            used += self._add(path)
        return used

    def _add_parents(self, path: str) -> None:
        if path in ("/", ""):
            return
        self._add_parents(os.path.dirname(path))
        self._add(path)

    def _add(self, path: str) -> int:
        arcname = path.lstrip("/")
        if arcname in self.added:
            return 0
        self.added.add(arcname)
        info = self.tar.gettarinfo(path, arcname)
        info.mtime = int(info.mtime)
        self.layer.entries += 1
        if not info.isreg():  # directories, symlinks and hard links carry no data
            self.tar.addfile(info)
            return 0
        with open(path, "rb") as f:
            self.tar.addfile(info, f)
        self.layer.files += 1
        return info.size


def _write_layer(blobs: str, name: str, sources: tuple[tuple[str, int], ...]) -> Layer:
    layer = Layer(name)
    tmp = os.path.join(blobs, f".tmp-{name}")
    with open(tmp, "wb") as out:
        sink = _GzipSink(out)
        # Stream mode ("w|") needs only write(), which is all the sink has.
        with tarfile.open(fileobj=cast(IO[bytes], sink), mode="w|",
                          format=tarfile.PAX_FORMAT) as tar:
            writer = _LayerWriter(tar, layer)
            for pattern, budget in sources:
                for root in sorted(glob.glob(pattern)):
                    if not os.path.islink(root):
                        budget -= writer.add_tree(root, budget)
        sink.finish()
    layer.digest = "sha256:" + sink.gz_hash.hexdigest()
    layer.diff_id = "sha256:" + sink.tar_hash.hexdigest()
    layer.size, layer.tar_size = sink.gz_size, sink.tar_size
    os.rename(tmp, os.path.join(blobs, sink.gz_hash.hexdigest()))
    return layer


def _put_json(blobs: str, doc: Mapping[str, object]) -> tuple[str, int]:
    data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    hexdigest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, hexdigest), "wb") as f:
        f.write(data)
    return "sha256:" + hexdigest, len(data)


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _write_manifest(layout: str, layers: list[Layer]) -> str:
    blobs = os.path.join(layout, "blobs", "sha256")
    config = {
        "architecture": _arch(), "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": f"bench layer {x.name}"}
                    for x in layers],
    }
    config_digest, config_size = _put_json(blobs, config)
    manifest = {
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": LAYER_TYPE, "digest": x.digest, "size": x.size}
                   for x in layers],
    }
    digest, size = _put_json(blobs, manifest)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(layout, "bench-layers.json"), "w") as f:
        json.dump([x.to_json() for x in layers], f, indent=1)
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": MANIFEST_TYPE, "digest": digest, "size": size,
        "annotations": {"org.opencontainers.image.ref.name": REF_NAME}}]}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
    return digest


def _load(layout: str) -> Image:
    with open(os.path.join(layout, "index.json")) as f:
        digest = json.load(f)["manifests"][0]["digest"]
    with open(os.path.join(layout, "bench-layers.json")) as f:
        layers = [Layer.from_json(x) for x in json.load(f)]
    return Image(layout, digest, layers)


def build(workdir: str, log: IO[str]) -> Image:
    """The benchmark image under ``workdir``, built on first use."""
    key = hashlib.sha256(repr((RECIPE_VERSION, LAYERS)).encode()).hexdigest()[:12]
    layout = os.path.join(workdir, f"image-{key}")
    if os.path.exists(os.path.join(layout, "index.json")):
        return _load(layout)
    tmp = layout + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)  # a build that was interrupted
    blobs = os.path.join(tmp, "blobs", "sha256")
    os.makedirs(blobs)
    layers = []
    for name, sources in LAYERS:
        t = time.perf_counter()
        layers.append(_write_layer(blobs, name, sources))
        print(f"  layer {name}: {layers[-1].tar_size / MB:.1f} MB -> "
              f"{layers[-1].size / MB:.1f} MB gzip ({time.perf_counter() - t:.1f} s)", file=log)
    image = Image(layout, _write_manifest(tmp, layers), layers)
    if image.tar_size < MIN_UNCOMPRESSED:
        raise SystemExit(f"this host's /usr gave only {image.tar_size / MB:.0f} MB, "
                         f"under the {MIN_UNCOMPRESSED / MB:.0f} MB the benchmark needs")
    os.rename(tmp, layout)  # the complete layout appears at once
    return image


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    """distribution's ``docker-registry`` on 127.0.0.1, storing under ``base``."""

    __slots__ = ("host", "log", "proc")

    def __init__(self, base: str) -> None:
        self.host = f"127.0.0.1:{_free_port()}"
        storage = os.path.join(base, "registry")
        os.makedirs(storage)
        config = os.path.join(base, "registry.yml")
        with open(config, "w") as f:
            # JSON is YAML: no YAML writer needed.
            json.dump({"version": 0.1, "log": {"level": "error",
                                               "accesslog": {"disabled": True}},
                       "storage": {"filesystem": {"rootdirectory": storage}},
                       "http": {"addr": self.host}}, f)
        self.log = os.path.join(base, "registry.log")
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(["docker-registry", "serve", config],
                                         stdout=out, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        with open(self.log) as f:
            raise SystemExit(f"docker-registry did not come up on {self.host}:\n{f.read()}")

    def push(self, image: Image, repo: str) -> str:
        """Push the layout as ``repo:latest``; return the reference to pull."""
        ref = f"{self.host}/{repo}:latest"
        digestfile = self.log + ".digest"
        subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                        "--digestfile", digestfile, f"oci:{image.layout}:{REF_NAME}",
                        f"docker://{ref}"], check=True)
        with open(digestfile) as f:
            pushed = f.read().strip()
        if pushed != image.manifest_digest:
            print(f"note: the registry holds manifest {pushed} (skopeo rewrote it)")
        return ref

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
