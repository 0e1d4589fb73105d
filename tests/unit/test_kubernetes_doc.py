"""docs/kubernetes.md: its RuntimeClass and Pod manifests are valid Kubernetes objects,
and its TOML blocks parse."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

DOC = Path(__file__).resolve().parents[2] / "docs" / "kubernetes.md"


def _blocks(lang: str) -> list[str]:
    text = DOC.read_text()
    parts = text.split(f"```{lang}\n")[1:]
    return [p.split("```", 1)[0] for p in parts]


def test_the_runtime_class_and_its_pod_are_valid() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    docs = [d for block in _blocks("yaml") for d in yaml.safe_load_all(block) if d]
    kinds = {d["kind"]: d for d in docs}
    assert kinds["RuntimeClass"]["handler"] == "launcher"
    assert kinds["Pod"]["spec"]["runtimeClassName"] == kinds["RuntimeClass"]["metadata"]["name"]
    for doc in docs:
        kubernetes_validate.validate(doc, "1.30.0", strict=True)


def test_the_runtime_configurations_parse() -> None:
    blocks = [tomllib.loads(b) for b in _blocks("toml")]
    containerd = blocks[0]["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]
    launcher = containerd["runtimes"]["launcher"]
    assert launcher["runtime_type"] == "io.containerd.runc.v2"
    assert launcher["options"]["BinaryName"].endswith("/launcher-runtime")
    crio = blocks[1]["crio"]["runtime"]["runtimes"]["launcher"]
    assert crio["runtime_type"] == "oci" and crio["runtime_path"].endswith("/launcher-runtime")
