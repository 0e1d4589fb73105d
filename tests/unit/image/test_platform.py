from __future__ import annotations

import pytest

from launcher.errors import ImageError, UsageError
from launcher.image import platform as plat
from launcher.image.platform import Platform


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("linux/amd64", "linux/amd64"),
        ("linux/arm64", "linux/arm64/v8"),
        ("linux/arm64/v8", "linux/arm64/v8"),
        ("linux/aarch64", "linux/arm64/v8"),
        ("arm64", "linux/arm64/v8"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/arm/v6", "linux/arm/v6"),
        ("linux/x86_64", "linux/amd64"),
        ("LINUX/AMD64", "linux/amd64"),
    ],
)
def test_parse_normalises(text: str, want: str) -> None:
    assert str(plat.parse(text)) == want


@pytest.mark.parametrize("text", ["", "linux/", "/amd64", "a/b/c/d", "linux/am d64", "linux/é"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="invalid platform"):
        plat.parse(text)


def test_matches_implied_variant() -> None:
    assert Platform("linux", "arm64").matches(Platform("linux", "arm64", "v8"))
    assert not Platform("linux", "arm").matches(Platform("linux", "arm", "v6"))
    assert Platform("linux", "amd64") == Platform("linux", "x86_64")


def _index(
    *plats: dict[str, str], extra: list[dict[str, object]] | None = None
) -> dict[str, object]:
    manifests: list[dict[str, object]] = [
        {"digest": "sha256:" + f"{i:064x}", "size": 1, "platform": p} for i, p in enumerate(plats)
    ]
    return {"schemaVersion": 2, "manifests": (extra or []) + manifests}


def test_select_exact_and_implied() -> None:
    index = _index({"os": "linux", "architecture": "amd64"},
                   {"os": "linux", "architecture": "arm64", "variant": "v8"},
                   {"os": "linux", "architecture": "arm", "variant": "v7"})
    assert plat.select(index, plat.parse("linux/arm64"), "x")["digest"].endswith("1")
    assert plat.select(index, plat.parse("linux/arm/v7"), "x")["digest"].endswith("2")
    assert plat.select(index, plat.parse("amd64"), "x")["digest"].endswith("0")


def test_select_skips_attestations_and_lists_offers() -> None:
    attest = {"digest": "sha256:" + "f" * 64, "size": 1,
              "platform": {"os": "unknown", "architecture": "unknown"},
              "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}
    index = _index({"os": "linux", "architecture": "amd64"}, extra=[attest])
    with pytest.raises(ImageError, match=r"no image for platform linux/s390x \(the index "
                       r"offers: linux/amd64\)"):
        plat.select(index, plat.parse("linux/s390x"), "x")


def test_select_bad_index() -> None:
    with pytest.raises(ImageError, match="no manifests"):
        plat.select({"manifests": "nope"}, plat.host(), "x")
    with pytest.raises(ImageError, match="not an object"):
        plat.select({"manifests": [1]}, plat.host(), "x")


def test_host_is_linux() -> None:
    assert plat.host().os == "linux"
