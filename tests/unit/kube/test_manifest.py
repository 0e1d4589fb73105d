"""Reading Kubernetes YAML into checked pods, and the one-line errors for what is not."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from launcher.errors import NotFoundError, UsageError
from launcher.kube import manifest

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: demo
  labels: {app: demo, tier: web}
  annotations: {note: ignored}
spec:
  restartPolicy: OnFailure
  hostname: box
  dnsConfig:
    nameservers: [1.1.1.1]
    searches: [example.com]
    options: [{name: ndots, value: "2"}, {name: edns0}]
  hostAliases: [{ip: 10.0.0.5, hostnames: [db, db.local]}]
  securityContext: {runAsUser: 1000}
  terminationGracePeriodSeconds: 5
  volumes:
  - {name: data, hostPath: {path: /srv/data, type: DirectoryOrCreate}}
  - {name: scratch, emptyDir: {}}
  - {name: db, persistentVolumeClaim: {claimName: dbvol, readOnly: true}}
  containers:
  - name: web
    image: nginx:1.25
    command: [nginx]
    args: [-g, daemon off;]
    workingDir: /srv
    env: [{name: A, value: "1"}, {name: B}]
    ports:
    - {containerPort: 80, hostPort: 8080}
    - {containerPort: 53, hostPort: 5353, hostIP: "::1", protocol: UDP, name: dns}
    - {containerPort: 9090}
    resources:
      limits: {memory: 256Mi, cpu: 500m}
      requests: {memory: 64Mi, cpu: 100m, nvidia.com/gpu: 1}
    volumeMounts:
    - {name: data, mountPath: /data/}
    - {name: scratch, mountPath: /tmp/s, readOnly: true}
    - {name: db, mountPath: /var/lib/db}
    securityContext:
      runAsGroup: 100
      capabilities: {add: [NET_ADMIN], drop: [ALL]}
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      seccompProfile: {type: Unconfined}
    imagePullPolicy: Never
    tty: true
    stdin: true
    livenessProbe: {exec: {command: [true]}}
  - name: side
    image: busybox
"""


def test_a_full_pod() -> None:
    [pod] = manifest.load(POD)
    assert (pod.name, pod.restart, pod.hostname) == ("demo", "on-failure", "box")
    assert pod.labels == {"app": "demo", "tier": "web"}
    assert (pod.dns, pod.dns_search, pod.dns_options) == (
        ["1.1.1.1"], ["example.com"], ["ndots:2", "edns0"])
    assert pod.host_aliases == [("db", "10.0.0.5"), ("db.local", "10.0.0.5")]
    assert [(v.name, v.kind, v.source, v.host_type, v.read_only) for v in pod.volumes] == [
        ("data", "hostPath", "/srv/data", "DirectoryOrCreate", False),
        ("scratch", "emptyDir", "demo-scratch", "", False),
        ("db", "persistentVolumeClaim", "dbvol", "", True)]
    web, side = pod.containers
    assert (web.name, web.image, web.command, web.args) == (
        "web", "nginx:1.25", ["nginx"], ["-g", "daemon off;"])
    assert web.env == [("A", "1"), ("B", "")] and web.workdir == "/srv"
    assert [(p.container_port, p.host_port, p.host_ip, p.protocol) for p in web.ports] == [
        (80, 8080, "", "tcp"), (53, 5353, "::1", "udp"), (9090, 0, "", "tcp")]
    assert [p.publish() for p in pod.published()] == ["8080:80/tcp", "[::1]:5353:53/udp"]
    assert (web.memory, web.cpus) == (256 << 20, 0.5)
    assert [(m.volume, m.path, m.read_only) for m in web.mounts] == [
        ("data", "/data", False), ("scratch", "/tmp/s", True), ("db", "/var/lib/db", False)]
    assert (web.user, web.cap_add, web.cap_drop) == ("1000:100", ["CAP_NET_ADMIN"], ["ALL"])
    assert web.read_only and web.no_new_privs and web.seccomp_unconfined
    assert (web.pull, web.tty, web.stdin) == ("never", True, True)
    assert (side.user, side.pull, side.command) == ("1000", "missing", [])  # the pod's user


def test_deployment_plays_its_template_as_one_pod(caplog: pytest.LogCaptureFixture) -> None:
    text = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, labels: {team: x}}
spec:
  replicas: 3
  selector: {matchLabels: {app: api}}
  strategy: {type: Recreate}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: main, image: busybox}]
"""
    [pod] = manifest.load(text)
    assert pod.name == "api-pod" and pod.labels == {"team": "x", "app": "api"}
    assert pod.restart == "always" and pod.containers[0].name == "main"


def test_several_documents() -> None:
    text = POD + "---\n" + POD.replace("name: demo", "name: other") + "---\n"
    assert [p.name for p in manifest.load(text)] == ["demo", "other"]


def _error(text: str) -> str:
    with pytest.raises(UsageError) as info:
        manifest.load(text)
    message = str(info.value)
    assert "\n" not in message
    return message


def _pod(containers: str, extra: str = "") -> str:
    return (f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n{extra}"
            f"  containers:\n{containers}")


@pytest.mark.parametrize(("text", "expected"), [
    ("a: [1, 2", "kube: invalid YAML: "),
    ("", "kube: the YAML describes no Pod or Deployment"),
    ("apiVersion: v1\nkind: Service\n", "kube: kind 'Service' is not supported"),
    ("- 1\n- 2\n", "kube: a document without a kind is not supported"),
    ("apiVersion: v2\nkind: Pod\n", "kube: apiVersion: expected v1 for kind Pod"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec: {}\n",
     "kube: metadata.name: must be lowercase"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", "kube: spec: required"),
    (_pod("  - {name: a, image: x, lifecycle: {}}\n"),
     "kube: pod 'p': spec.containers[0].lifecycle: not supported by launcher kube play"),
    (_pod("  - {name: a}\n"), "kube: pod 'p': spec.containers[0].image: required"),
    (_pod("  - {name: A, image: x}\n"), "spec.containers[0].name: must be a DNS-1123 label"),
    (_pod("  - {name: infra, image: x}\n"), "'infra' is reserved"),
    (_pod("  - {name: a, image: x}\n  - {name: a, image: y}\n"), "'a' is used twice"),
    (_pod("  - {name: a, image: x, env: [{name: P, value: 8080}]}\n"),
     "spec.containers[0].env[0].value: expected a string (quote it in the YAML)"),
    (_pod("  - {name: a, image: x, env: [{name: P, valueFrom: {}}]}\n"),
     "spec.containers[0].env[0].valueFrom: not supported"),
    (_pod("  - {name: a, image: x, ports: [{containerPort: 0}]}\n"),
     "ports[0].containerPort: must be between 1 and 65535"),
    (_pod("  - {name: a, image: x, ports: [{containerPort: 80, hostPort: 80}]}\n"
          "  - {name: b, image: x, ports: [{containerPort: 81, hostPort: 80}]}\n"),
     "hostPort 80/TCP is published twice"),
    (_pod("  - {name: a, image: x, ports: [{containerPort: 80, hostIP: nope}]}\n"),
     "ports[0].hostIP: not an IP address"),
    (_pod("  - {name: a, image: x, ports: [{containerPort: 80, protocol: tcp}]}\n"),
     "ports[0].protocol: expected one of SCTP, TCP, UDP"),
    (_pod("  - {name: a, image: x, resources: {limits: {memory: 1Q}}}\n"),
     "resources.limits.memory: unknown quantity suffix 'Q'"),
    (_pod("  - {name: a, image: x, resources: {limits: {cpu: 1m}}}\n"),
     "resources.limits.cpu: below launcher's minimum of 10m"),
    (_pod("  - {name: a, image: x, resources: {limits: {nvidia.com/gpu: 1}}}\n"),
     "resources.limits.nvidia.com/gpu: not supported"),
    (_pod("  - {name: a, image: x, volumeMounts: [{name: v, mountPath: /v}]}\n"),
     "volumeMounts[0].name: no volume 'v' in spec.volumes"),
    (_pod("  - {name: a, image: x}\n", "  volumes: [{name: v, configMap: {name: c}}]\n"),
     "spec.volumes[0].configMap: not supported"),
    (_pod("  - {name: a, image: x}\n", "  volumes: [{name: v}]\n"),
     "spec.volumes[0]: needs exactly one of hostPath, emptyDir, persistentVolumeClaim"),
    (_pod("  - {name: a, image: x}\n", "  volumes: [{name: v, hostPath: {path: rel}}]\n"),
     "spec.volumes[0].hostPath.path: must be an absolute path"),
    (_pod("  - {name: a, image: x}\n", "  volumes: [{name: v, hostPath: {path: /a:b}}]\n"),
     "':' and ',' are not supported in paths"),
    (_pod("  - {name: a, image: x}\n",
          "  volumes: [{name: v, hostPath: {path: /a, type: Weird}}]\n"),
     "spec.volumes[0].hostPath.type: expected one of"),
    (_pod("  - {name: a, image: x}\n", "  volumes: [{name: v, emptyDir: {medium: Memory}}]\n"),
     "spec.volumes[0].emptyDir.medium: not supported"),
    (_pod("  - {name: a, image: x}\n", "  initContainers: []\n"),
     "spec.initContainers: not supported"),
    (_pod("  - {name: a, image: x}\n", "  restartPolicy: Sometimes\n"),
     "spec.restartPolicy: expected one of Always, Never, OnFailure"),
    (_pod("  - {name: a, image: x, securityContext: {runAsNonRoot: true}}\n"),
     "runAsNonRoot: needs a non-zero runAsUser"),
    (_pod("  - {name: a, image: x, securityContext: {runAsGroup: 5}}\n"),
     "securityContext: runAsGroup needs runAsUser"),
    (_pod("  - {name: a, image: x, securityContext: {capabilities: {add: [BOGUS]}}}\n"),
     "capabilities.add: unknown capability 'BOGUS'"),
    (_pod("  - {name: a, image: x, securityContext: {seccompProfile: {type: Localhost}}}\n"),
     "seccompProfile.type: expected one of RuntimeDefault, Unconfined"),
    (_pod("  - {name: a, image: x, command: ['']}\n"), "command[0]: must not be empty"),
    (_pod("  - {name: a, image: x, tty: yes please}\n"), "tty: expected true or false"),
    (_pod("  - {name: " + "a" * 63 + ", image: x}\n").replace(
        "name: p}", "name: " + "p" * 60 + "." + "q" * 10 + "}"), "longer than 128 characters"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n",
     "spec.containers: required (at least one container)"),
    (POD + "---\n" + POD, "kube: pod 'demo' is described twice"),
    (POD + "---\nkind: Secret\n", "kube: document 2: kind 'Secret' is not supported"),
])
def test_errors_name_the_field(text: str, expected: str) -> None:
    assert expected in _error(text)


def test_invalid_yaml_says_where() -> None:
    assert _error("a: b\n  c: d\n").endswith("(line 2, column 4)")


def test_too_many_documents() -> None:
    assert "more than 64 YAML documents" in _error("---\n".join(["a: 1\n"] * 70))


def test_yaml_tags_are_refused() -> None:
    assert "invalid YAML" in _error("a: !!python/object/apply:os.system [true]\n")


def test_read_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "pod.yaml"
    path.write_text(POD)
    assert manifest.read_source(str(path)) == POD
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(POD.encode())))
    assert manifest.read_source("-") == POD
    with pytest.raises(NotFoundError, match="no such file"):
        manifest.read_source(str(tmp_path / "missing.yaml"))
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (manifest.MAX_BYTES + 1))
    with pytest.raises(UsageError, match="larger than 4 MiB"):
        manifest.read_source(str(big))
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(UsageError, match="not UTF-8"):
        manifest.read_source(str(binary))
