"""scripts/publish-images.py: guest images as flat release assets plus the manifest."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "publish-images.py"
BASE = "https://example.invalid/releases/download/v1.2.3/"


def _image(root: Path, arch: str, damage: bool = False) -> Path:
    d = root / arch
    d.mkdir()
    doc: dict[str, object] = {"arch": arch, "cmdline": "console=ttyS0", "recipe": "r"}
    for key, name in (("kernel", "vmlinuz"), ("initrd", "initrd.img"), ("disk", "disk.qcow2")):
        data = f"{arch} {key}".encode()
        (d / name).write_bytes(data + (b"!" if damage else b""))
        doc[key] = {"file": name, "sha256": hashlib.sha256(data).hexdigest()}
    (d / "image.json").write_text(json.dumps(doc))
    return d


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_two_architectures_side_by_side(tmp_path: Path) -> None:
    out = tmp_path / "assets"
    res = _run("--base-url", BASE, "--out", str(out), str(_image(tmp_path, "x86_64")),
               str(_image(tmp_path, "aarch64")))
    assert res.returncode == 0, res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["images"] == {"aarch64": {"url": BASE + "image-aarch64.json"},
                                  "x86_64": {"url": BASE + "image-x86_64.json"}}
    for arch in ("x86_64", "aarch64"):
        doc = json.loads((out / f"image-{arch}.json").read_text())
        kernel = out / doc["kernel"]["file"]
        assert doc["kernel"]["file"] == f"{arch}-vmlinuz"
        assert hashlib.sha256(kernel.read_bytes()).hexdigest() == doc["kernel"]["sha256"]


def test_a_damaged_build_is_not_published(tmp_path: Path) -> None:
    res = _run("--base-url", BASE, "--out", str(tmp_path / "out"),
               str(_image(tmp_path, "x86_64", damage=True)))
    assert res.returncode != 0 and "does not match its sha256" in res.stderr


def test_only_https_base_urls(tmp_path: Path) -> None:
    res = _run("--base-url", "http://example.invalid/", "--out", str(tmp_path / "o"),
               str(_image(tmp_path, "x86_64")))
    assert res.returncode != 0 and "https://" in res.stderr
