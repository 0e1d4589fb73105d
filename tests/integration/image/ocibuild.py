"""Deterministic OCI image layouts for integration tests.

A layout is a directory holding ``oci-layout``, ``index.json`` and ``blobs/sha256/``;
several tags may share one (``build_image`` adds or replaces the entry named by
``org.opencontainers.image.ref.name``). The same inputs always give the same
digests: tar headers carry a fixed mtime and no user names, gzip a zero mtime.

Layer entries (:func:`file`, :func:`dir_`, :func:`symlink`, :func:`hardlink`,
:func:`whiteout`, :func:`opaque`, :func:`device`, :func:`fifo`) come from
layertar.py, :class:`ExpectedTree` from expectedtree.py and the skopeo helpers
(:func:`push_with_skopeo`, :func:`skopeo_inspect`, :func:`run_skopeo`,
:class:`SkopeoError`) from skopeo.py; all are importable from here too.
Ready-made images: :func:`busybox_layers`, :func:`build_busybox`,
:func:`build_multilayer` (with :data:`MULTILAYER_EXPECTED`), :func:`build_multiarch`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform

from tests.integration.image.expectedtree import ExpectedTree
from tests.integration.image.layertar import MTIME as MTIME
from tests.integration.image.layertar import (
    Entry,
    compress,
    dir_,
    file,
    hardlink,
    layer_tar,
    opaque,
    symlink,
    whiteout,
)
from tests.integration.image.layertar import device as device
from tests.integration.image.layertar import fifo as fifo
from tests.integration.image.skopeo import SkopeoError as SkopeoError
from tests.integration.image.skopeo import push_with_skopeo as push_with_skopeo
from tests.integration.image.skopeo import run_skopeo as run_skopeo
from tests.integration.image.skopeo import skopeo_inspect as skopeo_inspect

CREATED = "2020-09-13T12:26:40Z"  # MTIME as RFC 3339

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}
REF_NAME = "org.opencontainers.image.ref.name"
BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "echo", "cat", "ls", "true", "false", "sleep", "id", "env", "test")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# -- layouts -----------------------------------------------------------------------------


def host_platform() -> tuple[str, str | None]:
    """The OCI (architecture, variant) of this machine."""
    machine = platform.machine()
    table: dict[str, tuple[str, str | None]] = {
        "x86_64": ("amd64", None),
        "amd64": ("amd64", None),
        "aarch64": ("arm64", "v8"),
        "arm64": ("arm64", "v8"),
        "armv7l": ("arm", "v7"),
        "i686": ("386", None),
    }
    return table.get(machine, (machine, None))


class ImageInfo:
    """What :func:`build_image` wrote (digests are ``sha256:...``)."""

    __slots__ = (
        "arch",
        "config_digest",
        "diff_ids",
        "layer_digests",
        "layer_media_type",
        "manifest",
        "manifest_digest",
        "variant",
    )

    def __init__(
        self,
        manifest: bytes,
        config_digest: str,
        layer_digests: list[str],
        diff_ids: list[str],
        layer_media_type: str,
        arch: str,
        variant: str | None,
    ) -> None:
        self.manifest = manifest  # the manifest's exact bytes
        self.manifest_digest = _digest(manifest)
        self.config_digest = config_digest
        self.layer_digests = layer_digests
        self.diff_ids = diff_ids
        self.layer_media_type = layer_media_type
        self.arch, self.variant = arch, variant

    def descriptor(self) -> dict[str, object]:
        """This manifest's descriptor, with its platform (for an index)."""
        plat: dict[str, str] = {"architecture": self.arch, "os": "linux"}
        if self.variant:
            plat["variant"] = self.variant
        return {
            "mediaType": MT_MANIFEST,
            "digest": self.manifest_digest,
            "size": len(self.manifest),
            "platform": plat,
        }


class IndexInfo:
    """What :func:`build_multiarch` wrote: the index and one :class:`ImageInfo` per platform."""

    __slots__ = ("index", "index_digest", "manifests")

    def __init__(self, index: bytes, manifests: dict[str, ImageInfo]) -> None:
        self.index = index
        self.index_digest = _digest(index)
        self.manifests = manifests  # "linux/amd64", "linux/arm64/v8", "linux/arm/v7" -> info


def build_image(
    layout: str,
    tag: str,
    layers: list[list[Entry]],
    *,
    compression: str = "gzip",
    config_extra: dict[str, object] | None = None,
    arch: str | None = None,
    variant: str | None = None,
    tagged: bool = True,
) -> ImageInfo:
    """Write an image to the OCI layout ``layout`` and tag it ``tag``.

    ``config_extra`` is merged into the image config's runtime ``config`` section
    (``Env``, ``Cmd``, ``Entrypoint``, ``User``, ``WorkingDir``, ...). ``arch``
    and ``variant`` default to the host's. With ``tagged=False`` the blobs are
    written but index.json is not touched (for an index's children).
    """
    if arch is None:
        arch, variant = host_platform()
    layer_mt = MT_LAYER[compression]
    layer_descs, diff_ids = [], []
    for entries in layers:
        tar = layer_tar(entries)
        blob = compress(tar, compression)
        diff_ids.append(_digest(tar))
        layer_descs.append(_descriptor(layer_mt, _write_blob(layout, blob), len(blob)))
    config_bytes = _canonical(_image_config(diff_ids, config_extra, arch, variant))
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": _descriptor(MT_CONFIG, _write_blob(layout, config_bytes), len(config_bytes)),
        "layers": layer_descs,
    }
    manifest_bytes = _canonical(manifest)
    _write_blob(layout, manifest_bytes)
    info = ImageInfo(
        manifest_bytes,
        _digest(config_bytes),
        [str(d["digest"]) for d in layer_descs],
        diff_ids,
        layer_mt,
        arch,
        variant,
    )
    if tagged:
        _tag(layout, tag, _descriptor(MT_MANIFEST, info.manifest_digest, len(manifest_bytes)))
    return info


def _image_config(
    diff_ids: list[str], config_extra: dict[str, object] | None, arch: str, variant: str | None
) -> dict[str, object]:
    """The image config of :func:`build_image` (one history entry per layer)."""
    runtime: dict[str, object] = {"Env": [PATH_ENV], "Cmd": ["/bin/sh"]}
    runtime.update(config_extra or {})
    config: dict[str, object] = {
        "created": CREATED,
        "architecture": arch,
        "os": "linux",
        "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": CREATED, "created_by": "ocibuild"} for _ in diff_ids],
    }
    if variant:
        config["variant"] = variant
    return config


def busybox_layers() -> list[list[Entry]]:
    """One base layer: the host's static /bin/busybox, applet links, users and groups.

    Users: root (0), nobody (65534) and ``app`` (1000:1000, home /home/app).
    """
    with open(BUSYBOX, "rb") as f:
        busybox = f.read()
    passwd = (
        "root:x:0:0:root:/root:/bin/sh\n"
        "app:x:1000:1000:app:/home/app:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    group = "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n"
    entries = [
        dir_("bin"),
        file("bin/busybox", busybox, 0o755),
        *(symlink(f"bin/{name}", "busybox") for name in APPLETS),
        dir_("etc"),
        file("etc/passwd", passwd),
        file("etc/group", group),
        dir_("home"),
        dir_("home/app", 0o755, uid=1000, gid=1000),
        dir_("root", 0o700),
        dir_("tmp", 0o1777),
        dir_("dev"),
        dir_("proc"),
        dir_("sys"),
    ]
    return [entries]


def build_busybox(layout: str, tag: str, *, compression: str = "gzip") -> ImageInfo:
    """A runnable one-layer busybox image (``Cmd: ["/bin/sh"]``)."""
    return build_image(layout, tag, busybox_layers(), compression=compression)


# What build_multilayer's image must unpack to (of the busybox base, only a few checks).
MULTILAYER_EXPECTED = ExpectedTree(
    {
        "data/keep.txt": b"keep\n",
        "data/hard": b"keep\n",
        "data/added.txt": b"added in layer 3\n",
        "etc/motd": b"layer 3 motd\n",  # layer 2's motd replaced
        "opt/app/new.txt": b"after the opaque dir\n",  # same layer as the opaque marker
        "usr/local/bin/suid": b"#!/bin/sh\necho suid\n",
    },
    modes={"usr/local/bin/suid": 0o4755, "var/private": 0o700, "tmp": 0o1777},
    symlinks={"data/link": "keep.txt", "bin/sh": "busybox"},
    dirs=["data", "opt/app", "var/private", "home/app"],
    hardlinks={"data/hard": "data/keep.txt"},
    absent=[
        "data/gone.txt",  # whited out in layer 3
        "opt/app/old.txt",  # hidden by the opaque dir
        "opt/app/sub",  # hidden by the opaque dir
        "data/.wh.gone.txt",  # whiteout markers never reach the rootfs
        "opt/app/.wh..wh..opq",
    ],
)


def multilayer_layers() -> list[list[Entry]]:
    """Busybox base, a layer of files and dirs, a layer with a whiteout and an opaque dir."""
    layer2 = [
        dir_("data"),
        file("data/keep.txt", "keep\n"),
        file("data/gone.txt", "gone\n"),
        symlink("data/link", "keep.txt"),
        hardlink("data/hard", "data/keep.txt"),
        dir_("opt"),
        dir_("opt/app"),
        file("opt/app/old.txt", "old\n"),
        dir_("opt/app/sub"),
        file("opt/app/sub/deep.txt", "deep\n"),
        file("etc/motd", "layer 2 motd\n"),
        dir_("usr"),
        dir_("usr/local"),
        dir_("usr/local/bin"),
        file("usr/local/bin/suid", "#!/bin/sh\necho suid\n", 0o4755),
        dir_("var"),
        dir_("var/private", 0o700),
    ]
    layer3 = [
        whiteout("data/gone.txt"),
        file("data/added.txt", "added in layer 3\n"),
        opaque("opt/app"),
        file("opt/app/new.txt", "after the opaque dir\n"),
        file("etc/motd", "layer 3 motd\n"),
    ]
    return [*busybox_layers(), layer2, layer3]


def build_multilayer(layout: str, tag: str, *, compression: str = "gzip") -> ImageInfo:
    """Three layers; the final tree is described by :data:`MULTILAYER_EXPECTED`."""
    return build_image(layout, tag, multilayer_layers(), compression=compression)


MULTIARCH_PLATFORMS = (("amd64", None), ("arm64", "v8"), ("arm", "v7"))


def build_multiarch(layout: str, tag: str) -> IndexInfo:
    """An OCI index for linux/amd64, linux/arm64/v8 and linux/arm/v7.

    Every image has a file ``/arch`` holding its platform (``"linux/arm64/v8\\n"``).
    The host's platform is busybox plus that file (runnable); the others are just
    the one-file layer.
    """
    host = host_platform()
    manifests: dict[str, ImageInfo] = {}
    for arch, variant in MULTIARCH_PLATFORMS:
        name = f"linux/{arch}" + (f"/{variant}" if variant else "")
        marker = [file("arch", name + "\n")]
        layers = [*busybox_layers(), marker] if (arch, variant) == host else [marker]
        manifests[name] = build_image(layout, tag, layers, arch=arch, variant=variant, tagged=False)
    index = {
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [info.descriptor() for info in manifests.values()],
    }
    index_bytes = _canonical(index)
    _write_blob(layout, index_bytes)
    _tag(layout, tag, _descriptor(MT_INDEX, _digest(index_bytes), len(index_bytes)))
    return IndexInfo(index_bytes, manifests)


# -- internals ---------------------------------------------------------------------------


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _descriptor(media_type: str, digest: str, size: int) -> dict[str, object]:
    return {"mediaType": media_type, "digest": digest, "size": size}


def _write_blob(layout: str, data: bytes) -> str:
    """Store ``data`` under blobs/sha256 (creating the layout skeleton); return its digest."""
    digest = _digest(data)
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    marker = os.path.join(layout, "oci-layout")
    if not os.path.exists(marker):
        with open(marker, "w", encoding="utf-8") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')
    path = os.path.join(blobs, digest.split(":", 1)[1])
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    return digest


def _tag(layout: str, tag: str, desc: dict[str, object]) -> None:
    """Add ``desc`` to index.json under ``tag``, replacing an entry with that tag."""
    path = os.path.join(layout, "index.json")
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
    except FileNotFoundError:
        index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": []}
    kept = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) != tag]
    kept.append({**desc, "annotations": {REF_NAME: tag}})
    index["manifests"] = kept
    with open(path, "wb") as f:
        f.write(_canonical(index))
