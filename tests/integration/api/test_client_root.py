"""The Python API against the real native backend: containers, images from a
real registry on loopback, errors, and clean-up by the context managers."""

from __future__ import annotations

import io
import tarfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from launcher import Client
from launcher.api import ImageError, NotFoundError, UsageError
from launcher.errors import AuthError
from tests.integration.image.conftest import (  # noqa: F401 - the fixtures
    REGISTRY_USERS,
    auth_registry,
)
from tests.integration.image.registryserver import RegistryServer


@pytest.fixture
def client(launcher_root: Path, no_leaks: None) -> Iterator[Client]:
    with Client(root=launcher_root, backend="native") as c:
        yield c
    assert Client(root=launcher_root, backend="native").containers.list(all=True) == []


def test_detached_lifecycle(client: Client, tmp_path: Path) -> None:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("hello from the api\n")
    c = client.containers.run(
        "busybox", ["sh", "-c", "echo started; echo warn >&2; exec httpd -f -p 8080 -h /www"],
        detach=True, name="web", ports={8080: ("127.0.0.1", None)},
        volumes={str(tmp_path / "www"): {"bind": "/www", "mode": "ro"}},
        environment={"GREETING": "hi"}, labels={"app": "web"})
    assert c.status == "running" and c.name == "web" and c.labels["app"] == "web"
    port = c.host_port(8080)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
        assert answer.read() == b"hello from the api\n"
    result = c.exec(["sh", "-c", "echo $GREETING $EXTRA; exit 3"], environment={"EXTRA": "x"})
    assert (result.exit_code, result.stdout, result.stderr) == (3, b"hi x\n", b"")
    assert c.logs(stderr=False) == b"started\n" and c.logs(stdout=False) == b"warn\n"
    assert client.containers.get("web") == c
    assert client.containers.list(filters={"label": "app=web"}) == [c]
    c.stop(timeout=1)
    assert c.wait() == 137  # httpd as PID 1 ignores SIGTERM: then SIGKILL
    assert c.reload().status == "exited"
    assert client.containers.list() == [] and client.containers.list(all=True) == [c]
    c.remove()
    with pytest.raises(NotFoundError):
        c.reload()


def test_attached_run_and_exit_code(client: Client) -> None:
    c = client.containers.run("busybox", "sh -c 'echo out; exit 7'")
    assert (c.status, c.exit_code, c.logs()) == ("exited", 7, b"out\n")
    gone = client.containers.run("busybox", ["sh", "-c", "echo bye; exit 4"], auto_remove=True)
    assert (gone.exit_code, gone.logs()) == (4, b"bye\n")
    with pytest.raises(NotFoundError):
        gone.reload()


def test_context_managers_remove_what_they_started(launcher_root: Path,
                                                   no_leaks: None) -> None:
    with Client(root=launcher_root, backend="native") as client:
        with client.containers.run("busybox", ["sleep", "60"], detach=True) as c:
            assert c.status == "running"
        assert client.containers.list(all=True) == []
        client.containers.run("busybox", ["sleep", "60"], detach=True)
        client.containers.run("busybox", ["true"])
    assert Client(root=launcher_root).containers.list(all=True) == []


def test_errors_are_launchers_and_leave_nothing(client: Client) -> None:
    with pytest.raises(ImageError):
        client.containers.run("127.0.0.1:1/nothing:here", detach=True)
    with pytest.raises(UsageError):
        client.containers.run("busybox", ports={"http": None})
    with pytest.raises(NotFoundError):
        client.containers.get("nosuch")
    c = client.containers.run("busybox", ["sleep", "60"], detach=True, name="taken")
    with pytest.raises(Exception, match="already in use"):
        client.containers.run("busybox", detach=True, name="taken")
    assert client.containers.list(all=True) == [c]


def test_a_caller_with_threads_can_run_containers(client: Client) -> None:
    """The backend forks: the API keeps that out of the (threaded) caller."""
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        c = client.containers.run("busybox", ["sh", "-c", "exit 5"])
        assert c.exit_code == 5
        running = client.containers.run("busybox", ["sleep", "60"], detach=True)
        assert running.exec("true").exit_code == 0
    finally:
        stop.set()
        worker.join()


def test_push_and_pull_through_a_registry(client: Client, tmp_path: Path,
                                          auth_registry: RegistryServer,  # noqa: F811
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Tag and push from one root, pull and run from another, with login."""
    monkeypatch.setenv("LAUNCHER_DEFAULT_NETWORK", "none")
    client.containers.run("busybox", ["true"], auto_remove=True)  # the default image, built
    ref = f"{auth_registry.host}/{auth_registry.new_repo()}:api"
    client.images.get("busybox").tag(ref.rsplit(":", 1)[0], "api")
    with pytest.raises(AuthError):
        client.images.push(ref)
    with pytest.raises(AuthError):
        client.login(auth_registry.host, "alice", "wrong")
    client.login(auth_registry.host, "alice", REGISTRY_USERS["alice"])
    assert ref in client.images.push(ref)
    with Client(root=tmp_path / "other", backend="native") as other:
        other.login(auth_registry.host, "alice", REGISTRY_USERS["alice"])
        image = other.images.pull(ref)
        assert ref in image.tags and image in other.images.list()
        c = other.containers.run(ref, ["echo", "pulled"])
        assert c.logs() == b"pulled\n"
        c.remove()
        other.images.remove(ref)
        with pytest.raises(NotFoundError):
            other.images.get(ref)
        other.logout(auth_registry.host)
        with pytest.raises(AuthError):
            other.images.pull(ref)


def test_files_stats_archives_and_pruning(client: Client, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAUNCHER_DEFAULT_NETWORK", "none")
    c = client.containers.run("busybox", ["sleep", "60"], detach=True)
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"hello\n"))
    c.put_archive("/tmp", data.getvalue())
    assert c.exec(["cat", "/tmp/hello.txt"]).stdout == b"hello\n"
    with tarfile.open(fileobj=io.BytesIO(c.get_archive("/tmp/hello.txt"))) as tar:
        member = tar.extractfile("hello.txt")
        assert member is not None and member.read() == b"hello\n"
    sample = c.stats()
    assert {"CPUPerc", "MemUsage", "PIDs"} <= set(sample) and sample["PIDs"] == "1"
    assert client.info()["backend"] == "native"
    done = client.containers.run("busybox", ["true"])
    assert client.containers.prune() == [done.id]
    assert client.containers.list(all=True) == [c]
    archive = tmp_path / "busybox.tar"
    client.images.save("busybox", archive)
    client.images.get("busybox").tag("copy", "1")
    c.remove(force=True)
    client.images.remove("busybox")
    client.images.remove("copy:1")
    assert client.images.list() == []
    [loaded] = client.images.load(archive)
    assert "busybox:latest" in loaded.tags
    client.images.get("busybox").tag("dangling", "x")
    client.images.remove("busybox")
    assert client.images.prune(all=True) == ["untagged: dangling:x", f"deleted: {loaded.id}"]
    assert client.networks.prune() == []


def test_networks_volumes_and_the_rest_of_the_lifecycle(client: Client,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAUNCHER_DEFAULT_NETWORK", "none")
    assert {"Client", "Backend"} <= set(client.version())
    vol = client.volumes.create(labels={"test": "api"})
    net = client.networks.create("api-net", subnet="10.199.77.0/24")
    try:
        db = client.containers.run(
            "busybox", ["sh", "-c", "echo db > /v/x; exec httpd -f -p 80 -h /v"], detach=True,
            name="db", network="api-net", volumes={vol.name: "/v"})
        fetched = client.containers.run("busybox", ["wget", "-qO-", "http://db/x"],
                                        network="api-net", auto_remove=True)
        assert (fetched.exit_code, fetched.logs()) == (0, b"db\n")
        loner = client.containers.run("busybox", ["sleep", "60"], detach=True, name="loner",
                                      network="api-net")
        net.disconnect(loner)
        assert loner.exec(["wget", "-qO-", "-T", "2", "http://db/x"]).exit_code != 0
        net.connect(loner)
        assert loner.exec(["wget", "-qO-", "http://db/x"]).stdout == b"db\n"
        db.pause()
        assert db.reload().status == "paused"
        db.unpause()
        assert any("httpd" in p["CMD"] for p in db.top())
        db.rename("db2")
        assert db.name == "db2" and client.containers.get("db2") == db
        assert vol in client.volumes.list() and net in client.networks.list()
        db.remove(force=True)
        loner.remove(force=True)
    finally:
        client.close()
        net.remove()
        vol.remove()
    assert net not in client.networks.list() and vol not in client.volumes.list()


def test_kube_play_generate_and_down(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAUNCHER_DEFAULT_NETWORK", "none")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "apipod"},
           "spec": {"restartPolicy": "Never", "containers": [
               {"name": "web", "image": "busybox",
                "command": ["sh", "-c", "echo shared > /tmp/i; httpd -f -p 8080 -h /tmp"]},
               {"name": "client", "image": "busybox",
                "command": ["sh", "-c", "until wget -qO- localhost:8080/i; do sleep 0.1; done;"
                            " exec sleep 60"]}]}}
    played = client.kube.play(pod)
    assert list(played) == ["apipod"] and len(played["apipod"]) == 2
    web, probe = (client.containers.get(cid) for cid in played["apipod"])
    assert web.name == "apipod-web" and probe.name == "apipod-client"
    deadline = time.monotonic() + 30
    while probe.logs() != b"shared\n" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert probe.logs() == b"shared\n"  # over the pod's shared localhost
    manifest = yaml.safe_load(client.kube.generate("apipod"))
    assert [c["name"] for c in manifest["spec"]["containers"]] == ["web", "client"]
    assert client.containers.get("apipod-infra").status == "running"
    assert client.kube.down(pod) == ["apipod"]
    assert client.containers.list(all=True) == []
