"""``launcher kube generate|play|down``: arguments, output and errors, on a fake host."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from launcher.cli import main
from launcher.kube.generate import Source
from tests.unit.kube.fakeops import FakeOps
from tests.unit.kube.kubeschema import assert_valid

from .conftest import FakeEngine

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: demo}
spec:
  volumes: [{name: scratch, emptyDir: {}}]
  containers:
  - {name: web, image: busybox, args: [httpd, -f], volumeMounts: [{name: scratch, mountPath: /s}]}
  - {name: side, image: busybox, args: [sleep, "60"]}
"""


@pytest.fixture
def ops(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> FakeOps:
    from launcher.kube import podops

    fake = FakeOps()
    monkeypatch.setattr(podops, "PodOps", lambda paths: fake)
    return fake


@pytest.fixture
def pod_file(tmp_path: Path) -> Path:
    path = tmp_path / "pod.yaml"
    path.write_text(POD)
    return path


def run(*argv: str) -> int:
    return main.run_cli(["--root", "/tmp/kube-cli-test", *argv])


def test_play_prints_the_pod_and_its_containers(ops: FakeOps, pod_file: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run("kube", "play", str(pod_file)) == 0
    out, err = capsys.readouterr()
    assert out == f"Pod:\ndemo\nContainers:\n{2:064x}\n{3:064x}\n" and err == ""
    assert [r.name for r in ops.started] == ["demo-infra", "demo-web", "demo-side"]


def test_play_from_stdin_with_one_container(ops: FakeOps, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    text = POD.replace('  - {name: side, image: busybox, args: [sleep, "60"]}\n', "")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert run("kube", "play", "-") == 0
    assert capsys.readouterr().out == f"Pod:\ndemo\nContainer:\n{2:064x}\n"


def test_play_failure_is_one_line_and_exit_125(ops: FakeOps, pod_file: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    ops.fail_on = "demo-side"
    assert run("kube", "play", str(pod_file)) == 125
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ("launcher: kube play: pod demo: container side: exec: sleep: not found "
                   "(everything it had started was removed)\n")
    assert ops.containers == {} and ops.volumes == {}


def test_play_replace_and_conflict(ops: FakeOps, pod_file: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert run("kube", "play", str(pod_file)) == 0
    assert run("kube", "play", str(pod_file)) == 125
    assert 'pod "demo" already exists' in capsys.readouterr().err
    assert run("kube", "play", "--replace", str(pod_file)) == 0
    assert len(ops.containers) == 3


@pytest.mark.parametrize(("content", "message"), [
    ("a: [", "launcher: kube: invalid YAML: "),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: a}]}\n",
     "launcher: kube: pod 'x': spec.containers[0].image: required\n"),
])
def test_bad_yaml_creates_nothing(ops: FakeOps, tmp_path: Path, content: str, message: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    assert run("kube", "play", str(path)) == 125
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert ops.started == [] and ops.pause_built == 0


def test_missing_file(ops: FakeOps, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("kube", "down", str(tmp_path / "nope.yaml")) == 125
    assert capsys.readouterr().err == f"launcher: kube: {tmp_path}/nope.yaml: no such file\n"


def test_down_reports_like_podman(ops: FakeOps, pod_file: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert run("kube", "play", str(pod_file)) == 0
    capsys.readouterr()
    assert run("kube", "down", str(pod_file)) == 0
    assert capsys.readouterr().out == ("Pods stopped:\ndemo\nPods removed:\ndemo\n"
                                       "Volumes removed:\ndemo-scratch\n")
    assert ops.containers == {} and ops.volumes == {}
    assert run("kube", "down", str(pod_file)) == 0  # nothing left: nothing to say
    assert capsys.readouterr().out == "Pods stopped:\nPods removed:\nVolumes removed:\n"


def _fake_collect(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    from launcher.kube import describe

    calls: list[list[str]] = []
    doc: dict[str, Any] = {
        "Id": "a" * 64, "Name": "/web_1",
        "Config": {"Image": "busybox", "Cmd": ["httpd", "-f"], "Env": [], "Labels": {}},
        "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}},
    }

    def collect(paths: object, refs: list[str]) -> tuple[str, list[Source], None]:
        calls.append(refs)
        return "web_1-pod", [Source(doc, {"Cmd": ["sh"]})], None

    monkeypatch.setattr(describe, "collect", collect)
    return calls


def test_generate_to_stdout(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    calls = _fake_collect(monkeypatch)
    assert run("kube", "generate", "web_1", "other") == 0
    assert calls == [["web_1", "other"]]
    doc = yaml.safe_load(capsys.readouterr().out)
    assert_valid(doc)
    assert doc["metadata"]["name"] == "web-1-pod"
    assert doc["spec"]["containers"] == [{"name": "web-1", "image": "busybox",
                                          "command": ["httpd", "-f"],
                                          "ports": [{"containerPort": 80, "hostPort": 8080}]}]


def test_generate_to_a_new_file_only(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch,
                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fake_collect(monkeypatch)
    out = tmp_path / "gen.yaml"
    assert run("kube", "generate", "-t", "deployment", "-f", str(out), "web_1") == 0
    assert capsys.readouterr().out == ""
    doc = yaml.safe_load(out.read_text())
    assert_valid(doc)
    assert doc["kind"] == "Deployment"
    assert run("kube", "generate", "--filename", str(out), "web_1") == 125
    assert capsys.readouterr().err == f"launcher: kube generate: {out} already exists\n"


def test_generate_bad_type(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    _fake_collect(monkeypatch)
    assert run("kube", "generate", "--type", "job", "web_1") == 125
    assert "expected pod or deployment" in capsys.readouterr().err


def test_kube_help_lists_the_verbs(engine: FakeEngine, capsys: pytest.CaptureFixture[str]
                                   ) -> None:
    assert run("kube", "--help") == 0
    out = capsys.readouterr().out
    assert all(verb in out for verb in ("generate", "play", "down"))
