"""Guest images: where a machine's kernel, initrd and disk come from.

An image is described by an ``image.json`` (what ``provision/build.py``
writes, and what ``vm-images/manifest.json`` lists per architecture): the
``kernel``, ``initrd``, ``disk`` and ``probe`` files with their sha256, the
kernel command line and the recipe key. Sources, in order:

* ``--image PATH`` — a directory holding ``image.json`` (or the file itself);
* ``--image URL`` — an ``image.json`` over http(s); its files are fetched
  relative to it;
* no ``--image`` — ``vm-images/manifest.json``'s entry for this architecture
  if it names a URL; otherwise (no published image, as on an offline Linux
  host) the image is built with ``provision/`` once and cached under the
  recipe's hash (the recipe, launcher's own sources and pyproject.toml).

Every file is verified against its sha256 before use and kept in a
content-addressed cache (``storage/vm-images/sha256/<hex>``); a mismatch is
refused and nothing of it is kept. The directory a machine boots from
(``storage/vm-images/images/<key>/``) holds hard links into that cache.
"""

from __future__ import annotations

import os

from launcher import fastjson
from launcher.errors import ImageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.paths import Paths

FILES = {"kernel": "vmlinuz", "initrd": "initrd.img", "disk": "disk.qcow2", "probe": "probe.img"}
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


CACHE_ENV = "LAUNCHER_VM_IMAGES"  # another cache directory (tests share one across roots)


def cache_dir(paths: Paths) -> str:
    return os.environ.get(CACHE_ENV) or os.path.join(paths.storage, "vm-images")


def sha256_file(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def recipe_key() -> str:
    """sha256 over provision/, launcher's sources and pyproject.toml."""
    import hashlib

    h = hashlib.sha256()
    for top in ("provision", "launcher"):
        for base, dirs, files in os.walk(os.path.join(SRC, top)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(f for f in files if not f.endswith(".pyc")):
                path = os.path.join(base, name)
                h.update(os.path.relpath(path, SRC).encode() + b"\0")
                h.update(bytes.fromhex(sha256_file(path)))
    h.update(bytes.fromhex(sha256_file(os.path.join(SRC, "pyproject.toml"))))
    return h.hexdigest()


def _read_manifest(data: bytes, where: str) -> dict[str, object]:
    try:
        doc = fastjson.loads(data)
    except ValueError as exc:
        raise ImageError(f"{where}: not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ImageError(f"{where}: not an image manifest")
    for key in ("kernel", "initrd", "disk"):
        entry = doc.get(key)
        if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
                and len(entry["sha256"]) == 64):
            raise ImageError(f"{where}: no sha256 for {key}")
    return doc


def _store_verified(paths: Paths, src: str, want: str, what: str) -> str:
    """Copy ``src`` into the cache if its sha256 is ``want``; the cache path."""
    import shutil

    blobs = os.path.join(cache_dir(paths), "sha256")
    dest = os.path.join(blobs, want)
    if os.path.exists(dest):
        return dest
    os.makedirs(blobs, mode=0o700, exist_ok=True)
    tmp = f"{dest}.{os.getpid()}.tmp"
    try:
        shutil.copyfile(src, tmp)
        got = sha256_file(tmp)
        if got != want:
            raise ImageError(f"{what}: sha256 {got} does not match the manifest's {want}; "
                             "refusing it")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def _link_image(paths: Paths, key: str, doc: dict[str, object],
                blobs: dict[str, str]) -> str:
    out = os.path.join(cache_dir(paths), "images", key)
    if os.path.isdir(out):
        return out
    tmp = f"{out}.{os.getpid()}.tmp"
    os.makedirs(tmp, mode=0o700)
    for key_, blob in blobs.items():
        os.link(blob, os.path.join(tmp, FILES[key_]))
    with open(os.path.join(tmp, "image.json"), "wb") as f:
        f.write(fastjson.dumps(doc, indent=2).encode())
    try:
        os.rename(tmp, out)
    except OSError:  # a concurrent init made it first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return out


def from_directory(paths: Paths, path: str) -> str:
    """Verify a local image (directory with image.json, or the file) into the cache."""
    manifest = path if path.endswith(".json") else os.path.join(path, "image.json")
    try:
        with open(manifest, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ImageError(f"cannot read image manifest {manifest}: {exc.strerror}") from None
    doc = _read_manifest(data, manifest)
    base = os.path.dirname(manifest)
    blobs = {}
    for key in FILES:
        entry = doc.get(key)
        if isinstance(entry, dict):
            src = os.path.join(base, str(entry.get("file", FILES[key])))
            blobs[key] = _store_verified(paths, src, str(entry["sha256"]), src)
    import hashlib

    return _link_image(paths, hashlib.sha256(data).hexdigest(), doc, blobs)


def from_url(paths: Paths, url: str) -> str:
    """Download an image.json and its files, verifying each into the cache."""
    import hashlib
    import tempfile
    import urllib.parse

    data = _fetch(url, None)
    doc = _read_manifest(data, url)
    blobs = {}
    with tempfile.TemporaryDirectory(dir=_tmp(paths)) as tmp:
        for key in FILES:
            entry = doc.get(key)
            if not isinstance(entry, dict):
                continue
            want = str(entry["sha256"])
            cached = os.path.join(cache_dir(paths), "sha256", want)
            if not os.path.exists(cached):
                src = urllib.parse.urljoin(url, str(entry.get("file", FILES[key])))
                part = os.path.join(tmp, key)
                _fetch(src, part)
                cached = _store_verified(paths, part, want, src)
            blobs[key] = cached
    return _link_image(paths, hashlib.sha256(data).hexdigest(), doc, blobs)


def _tmp(paths: Paths) -> str:
    d = os.path.join(cache_dir(paths), "tmp")
    os.makedirs(d, mode=0o700, exist_ok=True)
    return d


def _fetch(url: str, dest: str | None) -> bytes:
    import shutil
    import urllib.error
    import urllib.request

    if not url.startswith(("https://", "http://")):
        raise ImageError(f"unsupported image URL {url!r} (http or https)")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            if dest is None:
                return bytes(resp.read(1 << 20))
            with open(dest, "wb") as f:
                shutil.copyfileobj(resp, f, 1 << 20)
            return b""
    except (urllib.error.URLError, OSError) as exc:
        raise ImageError(f"cannot download {url}: {getattr(exc, 'reason', exc)}") from None


def built(paths: Paths, arch: str) -> str:
    """The image built by ``provision/`` for this checkout (once per recipe key)."""
    import sys

    if not sys.platform.startswith("linux"):
        raise ImageError("no published guest image is reachable, and images are built only "
                         "on Linux hosts (provision/ needs apt and mkfs.ext4): use "
                         "`launcher machine init --image PATH|URL`")
    key = recipe_key()
    out = os.path.join(cache_dir(paths), "images", f"built-{arch}-{key}")
    if os.path.isdir(out):
        return out
    os.makedirs(cache_dir(paths), mode=0o700, exist_ok=True)
    import fcntl

    with open(os.path.join(cache_dir(paths), "build.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; the next one reuses it
        if os.path.isdir(out):
            return out
        built_dir = _build(paths, key, arch, out)
        prune_built(paths, keep=built_dir)
        return built_dir


KEEP_BUILT = 2  # the newest built images kept besides the ones machines use


def prune_built(paths: Paths, keep: str) -> list[str]:
    """Remove built images no machine of this root uses, beyond the newest few
    (a source change means a new recipe key, hence a new image)."""
    import shutil

    from launcher.vm.machine import Machine, list_names

    images_dir = os.path.join(cache_dir(paths), "images")
    used = {keep}
    for name in list_names(paths):
        try:
            used.add(Machine.load(paths, name).image_dir)
        except Exception:
            continue
    built = sorted((os.path.join(images_dir, n) for n in os.listdir(images_dir)
                    if n.startswith("built-")), key=os.path.getmtime, reverse=True)
    gone = [d for d in built[KEEP_BUILT:] if d not in used]
    for d in gone:
        shutil.rmtree(d, ignore_errors=True)
    blobs = os.path.join(cache_dir(paths), "sha256")
    for name in os.listdir(blobs) if gone and os.path.isdir(blobs) else []:
        path = os.path.join(blobs, name)
        if len(name) == 64 and os.stat(path).st_nlink == 1:  # no image links it any more
            os.unlink(path)
    return gone


def _build(paths: Paths, key: str, arch: str, out: str) -> str:
    import shutil
    import sys
    import tempfile

    recipe = os.path.join(SRC, "provision", "build.py")
    if not os.path.exists(recipe):
        raise ImageError("no published image for this version and no provision/ recipe "
                         "here to build one (install from a source checkout, or use --image)")
    with tempfile.TemporaryDirectory(dir=_tmp(paths)) as tmp:
        _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
              "--disable-pip-version-check", "-w", os.path.join(tmp, "wheel"), SRC],
             "build launcher's wheel")
        wheel = os.path.join(tmp, "wheel", os.listdir(os.path.join(tmp, "wheel"))[0])
        _run([sys.executable, recipe, "--out", os.path.join(tmp, "image"), "--arch", arch,
              "--wheel", wheel, "--key", key], "build the guest image (provision/build.py)")
        image = from_directory(paths, os.path.join(tmp, "image"))
        os.rename(image, out)
        shutil.rmtree(os.path.join(tmp, "image"), ignore_errors=True)
    return out


def _run(argv: list[str], what: str) -> None:
    import subprocess

    res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         check=False)
    if res.returncode != 0:
        tail = " ".join(res.stderr.strip().splitlines()[-3:])
        raise ImageError(f"cannot {what}: {tail or f'exit status {res.returncode}'}")


def published(arch: str) -> str | None:
    """The URL of vm-images/manifest.json's image for ``arch``, if it lists one."""
    try:
        with open(os.path.join(SRC, "vm-images", "manifest.json"), "rb") as f:
            doc = fastjson.loads(f.read())
    except (OSError, ValueError):
        return None
    entry = doc.get("images", {}).get(arch) if isinstance(doc, dict) else None
    url = entry.get("url") if isinstance(entry, dict) else None
    return url if isinstance(url, str) and url else None


def resolve(paths: Paths, image: str | None, arch: str) -> str:
    """The image directory for ``machine init --image`` (or its default)."""
    if image:
        if "://" in image:
            return from_url(paths, image)
        return from_directory(paths, os.path.abspath(image))
    url = published(arch)
    if url:
        try:
            return from_url(paths, url)
        except ImageError:
            pass  # unreachable (offline): build it instead, below
    return built(paths, arch)
