from __future__ import annotations

from pathlib import Path

import pytest

from launcher.api import Client
from launcher.api.local import LocalService
from launcher.api.service import Service
from launcher.errors import UsageError
from tests.unit.api.fakes import FakeService


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Client:
    monkeypatch.delenv("LAUNCHER_HOST", raising=False)
    monkeypatch.delenv("LAUNCHER_BACKEND", raising=False)
    c = Client(root=tmp_path, backend="vm")
    c.service = FakeService()
    return c


def test_backend_is_chosen_as_the_cli_chooses(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAUNCHER_HOST", raising=False)
    monkeypatch.setenv("LAUNCHER_BACKEND", "vm")
    vm = Client(root=tmp_path)
    assert type(vm.service) is Service and vm.backend == "vm"
    assert vm.service.command.global_args == ["--root", str(tmp_path), "--backend", "vm"]
    ssh = Client(root=tmp_path, host="ssh://me@box")
    assert ssh.backend == "ssh://me@box" and "--host" in ssh.service.command.global_args
    monkeypatch.delenv("LAUNCHER_BACKEND")
    other = tmp_path / "other"
    (other / "config").mkdir(parents=True)
    (other / "config" / "launcher.toml").write_text('backend = "vm"\n')
    assert Client(root=other).backend == "vm"  # launcher.toml, as for the CLI
    with pytest.raises(UsageError, match="unknown backend"):
        Client(root=tmp_path, backend="bogus")
    machine = Client(root=tmp_path, backend="vm", machine="dev")
    assert machine.service.command.env == {"LAUNCHER_MACHINE": "dev"}


@pytest.mark.skipif("not sys.platform.startswith('linux')")
def test_native_on_linux(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAUNCHER_BACKEND", raising=False)
    monkeypatch.delenv("LAUNCHER_HOST", raising=False)
    native = Client(root=tmp_path)
    assert isinstance(native.service, LocalService) and native.backend == "native"
    assert native.paths.storage == str(tmp_path / "storage")


def test_run_detached_returns_a_running_container(client: Client) -> None:
    c = client.containers.run("busybox", ["sleep", "9"], detach=True, ports={80: None},
                              env={"A": "1"}, name="web", hostname="h")
    assert c.status == "running" and client.started == [c.id]
    verb, argv = client.service.calls[0]  # type: ignore[attr-defined]
    assert verb == "run" and argv[:1] == ["-d"] and argv[-3:] == ["busybox", "sleep", "9"]
    assert {"-p", "80", "-e", "A=1", "--name", "web", "--hostname", "h"} <= set(argv)


def test_run_attached_waits_for_the_exit(client: Client) -> None:
    c = client.containers.run("busybox", "true")
    assert c.status == "exited" and c.exit_code == 0
    assert ("wait", c.id) in client.service.calls  # type: ignore[attr-defined]


def test_run_refuses_unknown_keywords_before_running(client: Client) -> None:
    with pytest.raises(UsageError, match="bogus"):
        client.containers.run("busybox", bogus=1)
    with pytest.raises(UsageError):
        client.containers.run("busybox", env={"A": "1"}, environment={"B": "2"})
    assert not client.service.calls  # type: ignore[attr-defined]


def test_close_removes_what_it_started(client: Client) -> None:
    with client:
        a = client.containers.run("busybox", detach=True)
        b = client.containers.run("busybox", detach=True)
        a.remove(force=True)
    fake = client.service
    assert ("remove", (b.id, True)) in fake.calls and not fake.containers  # type: ignore[attr-defined]
    assert client.started == []


def test_get_list_and_filters(client: Client) -> None:
    c = client.containers.run("busybox", detach=True, name="one")
    assert client.containers.get("one") == c
    assert client.containers.list(filters={"label": ["a=b", "c"], "status": "running"}) == [c]
    assert ("ids", (False, ["label=a=b", "label=c", "status=running"])) \
        in client.service.calls  # type: ignore[attr-defined]


def test_images(client: Client) -> None:
    img = client.images.pull("busybox:1")
    assert img.tags == ["busybox:1"]
    assert [i.tags for i in client.images.list()] == [["busybox:latest"]]
    assert client.images.get("busybox").id.startswith("sha256:")
