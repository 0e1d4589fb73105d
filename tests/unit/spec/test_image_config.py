from __future__ import annotations

import copy
from typing import Any

import pytest

from launcher.errors import ImageError
from launcher.spec.image_config import ImageConfig

DOCKER_CONFIG: dict[str, Any] = {
    "architecture": "amd64",
    "config": {
        "Hostname": "",
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "NGINX_VERSION=1.25.3"],
        "Entrypoint": ["/docker-entrypoint.sh"],
        "Cmd": ["nginx", "-g", "daemon off;"],
        "WorkingDir": "/srv",
        "User": "101:101",
        "ExposedPorts": {"80/tcp": {}},
        "Volumes": {"/data": {}},
        "Labels": {"maintainer": "NGINX Docker Maintainers"},
        "StopSignal": "SIGQUIT",
        "ArgsEscaped": True,
    },
    "created": "2023-11-01T00:00:00Z",
    "history": [{"created_by": "/bin/sh -c #(nop) ADD file:abc in / "}],
    "os": "linux",
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "a" * 64, "sha256:" + "b" * 64]},
}  # fmt: skip


def test_parses_the_fields() -> None:
    img = ImageConfig.from_json(DOCKER_CONFIG)
    assert img.env == DOCKER_CONFIG["config"]["Env"]
    assert img.entrypoint == ["/docker-entrypoint.sh"]
    assert img.cmd == ["nginx", "-g", "daemon off;"]
    assert img.working_dir == "/srv"
    assert img.user == "101:101"
    assert img.exposed_ports == {"80/tcp": {}}
    assert img.volumes == {"/data": {}}
    assert img.labels == {"maintainer": "NGINX Docker Maintainers"}
    assert img.stop_signal == "SIGQUIT"
    assert (img.architecture, img.os) == ("amd64", "linux")
    assert img.diff_ids == ["sha256:" + "a" * 64, "sha256:" + "b" * 64]
    assert "SIGQUIT" in repr(img)


def test_round_trip_keeps_unknown_keys() -> None:
    original = copy.deepcopy(DOCKER_CONFIG)
    img = ImageConfig.from_json(DOCKER_CONFIG)
    assert img.to_json() == DOCKER_CONFIG
    assert original == DOCKER_CONFIG  # input untouched
    assert img == ImageConfig.from_json(img.to_json())


def test_changes_are_written_back() -> None:
    img = ImageConfig.from_json(DOCKER_CONFIG)
    img.cmd = None
    img.env = ["A=1"]
    img.diff_ids = ["sha256:" + "c" * 64]
    out = img.to_json()
    assert "Cmd" not in out["config"]
    assert out["config"]["Env"] == ["A=1"]
    assert out["config"]["ArgsEscaped"] is True
    assert out["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + "c" * 64]}


def test_minimal_and_null_sections() -> None:
    img = ImageConfig.from_json({"architecture": "arm64", "os": "linux", "config": None})
    assert img.env is None and img.cmd is None and img.entrypoint is None
    assert img.to_json() == {"architecture": "arm64", "os": "linux", "config": None}
    img = ImageConfig.from_json({"config": {"Cmd": None, "Entrypoint": None}})
    assert img.cmd is None and img.entrypoint is None
    assert ImageConfig.from_json({}).to_json() == {}


def test_built_from_keywords() -> None:
    img = ImageConfig(cmd=["sh"], env=["A=1"], os="linux", diff_ids=[])
    assert img.to_json() == {"config": {"Env": ["A=1"], "Cmd": ["sh"]}, "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": []}}  # fmt: skip


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "image config: expected a JSON object"),
        ({"config": []}, "config: expected an object"),
        ({"config": {"Env": "A=1"}}, "config.Env: expected a list of strings"),
        ({"config": {"Cmd": ["sh", 1]}}, "config.Cmd: expected a list of strings"),
        ({"config": {"Entrypoint": "sh"}}, "config.Entrypoint"),
        ({"config": {"WorkingDir": 5}}, "config.WorkingDir: expected a string"),
        ({"config": {"User": 0}}, "config.User: expected a string"),
        ({"config": {"ExposedPorts": ["80/tcp"]}}, "config.ExposedPorts: expected an object"),
        ({"config": {"Labels": {"a": 1}}}, "config.Labels: expected an object of strings"),
        ({"config": {"StopSignal": 15}}, "config.StopSignal"),
        ({"os": 1}, "os: expected a string"),
        ({"rootfs": {"diff_ids": "sha256:x"}}, "rootfs.diff_ids"),
    ],
)
def test_wrong_types(obj: Any, message: str) -> None:
    with pytest.raises(ImageError, match="image config") as info:
        ImageConfig.from_json(obj)
    assert message in str(info.value)


def test_deeply_nested_json_is_an_image_error() -> None:
    """Found by fuzzing: an unknown key nested ~1000 deep raised RecursionError."""
    deep: Any = {}
    for _ in range(5000):
        deep = {"history": deep}
    with pytest.raises(ImageError, match="nested too deeply"):
        ImageConfig.from_json(deep)
