from __future__ import annotations

import pytest

from launcher.api.runargs import env_flags, port_flags, run_argv, volume_flags
from launcher.cli import fastparse, options
from launcher.cli.run import build_request
from launcher.errors import UsageError


def test_ports_in_docker_py_shapes() -> None:
    assert port_flags({5432: None}) == ["-p", "5432"]
    assert port_flags({"53/udp": 5353}) == ["-p", "5353:53/udp"]
    assert port_flags({80: ("127.0.0.1", 8080)}) == ["-p", "127.0.0.1:8080:80"]
    assert port_flags({80: ("127.0.0.1",)}) == ["-p", "127.0.0.1::80"]
    assert port_flags({80: ("::1", 8080)}) == ["-p", "[::1]:8080:80"]
    assert port_flags({80: [8080, 8081]}) == ["-p", "8080:80", "-p", "8081:80"]


@pytest.mark.parametrize("bad", [{"http": None}, {"80/icmp": None}, {80: True}, {80: 1.5}])
def test_bad_ports_are_usage_errors(bad: dict[object, object]) -> None:
    with pytest.raises(UsageError):
        port_flags(bad)  # type: ignore[arg-type]


def test_volumes_and_env() -> None:
    assert volume_flags({"/h": "/d", "/r": {"bind": "/ro", "mode": "ro"}}) == \
        ["-v", "/h:/d", "-v", "/r:/ro:ro"]
    assert volume_flags(["data:/data"]) == ["-v", "data:/data"]
    assert env_flags({"A": 1, "B": None}) == ["-e", "A=1", "-e", "B"]
    assert env_flags(["X=y"]) == ["-e", "X=y"]
    for bad_call in (lambda: volume_flags("/h:/d"), lambda: env_flags("A=1"),
                     lambda: env_flags({"": "x"}), lambda: volume_flags({"/h": {"mode": "ro"}})):
        with pytest.raises(UsageError):
            bad_call()  # type: ignore[no-untyped-call]


def test_run_argv_means_what_the_cli_flags_mean() -> None:
    """The keywords become run flags; the CLI's own parser reads them back."""
    argv = run_argv("busybox", "sh -c 'echo hi'", {
        "name": "web", "ports": {8080: None}, "volumes": {"/srv": "/data"},
        "environment": {"A": "1"}, "labels": {"app": "web"}, "mem_limit": "64m",
        "cpus": 0.5, "auto_remove": True, "working_dir": "/tmp", "user": "1000",
        "init": True, "extra_args": ["--hostname", "h1"]})
    req = build_request(fastparse.parse(options.RUN, argv))
    assert req.image == "busybox" and req.command == ["sh", "-c", "echo hi"]
    assert req.detach and req.remove and req.init and req.name == "web"
    assert req.env == ["A=1"] and req.workdir == "/tmp" and req.user == "1000"
    assert req.memory == 64 * 1024 * 1024 and req.cpus == 0.5 and req.hostname == "h1"
    assert dict(req.labels) == {"app": "web"}
    assert req.publish and req.volumes


def test_a_command_that_looks_like_a_flag_stays_the_command() -> None:
    req = build_request(fastparse.parse(options.RUN, run_argv("busybox", ["--help"], {})))
    assert req.command == ["--help"]


def test_bad_values() -> None:
    with pytest.raises(UsageError):
        run_argv("busybox", None, {"privileged": None, "name": True})
    with pytest.raises(UsageError):
        run_argv("busybox", None, {"entrypoint": ["sh", "-c"]})
