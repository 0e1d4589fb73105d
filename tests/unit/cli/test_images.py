"""The image commands through the CLI entry point, against a real store in tmp."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from launcher.cli import main
from launcher.image.store import ImageStore
from launcher.paths import Paths

from ..image.test_store import import_image

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="native store")


@pytest.fixture
def root(tmp_path: Path) -> str:
    return str(tmp_path / "root")


@pytest.fixture
def store(root: str) -> ImageStore:
    return ImageStore(Paths.from_root(root))


def cli(root: str, *args: str) -> int:
    return main.run_cli(["--root", root, *args])


def test_images_table_json_and_quiet(root: str, store: ImageStore,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    img = import_image(store, "example.com/app:1", {"f": b"x" * 1500})
    assert cli(root, "images") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    row = lines[1].split()
    assert row[:3] == ["example.com/app", "1", img.id[7:19]]
    assert row[-1] == "1.5kB"
    assert cli(root, "images", "--format", "json") == 0
    obj = json.loads(capsys.readouterr().out.splitlines()[0])
    assert (obj["Repository"], obj["Tag"], obj["ID"]) == ("example.com/app", "1", img.id[7:19])
    assert cli(root, "images", "-q") == 0
    assert capsys.readouterr().out == img.id[7:19] + "\n"
    assert cli(root, "images", "-q", "--no-trunc", "example.com/app") == 0
    assert capsys.readouterr().out == img.id + "\n"
    assert cli(root, "images", "-q", "other") == 0
    assert capsys.readouterr().out == ""


def test_tag_rmi_and_inspect(root: str, store: ImageStore,
                             capsys: pytest.CaptureFixture[str]) -> None:
    img = import_image(store, "busybox", {"f": b"1"})
    assert cli(root, "tag", "busybox", "mine:v2") == 0
    assert cli(root, "image", "inspect", "mine:v2") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc[0]["Id"] == img.id
    assert sorted(doc[0]["RepoTags"]) == ["busybox:latest", "mine:v2"]
    assert cli(root, "rmi", "mine:v2") == 0
    assert capsys.readouterr().out == "Untagged: mine:v2\n"
    assert cli(root, "rmi", "busybox") == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["Untagged: busybox:latest", f"Deleted: {img.id}"]
    assert os.listdir(store.paths.layers) == []
    assert os.listdir(store.paths.blobs) == []


def test_rmi_missing_is_one_line_exit_125(root: str, store: ImageStore,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(root, "rmi", "nope") == 125
    assert capsys.readouterr().err == "launcher: No such image: nope\n"


def test_inspect_missing_prints_empty_list_and_error(root: str, store: ImageStore,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(root, "image", "inspect", "nope") == 125
    captured = capsys.readouterr()
    assert json.loads(captured.out) == []
    assert captured.err.startswith("launcher: ") and "nope" in captured.err


def test_save_load_round_trip(root: str, store: ImageStore, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    img = import_image(store, "app:1", {"f": b"data"})
    archive = tmp_path / "app.tar"
    assert cli(root, "save", "-o", str(archive), "app:1") == 0
    other = str(tmp_path / "other")
    assert cli(other, "load", "-i", str(archive)) == 0
    assert capsys.readouterr().out == "Loaded image: app:1\n"
    assert ImageStore(Paths.from_root(other)).get("app:1").diff_ids == img.diff_ids


def test_save_refuses_a_missing_image_and_leaves_no_file(
    root: str, store: ImageStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "x.tar"
    assert cli(root, "save", "-o", str(archive), "nope") == 125
    assert not list(tmp_path.glob("x.tar*"))  # neither the archive nor its temp file


def test_image_prune_forced(root: str, store: ImageStore,
                            capsys: pytest.CaptureFixture[str]) -> None:
    import_image(store, "app", {"f": b"old"})
    import_image(store, "app", {"f": b"new"})  # the old one is now dangling
    assert cli(root, "image", "prune", "-f") == 0
    out = capsys.readouterr().out
    assert "Deleted Images:" in out and "Total reclaimed space:" in out
    assert len(store.list()) == 1


def test_login_needs_a_tty_or_flags(root: str, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert cli(root, "login", "127.0.0.1:1") == 125
    assert "non TTY" in capsys.readouterr().err


def test_logout_when_not_logged_in(root: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(root, "logout", "https://127.0.0.1:5000/") == 0
    assert capsys.readouterr().out == "Not logged in to 127.0.0.1:5000\n"


def test_tls_verify_value_checked(root: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(root, "pull", "--tls-verify=maybe", "127.0.0.1:1/x") == 125
    assert "--tls-verify" in capsys.readouterr().err
