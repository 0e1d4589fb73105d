"""``client.kube``: Kubernetes Pod manifests, as ``launcher kube play|down|generate``.

Play runs containers (it forks, as ``run`` does), so every call goes through
the backend's ``launcher kube`` command in a child, the manifest on its stdin:
a file of this host works on every backend.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, TypeAlias

    from launcher.api.client import Client
    from launcher.api.models import Container

    # YAML text, a file of this host, or the manifest's documents as Python objects
    Manifest: TypeAlias = str | os.PathLike[str] | Mapping[str, Any] | Sequence[Mapping[str, Any]]


class Kube:
    """``client.kube``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def play(self, manifest: Manifest, *, replace: bool = False) -> dict[str, list[str]]:
        """Run the pods of ``manifest``: ``{pod name: [container ids]}`` (the
        manifest's containers; each pod's infra container is ``<pod>-infra``).
        All or nothing: a failure removes what it started."""
        out = self._client.service.command.check(
            ["kube", "play", *(["--replace"] if replace else []), "-"], stdin=_text(manifest))
        pods: dict[str, list[str]] = {}
        current = ""
        lines = out.decode().splitlines()
        for i, line in enumerate(lines):
            if line == "Pod:" and i + 1 < len(lines):
                current = lines[i + 1]
                pods[current] = []
            elif current and len(line) == 64 and line != current:
                pods[current].append(line)
        return pods

    def down(self, manifest: Manifest, *, force: bool = False) -> list[str]:
        """Remove the pods ``play`` made from ``manifest``; the pods removed."""
        out = self._client.service.command.check(
            ["kube", "down", *(["--force"] if force else []), "-"], stdin=_text(manifest))
        lines = out.decode().splitlines()
        if "Pods removed:" not in lines:
            return []
        after = lines[lines.index("Pods removed:") + 1:]
        return after[:after.index("Volumes removed:")] if "Volumes removed:" in after else after

    def generate(self, *containers: Container | str, kind: str = "pod") -> str:
        """A Pod (``kind="deployment"``: a Deployment) manifest of running
        containers, or of a pod ``play`` made, as YAML."""
        refs = [c if isinstance(c, str) else c.id for c in containers]
        out = self._client.service.command.check(["kube", "generate", "-t", kind, "--", *refs])
        return out.decode()


def _text(manifest: Manifest) -> bytes:
    if isinstance(manifest, os.PathLike):
        with open(manifest, "rb") as f:
            return f.read()
    if isinstance(manifest, str):
        return manifest.encode()
    import yaml

    docs = [manifest] if hasattr(manifest, "keys") else list(manifest)
    return yaml.safe_dump_all(docs, sort_keys=False).encode()
