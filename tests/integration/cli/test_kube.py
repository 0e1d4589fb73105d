"""``launcher kube play|down|generate`` with real pods: a shared network namespace,
volumes, a published hostPort, the rollback of a failed play, generated YAML that
Kubernetes' schema accepts and that plays back.

Pods run on the CLI tests' default network (none: the infra's namespace has only
``lo``, which its containers share), except the hostPort test, which runs the CLI
in a throwaway network namespace with the bridge network (netenv.NetHost).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.cli.conftest import DEFAULT_NETWORK_ENV, Cli, wait_for
from tests.integration.cli.netenv import NetHost, clean_up, wait_answer
from tests.unit.kube.kubeschema import assert_valid

pytestmark = pytest.mark.root

POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
  volumes:
  - {{name: www, hostPath: {{path: {www}, type: Directory}}}}
  - {{name: made, hostPath: {{path: {made}, type: DirectoryOrCreate}}}}
  - {{name: shared, emptyDir: {{}}}}
  containers:
  - name: server
    image: busybox
    command: [httpd, -f, -p, "8080", -h, /www]
    volumeMounts: [{{name: www, mountPath: /www, readOnly: true}}]
    resources: {{limits: {{memory: 64Mi, cpu: 500m}}}}
  - name: client
    image: busybox
    command: [sh, -c]
    args:
    - until wget -q -O /shared/got http://localhost:8080/; do sleep 0.1; done;
      echo "$GREETING" > /made/greeting; exec sleep 3600
    env: [{{name: GREETING, value: hello from the pod}}]
    volumeMounts:
    - {{name: shared, mountPath: /shared}}
    - {{name: made, mountPath: /made}}
"""


@pytest.fixture
def www(tmp_path: Path) -> Path:
    path = tmp_path / "www"
    path.mkdir()
    (path / "index.html").write_text("served over localhost\n")
    return path


def pod_yaml(tmp_path: Path, www: Path, name: str = "demo") -> str:
    return POD.format(name=name, www=www, made=tmp_path / "made" / "here")


def names(cli: Cli) -> list[str]:
    rows = [json.loads(line) for line in cli.run("ps", "-a", "--format", "json").stdout
            .splitlines()]
    return sorted(r["Names"] for r in rows)


def volumes(cli: Cli) -> list[str]:
    return cli.run("volume", "ls", "-q").stdout.split()


def assert_nothing_left(cli: Cli) -> None:
    assert names(cli) == [] and volumes(cli) == []


def test_a_pod_shares_localhost_volumes_and_hostname(cli: Cli, tmp_path: Path,
                                                     www: Path) -> None:
    path = tmp_path / "pod.yaml"
    path.write_text(pod_yaml(tmp_path, www))
    res = cli.run("kube", "play", str(path))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[:3] == ["Pod:", "demo", "Containers:"] and len(lines) == 5
    assert all(len(cid) == 64 for cid in lines[3:])
    assert names(cli) == ["demo-client", "demo-infra", "demo-server"]
    made = tmp_path / "made" / "here"
    wait_for(lambda: (made / "greeting").exists())
    assert (made / "greeting").read_text() == "hello from the pod\n"
    got = cli.run("exec", "demo-client", "cat", "/shared/got")
    assert got.stdout == "served over localhost\n", got.stderr
    assert cli.run("exec", "demo-server", "hostname").stdout == "demo\n"
    assert volumes(cli) == ["demo-shared"]
    ro = cli.run("exec", "demo-server", "touch", "/www/x")
    assert ro.returncode != 0 and not (www / "x").exists()

    down = cli.run("kube", "down", "-", input=path.read_text())
    assert down.returncode == 0, down.stderr
    assert down.stdout == ("Pods stopped:\ndemo\nPods removed:\ndemo\n"
                           "Volumes removed:\ndemo-shared\n")
    assert_nothing_left(cli)
    assert (made / "greeting").exists()  # host paths stay


def test_a_failed_play_leaves_nothing(cli: Cli, tmp_path: Path, www: Path) -> None:
    text = pod_yaml(tmp_path, www).replace(
        "  - name: client\n    image: busybox\n",
        "  - name: client\n    image: localhost/no-such-image:1\n    imagePullPolicy: Never\n")
    res = cli.run("kube", "play", "-", input=text)
    assert res.returncode == 125 and res.stdout == ""
    assert res.stderr.startswith("launcher: kube play: pod demo: container client: image ")
    assert res.stderr.endswith("(everything it had started was removed)\n")
    assert_nothing_left(cli)


def test_a_failing_command_leaves_nothing(cli: Cli, tmp_path: Path, www: Path) -> None:
    text = pod_yaml(tmp_path, www).replace("command: [sh, -c]", "command: [no-such-command]")
    res = cli.run("kube", "play", "-", input=text)
    assert res.returncode == 125 and "no-such-command" in res.stderr, res.stderr
    assert res.stderr.count("\n") == 1
    assert_nothing_left(cli)


def test_bad_yaml_creates_nothing(cli: Cli) -> None:
    res = cli.run("kube", "play", "-", input="apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n"
                  "spec: {containers: [{name: a, image: busybox, lifecycle: {}}]}\n")
    assert res.returncode == 125
    assert res.stderr == ("launcher: kube: pod 'x': spec.containers[0].lifecycle: not "
                          "supported by launcher kube play\n")
    assert_nothing_left(cli)


def test_generate_from_containers_validates_and_plays_back(cli: Cli, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for args in (
        ("--name", "app_1", "-e", "MODE=test", "-v", f"{data}:/data:ro", "-v", "appvol:/state",
         "-v", "/cache", "-m", "32m", "--cpus", "0.5", "--cap-add", "NET_ADMIN", "-w", "/state",
         "--restart", "always", "busybox", "sleep", "3600"),
        ("--name", "helper", "-u", "1000:1000", "--read-only", "busybox", "sleep", "3600"),
    ):
        res = cli.run("run", "-d", *args)
        assert res.returncode == 0, res.stderr
    gen = cli.run("kube", "generate", "app_1", "helper")
    assert gen.returncode == 0, gen.stderr
    doc = yaml.safe_load(gen.stdout)
    assert_valid(doc)
    assert doc["metadata"]["name"] == "app-1-pod"
    app, helper = doc["spec"]["containers"]
    assert (app["name"], app["image"], app["command"]) == ("app-1", "busybox",
                                                           ["sleep", "3600"])
    assert app["env"] == [{"name": "MODE", "value": "test"}] and app["workingDir"] == "/state"
    assert app["resources"] == {"limits": {"memory": "32Mi", "cpu": "500m"}}
    assert app["securityContext"] == {"capabilities": {"add": ["NET_ADMIN"]}}
    assert helper["securityContext"] == {"readOnlyRootFilesystem": True, "runAsUser": 1000,
                                         "runAsGroup": 1000}
    kinds = {v["name"]: {k for k in v if k != "name"} for v in doc["spec"]["volumes"]}
    assert sorted(kinds.values(), key=str) == [{"emptyDir"}, {"hostPath"},
                                              {"persistentVolumeClaim"}]
    assert doc["spec"]["restartPolicy"] == "Always"
    assert cli.run("rm", "-f", "app_1", "helper").returncode == 0

    out = tmp_path / "gen.yaml"
    assert cli.run("kube", "generate", "-f", str(out), "--type", "deployment",
                   "app_1").returncode == 125  # removed: no such container or pod
    out.write_text(gen.stdout)
    played = cli.run("kube", "play", str(out))
    assert played.returncode == 0, played.stderr
    assert names(cli) == ["app-1-pod-app-1", "app-1-pod-helper", "app-1-pod-infra"]
    assert cli.run("exec", "app-1-pod-app-1", "cat", "/proc/self/status").returncode == 0
    assert cli.run("kube", "down", str(out)).returncode == 0
    assert names(cli) == [] and volumes(cli) == ["appvol"]  # a claim's volume stays
    assert cli.run("kube", "down", "--force", str(out)).stdout.endswith(
        "Volumes removed:\nappvol\n")
    assert_nothing_left(cli)


def test_generate_a_played_pod_round_trips(cli: Cli, tmp_path: Path, www: Path) -> None:
    text = pod_yaml(tmp_path, www, name="round")
    assert cli.run("kube", "play", "-", input=text).returncode == 0
    gen = cli.run("kube", "generate", "round")
    assert gen.returncode == 0, gen.stderr
    doc = yaml.safe_load(gen.stdout)
    assert_valid(doc)
    assert doc["metadata"]["name"] == "round"
    assert [c["name"] for c in doc["spec"]["containers"]] == ["server", "client"]
    assert {v["name"] for v in doc["spec"]["volumes"] if "emptyDir" in v} == {"shared"}
    assert cli.run("kube", "down", "-", input=gen.stdout).returncode == 0
    assert_nothing_left(cli)


def test_a_deployment_plays_as_one_pod(cli: Cli) -> None:
    text = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: main, image: busybox, command: [sleep, "3600"]}]
"""
    res = cli.run("kube", "play", "-", input=text)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[:3] == ["Pod:", "api-pod", "Container:"]
    assert names(cli) == ["api-pod-infra", "api-pod-main"]
    assert cli.run("kube", "play", "-", input=text).returncode == 125  # exists already
    replaced = cli.run("kube", "play", "--replace", "-", input=text)
    assert replaced.returncode == 0, replaced.stderr
    assert cli.run("kube", "down", "-", input=text).returncode == 0
    assert_nothing_left(cli)


@pytest.fixture
def host() -> Iterator[NetHost]:
    ns = NetHost(f"lt-kube-{os.getpid()}")
    yield ns
    ns.close()


def test_a_host_port_is_published_by_the_pod(cli: Cli, host: NetHost, www: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEFAULT_NETWORK_ENV, "")  # the bridge, inside the throwaway namespace
    inside = Cli(cli.root, prefix=host.enter)
    text = f"""
apiVersion: v1
kind: Pod
metadata: {{name: web}}
spec:
  volumes: [{{name: www, hostPath: {{path: {www}}}}}]
  containers:
  - name: httpd
    image: busybox
    command: [httpd, -f, -p, "80", -h, /www]
    ports: [{{containerPort: 80, hostPort: 18080, hostIP: 127.0.0.1}}]
    volumeMounts: [{{name: www, mountPath: /www}}]
"""
    try:
        res = inside.run("kube", "play", "-", input=text)
        assert res.returncode == 0, res.stderr
        assert wait_answer(lambda: host.http("http://127.0.0.1:18080/"), "served") \
            == "served over localhost\n"
        assert "127.0.0.1:18080->80/tcp" in inside.run("ps").stdout
        assert inside.run("kube", "down", "-", input=text).returncode == 0
        assert host.http("http://127.0.0.1:18080/", timeout=1).startswith("FAIL")
    finally:
        left = clean_up(inside, host)
    assert not left, f"left behind: {left}"
    assert_nothing_left(cli)
