"""The registry test infrastructure itself, checked with skopeo only (no launcher code).

If these fail, pull/push integration failures say nothing about launcher.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from tests.integration.image import ocibuild
from tests.integration.image.conftest import REGISTRY_USERS, OciImages
from tests.integration.image.ocibuild import SkopeoError, push_with_skopeo, skopeo_inspect

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tests.integration.image.registryserver import RegistryServer

pytestmark = pytest.mark.root

ALICE = ("alice", REGISTRY_USERS["alice"])


def _sha256_file(path: str) -> str:
    with open(path, "rb") as f:
        return "sha256:" + hashlib.sha256(f.read()).hexdigest()


def _apply_naively(layout: str, info: ocibuild.ImageInfo, root: Path) -> None:
    """Extract gzip layers with OCI whiteouts; trusted input, tests only."""
    for digest in info.layer_digests:
        with open(os.path.join(layout, "blobs", "sha256", digest[7:]), "rb") as f:
            data = gzip.decompress(f.read())
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            members = tf.getmembers()
            for m in members:
                parent, base = os.path.split(m.name)
                doomed = []
                if base == ".wh..wh..opq":
                    doomed = [root / parent / child for child in os.listdir(root / parent)]
                elif base.startswith(".wh."):
                    doomed = [root / parent / base[4:]]
                for path in doomed:
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
            for m in members:
                if not os.path.basename(m.name).startswith(".wh."):
                    tf.extract(m, root, filter="fully_trusted")


# -- builders ------------------------------------------------------------------------------


def test_builds_are_deterministic(tmp_path: Path, oci_images: OciImages) -> None:
    again = ocibuild.build_multilayer(str(tmp_path / "again"), "multilayer")
    assert again.manifest_digest == oci_images.multilayer.manifest_digest
    index = ocibuild.build_multiarch(str(tmp_path / "again"), "multiarch")
    assert index.index_digest == oci_images.multiarch.index_digest


def test_layout_blobs_match_their_digests(oci_images: OciImages) -> None:
    blobs = os.path.join(oci_images.layout, "blobs", "sha256")
    for name in os.listdir(blobs):
        assert _sha256_file(os.path.join(blobs, name)) == "sha256:" + name
    info = oci_images.busybox_zstd
    assert info.layer_media_type.endswith("+zstd")
    with open(os.path.join(blobs, info.layer_digests[0][7:]), "rb") as f:
        assert f.read(4) == b"\x28\xb5\x2f\xfd"  # zstd frame magic


def test_multilayer_expected_tree_matches_the_layers(tmp_path: Path, oci_images: OciImages) -> None:
    root = tmp_path / "rootfs"
    root.mkdir()
    _apply_naively(oci_images.layout, oci_images.multilayer, root)
    assert ocibuild.MULTILAYER_EXPECTED.check(str(root)) == []
    assert len(ocibuild.MULTILAYER_EXPECTED.check(str(tmp_path))) > 10  # it does look


def test_multiarch_index_has_three_platforms(oci_images: OciImages) -> None:
    assert set(oci_images.multiarch.manifests) == {"linux/amd64", "linux/arm64/v8", "linux/arm/v7"}


# -- open registry ---------------------------------------------------------------------------


def test_push_and_inspect_multilayer(registry: RegistryServer, oci_images: OciImages) -> None:
    repo = registry.new_repo()
    push_with_skopeo(oci_images.layout, "multilayer", registry.host, f"{repo}:v1")
    seen = skopeo_inspect(registry.host, f"{repo}:v1")
    assert seen["Digest"] == oci_images.multilayer.manifest_digest
    assert seen["Layers"] == oci_images.multilayer.layer_digests
    assert registry.tag_digest(repo, "v1") == oci_images.multilayer.manifest_digest


def test_push_and_inspect_multiarch(registry: RegistryServer, oci_images: OciImages) -> None:
    repo = registry.new_repo()
    push_with_skopeo(oci_images.layout, "multiarch", registry.host, f"{repo}:v1", all=True)
    raw = skopeo_inspect(registry.host, f"{repo}:v1", raw=True)
    assert raw["mediaType"] == ocibuild.MT_INDEX
    assert registry.tag_digest(repo, "v1") == oci_images.multiarch.index_digest
    for info in oci_images.multiarch.manifests.values():
        child = skopeo_inspect(registry.host, f"{repo}@{info.manifest_digest}")
        assert child["Architecture"] == info.arch


def test_stored_blobs_can_be_found_and_damaged(
    private_registry: RegistryServer, oci_images: OciImages, tmp_path: Path
) -> None:
    reg, info = private_registry, oci_images.busybox
    push_with_skopeo(oci_images.layout, "busybox", reg.host, "app:v1")
    layer = info.layer_digests[0]
    assert _sha256_file(reg.blob_path(layer)) == layer
    assert os.path.exists(reg.layer_link_path("app", layer))
    assert os.path.exists(reg.manifest_revision_path("app", info.manifest_digest))
    assert reg.read_blob(info.manifest_digest) == info.manifest
    reg.corrupt_blob(layer, offset=-1)
    assert _sha256_file(reg.blob_path(layer)) != layer
    # skopeo verifies what it downloads: the damage is really served.
    with pytest.raises(SkopeoError):
        ocibuild.run_skopeo(
            ["copy", "--src-tls-verify=false", f"docker://{reg.host}/app:v1", f"oci:{tmp_path}/o:x"]
        )


# -- htpasswd registry -------------------------------------------------------------------------


def test_htpasswd_registry(auth_registry: RegistryServer, oci_images: OciImages) -> None:
    repo = auth_registry.new_repo()
    ref = f"{repo}:v1"
    with pytest.raises(SkopeoError):
        push_with_skopeo(oci_images.layout, "busybox", auth_registry.host, ref)
    push_with_skopeo(oci_images.layout, "busybox", auth_registry.host, ref, creds=ALICE)
    seen = skopeo_inspect(auth_registry.host, ref, creds="alice:secret")
    assert seen["Digest"] == oci_images.busybox.manifest_digest
    with pytest.raises(SkopeoError, match=r"(?i)unauthorized|authentication"):
        skopeo_inspect(auth_registry.host, ref, creds="alice:wrong")
    with pytest.raises(SkopeoError):
        skopeo_inspect(auth_registry.host, ref)


# -- token registry ------------------------------------------------------------------------------


def test_token_registry(token_registry: RegistryServer, oci_images: OciImages) -> None:
    ts = token_registry.token_server
    assert ts is not None
    repo = token_registry.new_repo()
    ref = f"{repo}:v1"
    ts.clear()
    push_with_skopeo(oci_images.layout, "multilayer", token_registry.host, ref, creds=ALICE)
    pushes = ts.seen()
    assert pushes and all(r.user == "alice" and r.auth_present for r in pushes)
    assert any(f"repository:{repo}:" in s and "push" in s for r in pushes for s in r.scopes)
    seen = skopeo_inspect(token_registry.host, ref, creds=ALICE)
    assert seen["Digest"] == oci_images.multilayer.manifest_digest

    ts.clear()
    with pytest.raises(SkopeoError):
        skopeo_inspect(token_registry.host, ref, creds="alice:wrong")
    assert [(r.auth_present, r.user) for r in ts.seen()][:1] == [(True, None)]

    ts.clear()
    with pytest.raises(SkopeoError):  # anonymous gets a token granting nothing
        skopeo_inspect(token_registry.host, ref)
    assert ts.seen() and not any(r.auth_present for r in ts.seen())


def test_token_server_on_another_host_with_anonymous_pull(oci_images: OciImages) -> None:
    # Imported here: the fixtures above skip cleanly when these tools are missing.
    pytest.importorskip("cryptography")
    if shutil.which("skopeo") is None:
        pytest.skip("needs skopeo")
    from tests.integration.image.registryserver import RegistryServer, registry_binary
    from tests.integration.image.tokenserver import TokenServer

    if registry_binary() is None:
        pytest.skip("needs docker-registry")
    with (
        TokenServer(REGISTRY_USERS, address="127.0.0.2", anonymous_pull=True) as ts,
        RegistryServer(auth="token", token_server=ts) as reg,
    ):
        assert ts.host.startswith("127.0.0.2:")
        push_with_skopeo(oci_images.layout, "busybox", reg.host, "app:v1", creds=ALICE)
        ts.clear()
        seen = skopeo_inspect(reg.host, "app:v1")
        assert seen["Digest"] == oci_images.busybox.manifest_digest
        assert ts.seen() and all(r.host.startswith("127.0.0.2:") for r in ts.seen())
        assert not any(r.auth_present for r in ts.seen())
        with pytest.raises(SkopeoError):  # anonymous may pull, not push
            push_with_skopeo(oci_images.layout, "busybox", reg.host, "app:v2")
    assert reg.token_server is ts  # not owned, so not dropped


def _get_status(url: str, token: str) -> tuple[int, str]:
    """(status, WWW-Authenticate) of a GET with a Bearer token."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("WWW-Authenticate", "")


def test_registry_checks_token_actions_and_expiry(token_registry: RegistryServer) -> None:
    ts = token_registry.token_server
    assert ts is not None
    url = f"{token_registry.url}/v2/nothing/here/tags/list"
    granted: list[dict[str, object]] = [
        {"type": "repository", "name": "nothing/here", "actions": ["pull"]}
    ]
    assert _get_status(url, ts.issue("alice", granted))[0] == 404  # past auth: no such repo
    status, challenge = _get_status(url, ts.issue("alice", [{**granted[0], "actions": []}]))
    assert status == 401
    assert 'error="insufficient_scope"' in challenge
    saved = ts.expires_in
    try:
        ts.expires_in = -120  # beyond distribution's 60 s leeway
        assert _get_status(url, ts.issue("alice", granted))[0] == 401
    finally:
        ts.expires_in = saved
