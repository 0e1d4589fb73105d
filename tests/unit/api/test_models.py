from __future__ import annotations

import pytest

from launcher.api.models import Container, Image
from tests.unit.api.fakes import FakeService


def _started(service: FakeService) -> Container:
    return Container(service, service.run(["-d", "--", "busybox"]))


def test_properties_come_from_inspect() -> None:
    service = FakeService()
    c = _started(service)
    service.containers[c.id]["NetworkSettings"] = {
        "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49153"}], "81/tcp": None}}
    assert c.status == "running" and c.exit_code is None and c.image == "busybox"
    assert c.ports == {"80/tcp": [("0.0.0.0", 49153)]}
    assert c.host_port(80) == 49153 and c.host_port("80/tcp") == 49153
    with pytest.raises(KeyError):
        c.host_port(81)
    c.stop()
    assert c.reload().status == "exited" and c.exit_code == 143
    assert c.name == "c1" and c.short_id == c.id[:12] and "Container" in repr(c)


def test_exec_splits_a_string_and_passes_options() -> None:
    service = FakeService()
    c = _started(service)
    code, output = c.exec("sh -c 'echo hi'", environment={"A": "1"}, workdir="/w", user="u")
    assert (code, output) == (0, b"out\nerr\n")
    assert ("exec", (c.id, ["sh", "-c", "echo hi"], ["A=1"], "/w", "u")) in service.calls


def test_leaving_with_removes_even_when_gone_already() -> None:
    service = FakeService()
    with _started(service) as c:
        pass
    assert ("remove", (c.id, True)) in service.calls and not service.containers
    with _started(service) as c:
        c.remove()  # the block removed it: leaving must not fail


def test_logs_streams_selected() -> None:
    service = FakeService()
    c = _started(service)
    service.output[c.id].append(b"hello\n")
    assert c.logs() == b"hello\n" and c.logs(stdout=False) == b""
    assert list(c.stream_logs()) == [b"hello\n"]


def test_image_handle() -> None:
    img = Image(FakeService(), {"Id": "sha256:" + "ab" * 32, "RepoTags": ["x:1"],
                                "Config": {"Labels": {"a": "b"}}})
    assert img.short_id == "ab" * 6 and img.tags == ["x:1"] and img.labels == {"a": "b"}
    assert img == Image(FakeService(), {"Id": img.id}) and "x:1" in repr(img)
