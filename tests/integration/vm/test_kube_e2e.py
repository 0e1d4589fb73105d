"""``launcher kube play|down`` through the VM backend: the manifest travels on the
channel, the pod runs in the guest (its pause image from the guest's catatonit),
its hostPort is forwarded to the host, a hostPath in the share is the host's."""

from __future__ import annotations

import time
import urllib.request

import pytest

from tests.integration.vm.conftest import Vm, free_port

pytestmark = [pytest.mark.vm, pytest.mark.slow]

POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: vmpod}}
spec:
  volumes: [{{name: www, hostPath: {{path: {www}, type: Directory}}}}]
  containers:
  - name: web
    image: busybox
    command: [httpd, -f, -p, "8080", -h, /www]
    ports: [{{containerPort: 8080, hostPort: {port}}}]
    volumeMounts: [{{name: www, mountPath: /www}}]
  - name: probe
    image: busybox
    command: [sh, -c, "until wget -qO /www/seen http://localhost:8080/; do sleep 0.2; done;
      exec sleep 3600"]
    volumeMounts: [{{name: www, mountPath: /www}}]
"""


def test_kube_play_and_down_through_the_machine(vm: Vm) -> None:
    www = vm.share / "www"
    www.mkdir()
    (www / "index.html").write_text("pod in the machine\n")
    port = free_port()
    manifest = vm.share / "pod.yaml"
    manifest.write_text(POD.format(www=www, port=port))
    played = vm.vm("kube", "play", str(manifest))
    try:
        assert played.returncode == 0, played.stderr
        assert played.stdout.startswith("Pod:\nvmpod\n")
        deadline = time.monotonic() + 60
        while not (www / "seen").exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert (www / "seen").read_text() == "pod in the machine\n"  # localhost in the pod
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as answer:
            assert answer.read() == b"pod in the machine\n"  # hostPort, forwarded
    finally:
        down = vm.vm("kube", "down", str(manifest))
    assert down.returncode == 0, down.stderr
    assert vm.vm("ps", "-aq").stdout == ""
