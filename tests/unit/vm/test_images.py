from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.errors import ImageError
from launcher.paths import Paths
from launcher.vm import images
from tests.unit.vm.conftest import cached_blobs, make_image


def test_a_local_image_is_verified_and_linked(paths: Paths, tmp_path: Path) -> None:
    src = make_image(tmp_path / "img")
    out = images.from_directory(paths, str(src))
    for name in images.FILES.values():
        assert Path(out, name).read_bytes() == (src / name).read_bytes()
    assert len(cached_blobs(paths)) == 4
    assert images.from_directory(paths, str(src / "image.json")) == out  # same manifest


def test_a_tampered_file_is_refused_and_not_kept(paths: Paths, tmp_path: Path) -> None:
    src = make_image(tmp_path / "img", corrupt="disk")
    with pytest.raises(ImageError, match="does not match"):
        images.from_directory(paths, str(src))
    assert not os.path.isdir(os.path.join(images.cache_dir(paths), "images"))
    blobs = cached_blobs(paths)
    assert all(not b.endswith(".tmp") for b in blobs)
    assert images.sha256_file(str(src / "disk.qcow2")) not in blobs


@pytest.mark.parametrize("text", ["not json", "[]", '{"kernel": {"sha256": "x"}}'])
def test_bad_manifests(paths: Paths, tmp_path: Path, text: str) -> None:
    (tmp_path / "image.json").write_text(text)
    with pytest.raises(ImageError):
        images.from_directory(paths, str(tmp_path))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def test_download_verifies_each_file(paths: Paths, server: tuple[str, Path]) -> None:
    url, root = server
    make_image(root / "v1")
    out = images.from_url(paths, f"{url}/v1/image.json")
    assert Path(out, "vmlinuz").read_bytes() == b"kernel bytes"


def test_a_corrupt_download_is_refused(paths: Paths, server: tuple[str, Path]) -> None:
    url, root = server
    make_image(root / "bad", corrupt="initrd")
    with pytest.raises(ImageError, match=r"initrd\.img: sha256 .* does not match"):
        images.from_url(paths, f"{url}/bad/image.json")
    assert not os.path.isdir(os.path.join(images.cache_dir(paths), "images"))
    assert images.sha256_file(str(root / "bad" / "initrd.img")) not in cached_blobs(paths)


def test_unreachable_and_unsupported_urls(paths: Paths) -> None:
    with pytest.raises(ImageError, match="cannot download"):
        images.from_url(paths, "http://127.0.0.1:9/image.json")
    with pytest.raises(ImageError, match="unsupported"):
        images.resolve(paths, "ftp://example.invalid/image.json", "x86_64")


def test_recipe_key_is_stable() -> None:
    assert images.recipe_key() == images.recipe_key()
    assert len(images.recipe_key()) == 64


def test_prune_keeps_the_newest_and_what_machines_use(paths: Paths, tmp_path: Path) -> None:
    made = []
    for i in range(4):
        src = make_image(tmp_path / f"img{i}")
        (src / "vmlinuz").write_bytes(f"kernel {i}".encode())
        doc = (src / "image.json").read_text()
        import json

        d = json.loads(doc)
        d["kernel"]["sha256"] = images.sha256_file(str(src / "vmlinuz"))
        (src / "image.json").write_text(json.dumps(d))
        out = images.from_directory(paths, str(src))
        built = os.path.join(os.path.dirname(out), f"built-{i}")
        os.rename(out, built)
        os.utime(built, (1000 + i, 1000 + i))
        made.append(built)
    gone = images.prune_built(paths, keep=made[0])
    assert sorted(gone) == [made[1]]  # newest two (3, 2) and the one kept (0) stay
    assert not os.path.exists(made[1])
    # the kernel blob only image 1 had is gone; shared ones stay
    assert len(cached_blobs(paths)) == 3 + 3
