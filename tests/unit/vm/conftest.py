from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from launcher.paths import Paths
from launcher.vm import images


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(str(tmp_path / "storage"), str(tmp_path / "state"))


def make_image(where: Path, *, corrupt: str | None = None) -> Path:
    """A fake image directory with a correct image.json (or one file corrupted after)."""
    where.mkdir(parents=True, exist_ok=True)
    doc: dict[str, object] = {"arch": "x86_64", "cmdline": "console=ttyS0"}
    for key, name in images.FILES.items():
        (where / name).write_bytes(f"{key} bytes".encode())
        doc[key] = {"file": name, "sha256": images.sha256_file(str(where / name))}
    (where / "image.json").write_text(json.dumps(doc))
    if corrupt:
        (where / images.FILES[corrupt]).write_bytes(b"tampered")
    return where


def cached_blobs(paths: Paths) -> list[str]:
    blobs = os.path.join(images.cache_dir(paths), "sha256")
    return sorted(os.listdir(blobs)) if os.path.isdir(blobs) else []
