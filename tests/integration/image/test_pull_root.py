"""``launcher pull`` against a real registry (Debian's distribution on loopback).

Images are built by the tests (ocibuild), pushed with skopeo (an independent
client), and pulled with launcher's CLI as a user runs it. Every failure case
checks that nothing was marked complete: no index entry, no layer, no blob
that was not verified, nothing left in tmp/ once the command is over.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from . import ocibuild
from .conftest import OciImages
from .registryserver import RegistryServer

pytestmark = pytest.mark.root

LAUNCHER = str(Path(sys.executable).with_name("launcher"))


class Cli:
    """``launcher --root ROOT …`` as a subprocess."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, *args: str, check: bool = False, **kw: object
                 ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([LAUNCHER, "--root", str(self.root), *args], capture_output=True,
                             text=True, timeout=120, check=False, **kw)  # type: ignore[call-overload]
        if check and res.returncode != 0:
            raise AssertionError(f"launcher {' '.join(args)}: {res.returncode}\n{res.stderr}")
        return res  # type: ignore[no-any-return]

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    def images(self) -> list[dict[str, str]]:
        out = self("images", "--format", "json", check=True).stdout
        return [json.loads(line) for line in out.splitlines()]

    def assert_nothing_half_made(self) -> None:
        tmp = self.storage / "tmp"
        assert not tmp.exists() or os.listdir(tmp) == [], os.listdir(tmp)
        assert self.images() == []


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "root")


def push(reg: RegistryServer, images: OciImages, tag: str, *, all: bool = False) -> str:
    repo = reg.new_repo()
    ocibuild.push_with_skopeo(images.layout, tag, reg.host, f"{repo}:{tag}", all=all)
    return f"{reg.host}/{repo}:{tag}"


def merged(cli: Cli, ref: str, target: Path) -> None:
    """Mount the image's layers as overlay lowers at ``target`` (the container's view)."""
    info = json.loads(cli("image", "inspect", ref, check=True).stdout)[0]
    lowers = ":".join(reversed(info["Launcher"]["LayerDirs"]))
    target.mkdir()
    if len(info["Launcher"]["LayerDirs"]) == 1:
        lowers += ":" + lowers  # overlay wants two lowers without an upper
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lowers}",
                    str(target)], check=True)


def test_pull_multilayer_applies_whiteouts_and_runs(
    cli: Cli, registry: RegistryServer, oci_images: OciImages, tmp_path: Path
) -> None:
    ref = push(registry, oci_images, "multilayer")
    res = cli("pull", ref)
    assert res.returncode == 0, res.stderr
    assert res.stdout == ref + "\n"
    assert "Pull complete" in res.stderr and "Status: Downloaded newer image" in res.stderr
    rootfs = tmp_path / "merged"
    merged(cli, ref, rootfs)
    try:
        assert ocibuild.MULTILAYER_EXPECTED.check(str(rootfs)) == []
    finally:
        subprocess.run(["umount", str(rootfs)], check=True)
    run = cli("run", "--rm", ref, "echo", "ran")
    assert (run.returncode, run.stdout) == (0, "ran\n"), run.stderr
    again = cli("pull", ref)
    assert "Image is up to date" in again.stderr


def test_pull_zstd_and_by_digest(cli: Cli, registry: RegistryServer,
                                 oci_images: OciImages) -> None:
    ref = push(registry, oci_images, "busybox-zstd")
    name = ref.rsplit(":", 1)[0]
    by_digest = f"{name}@{oci_images.busybox_zstd.manifest_digest}"
    res = cli("pull", "-q", by_digest)
    assert (res.returncode, res.stdout, res.stderr) == (0, by_digest + "\n", "")
    run = cli("run", "--rm", by_digest, "cat", "/etc/passwd")
    assert run.returncode == 0 and "root:x:0:0" in run.stdout


def test_pull_multiarch_picks_the_platform(cli: Cli, registry: RegistryServer,
                                           oci_images: OciImages) -> None:
    ref = push(registry, oci_images, "multiarch", all=True)
    assert cli("pull", "-q", ref).returncode == 0
    host = cli("run", "--rm", ref, "cat", "/arch")
    host_arch = ocibuild.host_platform()
    assert host.returncode == 0, host.stderr
    assert host.stdout.startswith(f"linux/{host_arch[0]}")
    inspect = json.loads(cli("image", "inspect", ref, check=True).stdout)[0]
    index_digest = oci_images.multiarch.index_digest
    assert inspect["RepoDigests"] == [f"{ref.rsplit(':', 1)[0]}@{index_digest}"]
    other = "linux/arm/v7" if host_arch[0] != "arm" else "linux/arm64"
    res = cli("pull", "--platform", other, "-q", ref)
    assert res.returncode == 0, res.stderr
    inspect = json.loads(cli("image", "inspect", ref, check=True).stdout)[0]
    assert f"{inspect['Os']}/{inspect['Architecture']}" == "/".join(other.split("/")[:2])
    bad = cli("pull", "--platform", "linux/s390x", ref)
    assert bad.returncode == 125
    assert "no image for platform linux/s390x" in bad.stderr


def test_run_pulls_a_missing_image(cli: Cli, registry: RegistryServer,
                                   oci_images: OciImages) -> None:
    ref = push(registry, oci_images, "busybox")
    res = cli("run", "--rm", ref, "echo", "hello")
    assert (res.returncode, res.stdout) == (0, "hello\n"), res.stderr
    assert res.stderr.startswith(f"Unable to find image '{ref}' locally\n")
    never = cli("run", "--rm", "--pull", "never", f"{registry.host}/nope/nope:1", "true")
    assert never.returncode == 125 and "not found" in never.stderr
    missing = cli("run", "--rm", f"{registry.host}/nope/nope:1", "true")
    assert missing.returncode == 125
    lines = missing.stderr.splitlines()
    assert lines[0] == f"Unable to find image '{registry.host}/nope/nope:1' locally"
    assert lines[-1].startswith("launcher: manifest unknown") and len(lines) == 2


def test_missing_image_and_tag_errors(cli: Cli, registry: RegistryServer) -> None:
    res = cli("pull", f"{registry.host}/no/such:thing")
    assert res.returncode == 125
    assert res.stderr.count("\n") <= 2 and "launcher: " in res.stderr
    assert "manifest unknown" in res.stderr or "not found" in res.stderr
    cli.assert_nothing_half_made()


def test_corrupted_layer_blob_is_refused(cli: Cli, private_registry: RegistryServer,
                                         oci_images: OciImages) -> None:
    ref = push(private_registry, oci_images, "multilayer")
    layer = oci_images.multilayer.layer_digests[1]
    private_registry.corrupt_blob(layer, offset=-20)
    res = cli("pull", ref)
    assert res.returncode == 125
    assert layer in res.stderr and "mismatch" in res.stderr
    cli.assert_nothing_half_made()
    layers = cli.storage / "layers"
    assert not (layers / oci_images.multilayer.diff_ids[1][7:]).exists()
    blobs = cli.storage / "blobs" / "sha256"
    assert not (blobs / layer[7:]).exists()


def test_truncated_blob_is_refused(cli: Cli, private_registry: RegistryServer,
                                   oci_images: OciImages) -> None:
    ref = push(private_registry, oci_images, "busybox")
    layer = oci_images.busybox.layer_digests[0]
    data = private_registry.read_blob(layer)
    private_registry.replace_blob(layer, data[: len(data) // 2])
    res = cli("pull", ref)
    assert res.returncode == 125 and layer[7:19] in res.stderr
    cli.assert_nothing_half_made()


def test_manifest_digest_mismatch_is_refused(cli: Cli, private_registry: RegistryServer,
                                             oci_images: OciImages) -> None:
    ref = push(private_registry, oci_images, "busybox")
    digest = oci_images.busybox.manifest_digest
    doc = json.loads(private_registry.read_blob(digest))
    doc["annotations"] = {"tampered": "yes"}
    private_registry.replace_blob(digest, json.dumps(doc).encode())
    res = cli("pull", f"{ref.rsplit(':', 1)[0]}@{digest}")
    assert res.returncode == 125
    assert "digest" in res.stderr and digest in res.stderr
    cli.assert_nothing_half_made()


def test_malicious_layer_names_the_digest_and_member(
    cli: Cli, private_registry: RegistryServer, tmp_path: Path
) -> None:
    layout = str(tmp_path / "evil")
    evil = [ocibuild.Entry("etc", b"5", 0o755),
            ocibuild.Entry("etc/../../escaped", b"0", 0o644, data=b"pwned")]
    info = ocibuild.build_image(layout, "evil", [evil])
    repo = private_registry.new_repo()
    ocibuild.push_with_skopeo(layout, "evil", private_registry.host, f"{repo}:evil")
    res = cli("pull", f"{private_registry.host}/{repo}:evil")
    assert res.returncode == 125
    assert info.layer_digests[0] in res.stderr and "escaped" in res.stderr
    assert not (cli.storage / "escaped").exists() and not (cli.root / "escaped").exists()
    cli.assert_nothing_half_made()


def test_interrupted_pull_leaves_nothing_complete(
    cli: Cli, private_registry: RegistryServer, tmp_path: Path
) -> None:
    layout = str(tmp_path / "big")
    blob = os.urandom(48 << 20)  # incompressible: the download takes a while
    info = ocibuild.build_image(layout, "big", [[ocibuild.file("big.bin", blob)]])
    repo = private_registry.new_repo()
    ocibuild.push_with_skopeo(layout, "big", private_registry.host, f"{repo}:big")
    ref = f"{private_registry.host}/{repo}:big"
    proc = subprocess.Popen([LAUNCHER, "--root", str(cli.root), "pull", ref],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    for line in proc.stderr:  # kill once the layer download has started
        if "Pulling fs layer" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    assert proc.stdout is not None
    proc.stdout.close()
    assert cli.images() == []
    assert not (cli.storage / "layers" / info.diff_ids[0][7:]).exists()
    prune = cli("system", "prune", "-f")
    assert prune.returncode == 0, prune.stderr
    cli.assert_nothing_half_made()
    res = cli("pull", "-q", ref)
    assert res.returncode == 0, res.stderr
    assert [i["Repository"] for i in cli.images()] == [ref.rsplit(":", 1)[0]]


def test_rmi_collects_blobs_and_layers(cli: Cli, registry: RegistryServer,
                                       oci_images: OciImages) -> None:
    ref = push(registry, oci_images, "multilayer")
    assert cli("pull", "-q", ref).returncode == 0
    res = cli("rmi", ref)
    assert res.returncode == 0 and res.stdout.startswith(f"Untagged: {ref}\nDeleted: sha256:")
    assert os.listdir(cli.storage / "layers") == []
    assert os.listdir(cli.storage / "blobs" / "sha256") == []


def test_image_volumes_are_anonymous_volumes(cli: Cli, private_registry: RegistryServer,
                                             tmp_path: Path) -> None:
    layout = str(tmp_path / "vol")
    seeded = [ocibuild.dir_("srv"), ocibuild.file("srv/seed", "from the image\n")]
    ocibuild.build_image(layout, "vol", [*ocibuild.busybox_layers(), seeded],
                         config_extra={"Volumes": {"/srv": {}, "/cache": {}}})
    repo = private_registry.new_repo()
    ocibuild.push_with_skopeo(layout, "vol", private_registry.host, f"{repo}:vol")
    ref = f"{private_registry.host}/{repo}:vol"
    # A read-only root, yet the volumes are writable and start with the image's content.
    res = cli("run", "--rm", "--read-only", ref, "sh", "-c",
              "cat /srv/seed && echo new > /srv/new && echo c > /cache/c && cat /srv/new "
              "&& ! touch /elsewhere 2>/dev/null && echo ro-ok")
    assert (res.returncode, res.stdout) == (0, "from the image\nnew\nro-ok\n"), res.stderr
    assert not list((cli.storage / "containers").iterdir())  # --rm took the volumes too
