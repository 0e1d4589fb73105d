"""The Python API on the VM backend: the same calls as natively, through the
machine (host agent, port forward, shared directory)."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

import pytest

from launcher import Client
from launcher.api import NotFoundError
from tests.integration.vm.conftest import Vm

pytestmark = [pytest.mark.vm, pytest.mark.slow]


def test_api_through_the_machine(vm: Vm, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("LAUNCHER_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("LAUNCHER_VM_IMAGES", vm.env["LAUNCHER_VM_IMAGES"])
    (vm.share / "index.html").write_text("from the host\n")
    with Client(root=vm.root, backend="vm") as client:
        assert client.backend == "vm"
        c = client.containers.run("busybox", ["sh", "-c", "echo up; exec httpd -f -p 8080 -h /w"],
                                  detach=True, ports={8080: None},
                                  volumes={str(vm.share): "/w"}, environment={"A": "b"})
        assert c.reload().status == "running"
        port = c.host_port(8080)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as answer:
            assert answer.read() == b"from the host\n"
        result = c.exec(["sh", "-c", "echo $A; exit 6"])
        assert (result.exit_code, result.stdout) == (6, b"b\n")
        assert c.logs() == b"up\n"
        assert client.containers.list() == [c]
        done = client.containers.run("busybox", "sh -c 'echo done; exit 3'")
        assert (done.exit_code, done.logs()) == (3, b"done\n")
        with pytest.raises(NotFoundError):
            client.containers.get("no-such-container")
    assert Client(root=vm.root, backend="vm").containers.list(all=True) == []


def test_api_through_an_ssh_host(vm: Vm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Client(host="ssh://…"): the guest stands in for a Linux host with launcher on it
    (as in test_machine_e2e's --host test); its key pinned in known_hosts."""
    port = json.loads(vm.cli("machine", "inspect").stdout)[0]["SSHPort"]
    mdir = vm.root / "storage" / "machines" / "default"
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {(mdir / 'ssh_host_ed25519_key.pub').read_text()}")
    for key in [k for k in os.environ if k.startswith("LAUNCHER_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("LAUNCHER_SSH_KNOWN_HOSTS", str(known))
    monkeypatch.setenv("LAUNCHER_SSH_KEY", str(mdir / "id_ed25519"))
    with Client(host=f"ssh://root@127.0.0.1:{port}") as client:
        assert client.backend == f"ssh://root@127.0.0.1:{port}"
        c = client.containers.run("busybox", ["sh", "-c", "echo remote; sleep 60"], detach=True,
                                  name="over-ssh")
        assert client.containers.get("over-ssh") == c
        assert c.exec(["sh", "-c", "exit 9"]).exit_code == 9
        deadline = time.monotonic() + 30
        while c.logs() != b"remote\n" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert c.logs() == b"remote\n"
    with Client(host=f"ssh://root@127.0.0.1:{port}") as client:
        assert client.containers.list(all=True) == []  # the first client removed it
