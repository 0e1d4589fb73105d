"""Image platforms (``os/arch[/variant]``) and picking one manifest from an index.

``--platform`` reads as Docker's: ``linux/arm64``, ``linux/arm/v7``, or just
``arm64`` (os defaults to linux). Architecture aliases normalise as containerd's
``platforms.Normalize`` does (``aarch64`` → ``arm64``, ``x86_64`` → ``amd64``;
``arm64`` has the implied variant ``v8``, ``arm`` ``v7``), so an index entry
without a variant still matches a request for one that is implied.
"""

from __future__ import annotations

from launcher.errors import ImageError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "386",
    "i686": "386",
}
_IMPLIED_VARIANT = {"arm64": "v8", "arm": "v7"}
# Index entries that describe something other than a runnable image
# (BuildKit's provenance/SBOM attestations use platform unknown/unknown).
_ATTESTATION = "vnd.docker.reference.type"


class Platform:
    __slots__ = ("architecture", "os", "variant")

    def __init__(self, os: str, architecture: str, variant: str = "") -> None:
        self.os = os
        self.architecture = architecture
        self.variant = variant

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Platform) and str(normalise(self)) == str(normalise(other))

    def __hash__(self) -> int:
        return hash(str(normalise(self)))

    def matches(self, other: Platform) -> bool:
        """Same os and architecture, and the same variant once implied ones are filled in."""
        a, b = normalise(self), normalise(other)
        return a.os == b.os and a.architecture == b.architecture and a.variant == b.variant


def normalise(p: Platform) -> Platform:
    arch = _ARCH_ALIASES.get(p.architecture.lower(), p.architecture.lower())
    variant = p.variant.lower()
    if arch == "arm64" and variant == "8":
        variant = "v8"
    if arch == "arm" and variant in ("5", "6", "7", "8"):
        variant = "v" + variant
    return Platform(p.os.lower(), arch, variant or _IMPLIED_VARIANT.get(arch, ""))


def host() -> Platform:
    from launcher import host as hostinfo

    return normalise(Platform("linux", hostinfo.oci_arch()))


def parse(text: str) -> Platform:
    """``os/arch[/variant]`` or ``arch``; UsageError on anything else."""
    parts = text.strip().split("/")
    if len(parts) == 1:
        parts = ["linux", *parts]
    if not 2 <= len(parts) <= 3 or not all(_ok_part(p) for p in parts):
        raise UsageError(f'invalid platform "{text}": want os/arch[/variant], like linux/arm64')
    return normalise(Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else ""))


def _ok_part(part: str) -> bool:
    return bool(part) and part.isascii() and all(c.isalnum() or c in "._-" for c in part)


def of_descriptor(desc: dict[str, Any]) -> Platform | None:
    raw = desc.get("platform")
    if type(raw) is not dict:
        return None
    os_name, arch, variant = raw.get("os"), raw.get("architecture"), raw.get("variant", "")
    if not isinstance(os_name, str) or not isinstance(arch, str) or not isinstance(variant, str):
        return None
    return Platform(os_name, arch, variant)


def of_config(config: dict[str, Any]) -> Platform:
    return Platform(
        str(config.get("os") or ""),
        str(config.get("architecture") or ""),
        str(config.get("variant") or ""),
    )


def select(index: dict[str, Any], want: Platform, where: str) -> dict[str, Any]:
    """The manifest descriptor of ``index`` for platform ``want``.

    An exact match (after normalising) wins; for the host's own arm64 an entry
    with no variant at all is accepted too. No match lists what the index has.
    """
    manifests = index.get("manifests")
    if type(manifests) is not list:
        raise ImageError(f"{where}: image index has no manifests list")
    offered: list[str] = []
    for desc in manifests:
        if type(desc) is not dict:
            raise ImageError(f"{where}: image index entry is not an object")
        annotations = desc.get("annotations")
        if type(annotations) is dict and _ATTESTATION in annotations:
            continue
        plat = of_descriptor(desc)
        if plat is None:
            continue
        offered.append(str(plat))
        if plat.matches(want):
            return desc
    have = ", ".join(offered) or "none"
    raise ImageError(f"{where}: no image for platform {want} (the index offers: {have})")
