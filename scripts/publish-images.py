#!/usr/bin/env python3
"""Lay out guest images as flat release assets, plus the manifest that lists them.

    scripts/publish-images.py --base-url URL/ --out ASSETS DIR...

Each DIR is a ``provision/build.py`` output (``image.json`` and its files). A
release holds files in one flat namespace, so each image's files are copied as
``<arch>-<file>`` next to ``image-<arch>.json`` (the same sha256s; only the
file names change, and ``launcher machine init`` fetches them relative to that
JSON). ``ASSETS/manifest.json`` is ``vm-images/manifest.json`` for this release:
``{"images": {arch: {"url": URL/image-<arch>.json}}}``. Every file is checked
against its sha256 while copying, so a damaged build is never published.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

FILE_KEYS = ("kernel", "initrd", "disk", "probe")


def publish(src: str, out: str, base_url: str) -> tuple[str, str]:
    """Copy one image into ``out``; returns (arch, URL of its image JSON)."""
    with open(os.path.join(src, "image.json"), encoding="utf-8") as f:
        doc = json.load(f)
    arch = str(doc["arch"])
    for key in FILE_KEYS:
        entry = doc.get(key)
        if not isinstance(entry, dict):
            continue
        name = str(entry["file"])
        if os.path.basename(name) != name:
            raise SystemExit(f"{src}: {key} file {name!r} is not a plain name")
        target = f"{arch}-{name}"
        digest = hashlib.sha256()
        with open(os.path.join(src, name), "rb") as r, \
                open(os.path.join(out, target), "wb") as w:
            while chunk := r.read(1 << 20):
                digest.update(chunk)
                w.write(chunk)
        if digest.hexdigest() != entry["sha256"]:
            raise SystemExit(f"{src}: {name} does not match its sha256 in image.json")
        entry["file"] = target
    name = f"image-{arch}.json"
    with open(os.path.join(out, name), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    return arch, base_url + name


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", required=True, help="where the release's assets live, /-ended")
    ap.add_argument("--out", required=True)
    ap.add_argument("images", nargs="+")
    args = ap.parse_args(argv)
    if not args.base_url.startswith("https://") or not args.base_url.endswith("/"):
        raise SystemExit("--base-url must be an https:// URL ending in /")
    os.makedirs(args.out, exist_ok=True)
    images = dict(publish(d, args.out, args.base_url) for d in args.images)
    manifest = {"comment": "Published guest images, per architecture (see README.md).",
                "images": {arch: {"url": url} for arch, url in sorted(images.items())}}
    with open(os.path.join(args.out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print("\n".join(sorted(os.listdir(args.out))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
