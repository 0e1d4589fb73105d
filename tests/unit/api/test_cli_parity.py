"""No logic only the CLI can reach: every core operation a CLI module calls is
reached by the Python API too — the same function called by launcher.api, or
the API method named here (which runs that command in a child, where the core
must not run in the caller's process: it forks or enters a namespace).

A new core call in launcher/cli fails this test until the API reaches it too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import launcher.api

PACKAGE = Path(launcher.api.__file__).resolve().parents[1]
CORE = ("launcher.engine", "launcher.containerlife", "launcher.containerops",
        "launcher.imageops", "launcher.copyops", "launcher.network.manage",
        "launcher.kube.play", "launcher.kube.generate", "launcher.kube.manifest")

# core function -> the API method that reaches it through a launcher child
THROUGH_A_CHILD = {
    "launcher.engine.run_container": "ContainerCollection.run",
    "launcher.containerlife.exec_in": "Container.exec",
    "launcher.containerlife.stats_sample": "Container.stats",
    "launcher.copyops.copy": "Container.get_archive",
    "launcher.copyops.CopyOptions": "Container.put_archive",
    "launcher.imageops.push": "ImageCollection.push",
    "launcher.imageops.save": "ImageCollection.save",
    "launcher.imageops.load": "ImageCollection.load",
    "launcher.imageops.prune": "ImageCollection.prune",
    "launcher.imageops.login": "Client.login",
    "launcher.imageops.logout": "Client.logout",
    "launcher.network.manage.connect": "Network.connect",
    "launcher.network.manage.disconnect": "Network.disconnect",
    "launcher.network.manage.port": "Container.ports",
    "launcher.kube.play.play": "Kube.play",
    "launcher.kube.play.down": "Kube.down",
    "launcher.kube.manifest.load": "Kube.play",
    "launcher.kube.manifest.read_source": "Kube.play",
    "launcher.kube.generate.pod_manifest": "Kube.generate",
    "launcher.kube.generate.to_yaml": "Kube.generate",
}


def core_calls(files: Iterable[Path]) -> set[str]:
    """``module.name`` of every core attribute the files use."""
    found: set[str] = set()
    for path in files:
        tree = ast.parse(path.read_text())
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in CORE:
                        aliases[alias.asname or alias.name] = full
                    elif node.module in CORE:
                        found.add(full)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in aliases:
                found.add(f"{aliases[node.value.id]}.{node.attr}")
    return found


def test_the_api_reaches_every_core_operation_the_cli_calls() -> None:
    cli = core_calls((PACKAGE / "cli").glob("*.py"))
    api = core_calls((PACKAGE / "api").glob("*.py"))
    assert len(cli) > 20  # the scan sees the CLI's calls
    missing = sorted(name for name in cli - api if name not in THROUGH_A_CHILD)
    assert missing == [], f"CLI-only core operations: {missing}"


def test_the_methods_named_exist() -> None:
    for method in THROUGH_A_CHILD.values():
        cls, _, name = method.partition(".")
        assert hasattr(getattr(launcher.api, cls), name), method
