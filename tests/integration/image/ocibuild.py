"""Deterministic OCI image layouts for integration tests, and skopeo helpers to push them.

A layout is a directory holding ``oci-layout``, ``index.json`` and ``blobs/sha256/``;
several tags may share one (``build_image`` adds or replaces the entry named by
``org.opencontainers.image.ref.name``). The same inputs always give the same
digests: tar headers carry a fixed mtime and no user names, gzip a zero mtime.

Layer entries are built with :func:`file`, :func:`dir_`, :func:`symlink`,
:func:`hardlink`, :func:`whiteout`, :func:`opaque`, :func:`device` and :func:`fifo`.
Ready-made images: :func:`busybox_layers`, :func:`build_busybox`,
:func:`build_multilayer` (with :data:`MULTILAYER_EXPECTED`), :func:`build_multiarch`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import stat
import subprocess
import tarfile
import tempfile

MTIME = 1_600_000_000
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

# -- layer entries ---------------------------------------------------------------------


class Entry:
    """One tar member of a layer. Names are relative (``bin/sh``); a leading ``/`` is dropped."""

    __slots__ = ("data", "devmajor", "devminor", "gid", "kind", "linkname", "mode", "name", "uid")

    def __init__(
        self,
        name: str,
        kind: bytes,
        mode: int,
        *,
        data: bytes = b"",
        linkname: str = "",
        uid: int = 0,
        gid: int = 0,
        devmajor: int = 0,
        devminor: int = 0,
    ) -> None:
        self.name = name.lstrip("/")
        self.kind, self.mode, self.data, self.linkname = kind, mode, data, linkname
        self.uid, self.gid, self.devmajor, self.devminor = uid, gid, devmajor, devminor

    def tarinfo(self) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(self.name)
        ti.type, ti.mode, ti.mtime = self.kind, self.mode, MTIME
        ti.uid, ti.gid, ti.uname, ti.gname = self.uid, self.gid, "", ""
        ti.linkname = self.linkname
        ti.devmajor, ti.devminor = self.devmajor, self.devminor
        if self.kind == tarfile.REGTYPE:
            ti.size = len(self.data)
        return ti


def file(
    name: str, data: bytes | str = b"", mode: int = 0o644, uid: int = 0, gid: int = 0
) -> Entry:
    """A regular file; ``mode`` may carry setuid/setgid/sticky bits (``0o4755``)."""
    raw = data.encode() if isinstance(data, str) else data
    return Entry(name, tarfile.REGTYPE, mode, data=raw, uid=uid, gid=gid)


def dir_(name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Entry:
    return Entry(name, tarfile.DIRTYPE, mode, uid=uid, gid=gid)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, tarfile.SYMTYPE, 0o777, linkname=target)


def hardlink(name: str, target: str) -> Entry:
    """A hard link to ``target``, a path from the root of the image (as tar stores it)."""
    return Entry(name, tarfile.LNKTYPE, 0o644, linkname=target.lstrip("/"))


def whiteout(path: str) -> Entry:
    """Delete ``path`` from the layers below: ``dir/.wh.name``."""
    head, _, base = path.strip("/").rpartition("/")
    return Entry(f"{head}/.wh.{base}" if head else f".wh.{base}", tarfile.REGTYPE, 0o644)


def opaque(dirpath: str) -> Entry:
    """Hide everything the layers below put in ``dirpath``: ``dirpath/.wh..wh..opq``."""
    return Entry(f"{dirpath.strip('/')}/.wh..wh..opq", tarfile.REGTYPE, 0o644)


def device(name: str, kind: str, major: int, minor: int, mode: int = 0o666) -> Entry:
    """A character (``kind="c"``) or block (``"b"``) device node."""
    tar_kind = {"c": tarfile.CHRTYPE, "b": tarfile.BLKTYPE}[kind]
    return Entry(name, tar_kind, mode, devmajor=major, devminor=minor)


def fifo(name: str, mode: int = 0o644) -> Entry:
    return Entry(name, tarfile.FIFOTYPE, mode)


def layer_tar(entries: list[Entry]) -> bytes:
    """The uncompressed tar of ``entries``, in the order given."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for entry in entries:
            data = io.BytesIO(entry.data) if entry.kind == tarfile.REGTYPE else None
            tf.addfile(entry.tarinfo(), data)
    return buf.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3).compress(data)
    if compression == "none":
        return data
    raise ValueError(f"unknown compression {compression!r}")


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
    runtime: dict[str, object] = {"Env": [PATH_ENV], "Cmd": ["/bin/sh"]}
    runtime.update(config_extra or {})
    config: dict[str, object] = {
        "created": CREATED,
        "architecture": arch,
        "os": "linux",
        "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": CREATED, "created_by": "ocibuild"} for _ in layers],
    }
    if variant:
        config["variant"] = variant
    config_bytes = _canonical(config)
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


class ExpectedTree:
    """What an unpacked image must hold (paths relative to the rootfs).

    ``files``: regular file -> content; ``modes``: path -> permission bits incl.
    setuid (``stat.S_IMODE``); ``symlinks``: path -> target; ``dirs``: directories;
    ``hardlinks``: path -> path it must share an inode with; ``absent``: must not exist.
    """

    __slots__ = ("absent", "dirs", "files", "hardlinks", "modes", "symlinks")

    def __init__(
        self,
        files: dict[str, bytes],
        *,
        modes: dict[str, int] | None = None,
        symlinks: dict[str, str] | None = None,
        dirs: list[str] | None = None,
        hardlinks: dict[str, str] | None = None,
        absent: list[str] | None = None,
    ) -> None:
        self.files = files
        self.modes = modes or {}
        self.symlinks = symlinks or {}
        self.dirs = dirs or []
        self.hardlinks = hardlinks or {}
        self.absent = absent or []

    def check(self, rootfs: str) -> list[str]:
        """Every way ``rootfs`` differs from this description (empty when it matches)."""
        problems: list[str] = []

        def lstat(rel: str) -> os.stat_result | None:
            try:
                return os.lstat(os.path.join(rootfs, rel))
            except FileNotFoundError:
                return None

        for rel, content in self.files.items():
            st = lstat(rel)
            if st is None or not stat.S_ISREG(st.st_mode):
                problems.append(f"{rel}: not a regular file")
                continue
            with open(os.path.join(rootfs, rel), "rb") as f:
                if f.read() != content:
                    problems.append(f"{rel}: content differs")
        for rel, mode in self.modes.items():
            st = lstat(rel)
            if st is None or stat.S_IMODE(st.st_mode) != mode:
                problems.append(f"{rel}: mode is not {mode:o}")
        for rel, target in self.symlinks.items():
            st = lstat(rel)
            if st is None or not stat.S_ISLNK(st.st_mode):
                problems.append(f"{rel}: not a symlink")
            elif os.readlink(os.path.join(rootfs, rel)) != target:
                problems.append(f"{rel}: symlink target is not {target}")
        for rel in self.dirs:
            st = lstat(rel)
            if st is None or not stat.S_ISDIR(st.st_mode):
                problems.append(f"{rel}: not a directory")
        for rel, other in self.hardlinks.items():
            a, b = lstat(rel), lstat(other)
            if a is None or b is None or (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):
                problems.append(f"{rel}: not a hard link to {other}")
        problems += [f"{rel}: should not exist" for rel in self.absent if lstat(rel) is not None]
        return problems


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


# -- skopeo ------------------------------------------------------------------------------


class SkopeoError(RuntimeError):
    """skopeo failed; the message carries its command line and stderr."""


def push_with_skopeo(
    layout_dir: str,
    tag: str,
    registry_host: str,
    repo_tag: str,
    *,
    all: bool = False,  # skopeo's own flag name
    creds: str | tuple[str, str] | None = None,
) -> None:
    """``skopeo copy oci:DIR:TAG docker://HOST/REPO:TAG`` over plain HTTP.

    ``all`` copies every image of an index (``--all``); ``creds`` is ``"user:pw"``
    or ``(user, pw)``.
    """
    args = ["copy", "--dest-tls-verify=false", "--retry-times=0"]
    if all:
        args.append("--all")
    if creds is not None:
        args.append("--dest-creds=" + _creds(creds))
    args += [f"oci:{layout_dir}:{tag}", f"docker://{registry_host}/{repo_tag}"]
    run_skopeo(args)


def skopeo_inspect(
    registry_host: str,
    repo_ref: str,
    *,
    creds: str | tuple[str, str] | None = None,
    raw: bool = False,
) -> dict[str, object]:
    """``skopeo inspect [--raw] docker://HOST/REPO_REF`` parsed as JSON."""
    args = ["inspect", "--tls-verify=false", "--retry-times=0"]
    if raw:
        args.append("--raw")
    if creds is not None:
        args.append("--creds=" + _creds(creds))
    args.append(f"docker://{registry_host}/{repo_ref}")
    result: dict[str, object] = json.loads(run_skopeo(args))
    return result


def run_skopeo(args: list[str]) -> str:
    """Run skopeo with a private accept-anything policy and no ambient auth file."""
    with tempfile.TemporaryDirectory(prefix="launcher-test-skopeo-") as tmp:
        policy = os.path.join(tmp, "policy.json")
        with open(policy, "w", encoding="utf-8") as f:
            f.write('{"default": [{"type": "insecureAcceptAnything"}]}\n')
        # A missing auth file keeps host credentials (if any) out of the tests.
        env = {**os.environ, "REGISTRY_AUTH_FILE": os.path.join(tmp, "auth.json")}
        cmd = ["skopeo", "--policy", policy, *args]
        proc = subprocess.run(cmd, capture_output=True, env=env, timeout=300, check=False)
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        raise SkopeoError(f"{' '.join(cmd[3:])} failed ({proc.returncode}):\n{stderr}")
    return proc.stdout.decode("utf-8", "replace")


# -- internals ---------------------------------------------------------------------------


def _creds(creds: str | tuple[str, str]) -> str:
    return creds if isinstance(creds, str) else f"{creds[0]}:{creds[1]}"


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
