from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from launcher.api import Client
from launcher.api.command import Command

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "demo"},
       "spec": {"containers": [{"name": "web", "image": "busybox"}]}}
IDS = ["a" * 64, "b" * 64]


class Recorder(Command):
    def __init__(self, out: bytes) -> None:
        super().__init__([])
        self.out = out
        self.calls: list[tuple[list[str], bytes | None]] = []

    def check(self, args: Sequence[str], *, stdin: bytes | None = None,
              timeout: float | None = None) -> bytes:
        self.calls.append((list(args), stdin))
        return self.out


def _client(tmp_path: Path, out: bytes) -> tuple[Client, Recorder]:
    client = Client(root=tmp_path, backend="vm")
    rec = Recorder(out)
    client.service.command = rec
    return client, rec


def test_play_sends_the_manifest_on_stdin_and_reads_the_report(tmp_path: Path) -> None:
    report = ("Pod:\ndemo\nContainers:\n" + "\n".join(IDS) + "\n").encode()
    client, rec = _client(tmp_path, report)
    assert client.kube.play(POD, replace=True) == {"demo": IDS}
    args, stdin = rec.calls[0]
    assert args == ["kube", "play", "--replace", "-"] and yaml.safe_load(stdin or b"") == POD
    path = tmp_path / "pod.yaml"
    path.write_text("kind: Pod\n")
    client.kube.play(path)
    assert rec.calls[1] == (["kube", "play", "-"], b"kind: Pod\n")
    client.kube.play("kind: Pod\n")  # a str is the YAML itself
    assert rec.calls[2][1] == b"kind: Pod\n"


def test_down_and_generate(tmp_path: Path) -> None:
    client, rec = _client(tmp_path, b"Pods stopped:\ndemo\nPods removed:\ndemo\n"
                                    b"Volumes removed:\ndemo-shared\n")
    assert client.kube.down([POD], force=True) == ["demo"]
    assert rec.calls[0][0] == ["kube", "down", "--force", "-"]
    rec.out = b"apiVersion: v1\nkind: Pod\n"
    assert client.kube.generate("web", kind="deployment").startswith("apiVersion")
    assert rec.calls[1][0] == ["kube", "generate", "-t", "deployment", "--", "web"]


@pytest.mark.parametrize("out", [b"", b"Pods stopped:\n"])
def test_down_of_nothing(tmp_path: Path, out: bytes) -> None:
    client, _ = _client(tmp_path, out)
    assert client.kube.down(POD) == []
