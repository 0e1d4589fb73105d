"""A registry that lies: ``launcher pull`` against docker-registry on loopback whose
storage the test has planted (registryplant.py), so it serves exactly the bad
bytes: a config blob with one flipped byte, a layer longer than its descriptor,
a manifest that does not hash to the digest the registry names, an index entry
that calls an index a manifest, a document that is both, configs and layers
swapped, a 10 MiB manifest.

tests/integration/image/test_pull_root.py already covers a flipped byte in a
layer, a truncated layer, a manifest by digest that does not match, and a
layer with a ``..`` member; they are not repeated here.

Every case: exit 125 with one ``launcher:`` line naming what was wrong, no
image in the index, no layer and no unverified blob in storage, nothing in
tmp/, and a host sentinel untouched.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.attacks.kit import (
    HostFiles,
    Sentinel,
    assert_refused,
    indexed,
    storage_names,
)
from tests.integration.attacks.registryplant import (
    Planter,
    canonical,
    descriptor,
    digest_of,
    host_platform_desc,
)
from tests.integration.cli.conftest import Cli
from tests.integration.image.layertar import Entry, dir_, file, symlink
from tests.integration.image.ocibuild import MT_CONFIG, MT_INDEX, MT_LAYER, MT_MANIFEST
from tests.integration.image.registryserver import RegistryServer


@pytest.fixture
def plant(attack_registry: RegistryServer) -> Planter:
    return Planter(attack_registry)


def _unique_layer(tag: str) -> list[list[Entry]]:
    """One small layer of this test's own: its blob is shared with no other test."""
    return [[file("marker", f"{tag}\n")]]


def _platform() -> str:
    return "/".join(host_platform_desc()[k] for k in ("os", "architecture", "variant")
                    if k in host_platform_desc())


def assert_nothing_stored(cli: Cli, *, blobs_allowed: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """No image indexed, no layer committed, no blob but ``blobs_allowed``, tmp/ empty."""
    assert indexed(cli.root) == set()
    assert storage_names(cli.root, "layers") == set()
    assert storage_names(cli.root, "blobs", "sha256") <= {d[7:] for d in blobs_allowed}
    assert storage_names(cli.root, "tmp") == set()


def pull(cli: Cli, ref: str) -> str:
    """``launcher pull REF`` that must fail: its one error line."""
    return assert_refused(cli.run("pull", "-q", ref, timeout=60))


def test_config_blob_with_a_flipped_byte(fresh_cli: Cli, plant: Planter,
                                         sentinel: Sentinel, host_files: HostFiles) -> None:
    repo = plant.registry.new_repo("attacks")
    img = plant.image(repo, "1", _unique_layer(repo), base=False)
    config = bytearray(img.config)
    config[len(config) // 2] ^= 1
    plant.blob(repo, bytes(config), name=digest_of(img.config))
    line = pull(fresh_cli, img.ref)
    assert line.endswith(f"/{repo}:1: config blob {digest_of(img.config)} failed verification"), \
        line
    assert_nothing_stored(fresh_cli)
    sentinel.check()
    host_files.check()


def test_layer_longer_than_its_descriptor(fresh_cli: Cli, plant: Planter,
                                          sentinel: Sentinel) -> None:
    repo = plant.registry.new_repo("attacks")
    img = plant.image(repo, "1", _unique_layer(repo), base=False)
    layer = img.layer_digests[0]
    plant.blob(repo, img.layers[0] + b"\0" * 4096, name=layer)
    line = pull(fresh_cli, img.ref)
    assert line.endswith(f"/{repo}@{layer}: {len(img.layers[0]) + 4096} bytes, more than the "
                         f"expected {len(img.layers[0])}"), line
    assert_nothing_stored(fresh_cli, blobs_allowed={digest_of(img.config)})
    sentinel.check()


def test_manifest_changed_at_rest_pulled_by_tag(fresh_cli: Cli, plant: Planter,
                                                sentinel: Sentinel) -> None:
    """The registry names one digest (Docker-Content-Digest) and sends other bytes."""
    repo = plant.registry.new_repo("attacks")
    img = plant.image(repo, "1", _unique_layer(repo), base=False)
    doc = json.loads(img.manifest)
    doc["annotations"] = {"tampered": "yes"}
    plant.manifest(repo, "1", canonical(doc), name=img.manifest_digest)
    line = pull(fresh_cli, img.ref)
    assert line.endswith(f"/{repo}:1: the registry names the manifest {img.manifest_digest} "
                         "but sent one with digest " + digest_of(canonical(doc))), line
    assert_nothing_stored(fresh_cli)
    sentinel.check()


def test_index_entry_that_is_an_index(fresh_cli: Cli, plant: Planter,
                                      sentinel: Sentinel) -> None:
    """An index whose entry for this platform says "manifest" but names an index."""
    repo = plant.registry.new_repo("attacks")
    img = plant.image(repo, None, _unique_layer(repo), base=False)
    inner = plant.index(repo, "inner", [descriptor(MT_MANIFEST, img.manifest,
                                                   platform=host_platform_desc())])
    plant.index(repo, "1", [descriptor(MT_MANIFEST, inner, platform=host_platform_desc())])
    line = pull(fresh_cli, f"{plant.registry.host}/{repo}:1")
    assert line.endswith(f"/{repo}:1: index entry for {_platform()} is a '{MT_INDEX}', "
                         "not an image manifest"), line
    assert_nothing_stored(fresh_cli)
    sentinel.check()


def test_document_that_is_both_manifest_and_index(fresh_cli: Cli, plant: Planter,
                                                  sentinel: Sentinel) -> None:
    repo = plant.registry.new_repo("attacks")
    img = plant.image(repo, None, _unique_layer(repo), base=False)
    doc = json.loads(img.manifest)
    doc["manifests"] = [descriptor(MT_MANIFEST, img.manifest, platform=host_platform_desc())]
    plant.manifest(repo, "1", canonical(doc))
    line = pull(fresh_cli, f"{plant.registry.host}/{repo}:1")
    assert line.endswith(f"/{repo}:1: the document is both an index and a manifest"), line
    assert_nothing_stored(fresh_cli)
    sentinel.check()


WRONG_KIND = {
    "layer-as-config": "image config is not valid JSON: 'utf-8' codec can't decode byte 0x8b "
                       "in position 1: invalid start byte",
    "config-as-layer": "layer: corrupt tar after entry '(start)': truncated header",
    "index-as-config": "config rootfs.diff_ids does not match the manifest's layers",
}


@pytest.mark.parametrize("swap", sorted(WRONG_KIND))
def test_blobs_of_the_wrong_kind(fresh_cli: Cli, plant: Planter, sentinel: Sentinel,
                                 swap: str) -> None:
    """Descriptors that point at a real, correctly hashed blob of another kind."""
    repo = plant.registry.new_repo("attacks")
    img = plant.image(repo, None, _unique_layer(repo + swap), base=False)
    layer = descriptor(MT_LAYER["gzip"], img.layers[0])
    config = descriptor(MT_CONFIG, img.config)
    if swap == "layer-as-config":
        config = descriptor(MT_CONFIG, img.layers[0])
    elif swap == "config-as-layer":
        layer = descriptor(MT_LAYER["gzip"], img.config)
    else:
        index = plant.index(repo, "idx", [descriptor(MT_MANIFEST, img.manifest,
                                                     platform=host_platform_desc())])
        plant.blob(repo, index)
        config = descriptor(MT_CONFIG, index)
    plant.manifest(repo, "1", canonical({"schemaVersion": 2, "mediaType": MT_MANIFEST,
                                         "config": config, "layers": [layer]}))
    line = pull(fresh_cli, f"{plant.registry.host}/{repo}:1")
    assert line.endswith(WRONG_KIND[swap]), line
    assert indexed(fresh_cli.root) == set()
    assert storage_names(fresh_cli.root, "layers") == set()
    assert storage_names(fresh_cli.root, "tmp") == set()
    sentinel.check()


def test_a_config_claiming_a_terabyte(fresh_cli: Cli, plant: Planter,
                                      sentinel: Sentinel) -> None:
    """The config's cap holds on what the manifest claims, before any download."""
    repo = plant.registry.new_repo("attacks")
    img = plant.image(repo, None, _unique_layer(repo), base=False)
    doc = json.loads(img.manifest)
    doc["config"]["size"] = 1 << 40
    plant.manifest(repo, "1", canonical(doc))
    line = pull(fresh_cli, f"{plant.registry.host}/{repo}:1")
    assert line.endswith("image config of 1099511627776 bytes is over the 8 MiB limit"), line
    assert_nothing_stored(fresh_cli)
    sentinel.check()


MANIFEST_PATH = "/v2/attacks/big/manifests/1"
TEN_MIB = 10 << 20


def _padded_manifest(size: int) -> bytes:
    """A well-formed OCI manifest of ``size`` bytes (an annotation of spaces)."""
    head = canonical({"schemaVersion": 2, "mediaType": MT_MANIFEST,
                      "config": {"mediaType": MT_CONFIG, "digest": digest_of(b"{}"), "size": 2},
                      "layers": [], "annotations": {"pad": ""}})
    return head[:-3] + b" " * (size - len(head)) + head[-3:]


@pytest.mark.parametrize("how", ["with-length", "streamed"])
def test_a_10_mib_manifest(fresh_cli: Cli, sentinel: Sentinel, how: str) -> None:
    """Over the 4 MiB cap: refused from its Content-Length, or while it streams in
    when it has none (a registry may send without end)."""
    from tests.integration.attacks.registryplant import HostileRegistry

    body = _padded_manifest(TEN_MIB) if how == "with-length" else None
    with HostileRegistry(stream_limit=TEN_MIB) as reg:
        reg.routes[MANIFEST_PATH] = (200, {"Content-Type": MT_MANIFEST}, body)
        line = pull(fresh_cli, f"{reg.host}/attacks/big:1")
    size = "10485760 bytes is " if how == "with-length" else ""
    assert line.endswith(f"/attacks/big:1: manifest: {size}over the limit of 4194304 bytes"), line
    assert_nothing_stored(fresh_cli)
    sentinel.check()


def test_content_type_contradicting_the_body(fresh_cli: Cli, sentinel: Sentinel) -> None:
    """The header says index, the body says manifest (OCI's type-confusion advisory)."""
    from tests.integration.attacks.registryplant import HostileRegistry

    with HostileRegistry() as reg:
        reg.routes[MANIFEST_PATH] = (200, {"Content-Type": MT_INDEX}, _padded_manifest(600))
        line = pull(fresh_cli, f"{reg.host}/attacks/big:1")
    assert line.endswith(f"Content-Type {MT_INDEX} contradicts the manifest's mediaType "
                         f"{MT_MANIFEST}"), line
    assert_nothing_stored(fresh_cli)
    sentinel.check()


def test_a_pulled_layer_cannot_escape(fresh_cli: Cli, plant: Planter, sentinel: Sentinel,
                                      host_files: HostFiles, tmp_path: Path) -> None:
    """The breakout cases go through the same applier on pull: an absolute symlink
    followed by a write lands in the image; a hard link to a host file is refused."""
    repo = plant.registry.new_repo("attacks")
    escape = [dir_("etc"), symlink("localetc", "/etc"), file("localetc/unbroken", "unbroken"),
              symlink("up", "../../../../../../.."),
              file(f"up{sentinel.dir}/sentinel", "overwritten")]
    img = plant.image(repo, "1", [escape])
    res = fresh_cli.run("run", "--rm", img.ref, "cat", "/etc/unbroken",
                        f"{sentinel.dir}/sentinel", timeout=60)
    assert (res.returncode, res.stdout) == (0, "unbrokenoverwritten"), res.stderr
    import tarfile

    link = Entry("pwlink", tarfile.LNKTYPE, 0o644, linkname=str(sentinel.file))
    bad = plant.image(repo, "2", [[link]], base=False)
    line = pull(fresh_cli, bad.ref)
    assert "layer entry 'pwlink'" in line, line
    assert bad.diff_ids[0][7:] not in storage_names(fresh_cli.root, "layers")
    assert storage_names(fresh_cli.root, "tmp") == set()
    sentinel.check()
    host_files.check()
