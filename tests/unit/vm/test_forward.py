from __future__ import annotations

import pytest

from launcher.errors import UsageError
from launcher.paths import Paths
from launcher.vm import forward
from launcher.vm.machine import Machine


@pytest.fixture
def m(paths: Paths, tmp_path: object) -> Machine:
    mach = Machine(paths, "default")
    mach.shares = [str(tmp_path)]
    return mach


def test_shared_bind_mounts_pass_unshared_are_refused(m: Machine, tmp_path: object) -> None:
    p = forward.plan(m, ["run", "--rm", "-v", f"{tmp_path}/sub:/data:ro", "-v", "named:/v",
                         "busybox", "ls", "-v", "/etc:/x"])
    assert p.argv[3] == f"{tmp_path}/sub:/data:ro" and p.argv[-1] == "/etc:/x"
    with pytest.raises(UsageError, match="not shared with machine default"):
        forward.plan(m, ["run", "-v", "/etc:/data", "busybox"])


def test_publish_becomes_a_forward_and_the_guests_own_port(m: Machine) -> None:
    p = forward.plan(m, ["run", "-d", "--name", "web", "-p", "127.0.0.1:8080:80", "-e", "A=1",
                         "--publish=5353:53/udp", "-itp9000:90", "busybox", "httpd", "-p", "80"])
    assert p.forwards == [("tcp", "127.0.0.1", 8080, 8080), ("udp", "0.0.0.0", 5353, 5353),
                          ("tcp", "0.0.0.0", 9000, 9000)]
    assert p.argv == ["run", "-d", "--name", "web", "-p", "8080:80/tcp", "-e", "A=1", "-p",
                      "5353:53/udp", "-it", "-p", "9000:90/tcp", "busybox", "httpd", "-p", "80"]


def test_an_empty_host_port_is_chosen_here(m: Machine) -> None:
    p = forward.plan(m, ["run", "-p", "127.0.0.1::80", "busybox"])
    (proto, ip, host, guest), = p.forwards
    assert (proto, ip) == ("tcp", "127.0.0.1") and host == guest > 0
    assert p.argv == ["run", "-p", f"{host}:80/tcp", "busybox"]


def test_bad_publish(m: Machine) -> None:
    with pytest.raises(UsageError, match='for "-p, --publish" flag'):
        forward.plan(m, ["run", "-p", "x:y", "busybox"])


def test_publish_all_ports_are_forwarded_once_the_container_runs(m: Machine) -> None:
    p = forward.plan(m, ["run", "-d", "-P", "busybox"])
    assert p.argv == ["run", "-d", "-P", "busybox"] and p.forwards == [] and p.sync_after
    assert not forward.plan(m, ["run", "-P", "busybox"]).sync_after  # the agent follows it
    assert forward.plan(m, ["start", "web"]).sync_after
    assert not forward.plan(None, ["start", "web"]).sync_after  # --host: the remote's ports


def test_files_travel_on_the_channel(m: Machine) -> None:
    p = forward.plan(m, ["import", "/tmp/rootfs.tar", "img:1"])
    assert (p.argv, p.stdin_file) == (["import", "-", "img:1"], "/tmp/rootfs.tar")
    p = forward.plan(m, ["load", "-i", "/tmp/a.tar", "-q"])
    assert (p.argv, p.stdin_file) == (["load", "-q"], "/tmp/a.tar")
    p = forward.plan(m, ["save", "--output=/tmp/out.tar", "busybox"])
    assert (p.argv, p.stdout_file) == (["save", "busybox"], "/tmp/out.tar")


def test_kube_manifests_travel_on_the_channel(m: Machine) -> None:
    p = forward.plan(m, ["kube", "play", "--replace", "pod.yaml"])
    assert (p.argv, p.stdin_file, p.sync_after) == (["kube", "play", "--replace", "-"],
                                                    "pod.yaml", True)
    p = forward.plan(m, ["kube", "down", "--", "-weird.yaml"])
    assert (p.argv, p.stdin_file) == (["kube", "down", "--", "-"], "-weird.yaml")
    p = forward.plan(m, ["kube", "play", "-"])
    assert (p.argv, p.stdin_file) == (["kube", "play", "-"], None)
    assert forward.plan(m, ["kube", "generate", "web"]).stdin_file is None
    assert not forward.plan(None, ["kube", "play", "pod.yaml"]).sync_after


def test_interactive_flags(m: Machine) -> None:
    assert forward.plan(m, ["run", "-i", "busybox", "cat"]).stdin_tty
    assert not forward.plan(m, ["run", "busybox", "cat", "-i"]).stdin_tty
    assert forward.plan(m, ["exec", "-it", "c", "sh"]).stdin_tty
