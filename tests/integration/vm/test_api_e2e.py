"""The Python API on the VM backend: the same calls as natively, through the
machine (host agent, port forward, shared directory)."""

from __future__ import annotations

import os
import urllib.request

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
