"""Rootless networking: slirp4netns (the default), its DNS and published ports."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.integration.rootless.conftest import Rootless

pytestmark = pytest.mark.usefixtures("tun_for_users")


def test_slirp4netns_is_the_rootless_default(rl: Rootless) -> None:
    res = rl.run("run", "--rm", "busybox", "sh", "-c",
                 "ls /sys/class/net; ip -4 -o addr show tap0; cat /etc/resolv.conf; ip route",
                 env={"LAUNCHER_DEFAULT_NETWORK": ""})
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert out.split()[:2] == ["lo", "tap0"]
    assert "inet 10.0.2.100/24" in out
    assert "nameserver 10.0.2.3" in out.splitlines()
    assert "default via 10.0.2.2 dev tap0" in out


def test_published_port_reaches_the_container(rl: Rootless) -> None:
    res = rl.run("run", "-d", "--name", "web", "--network", "slirp4netns",
                 "-p", "127.0.0.1::8080", "busybox", "sh", "-c",
                 "mkdir /www && echo hello from rootless > /www/index.html && "
                 "exec httpd -f -p 8080 -h /www")
    assert res.returncode == 0, res.stderr
    try:
        port = rl.run("port", "web", "8080")
        assert port.returncode == 0, port.stderr
        addr = port.stdout.strip()
        assert addr.startswith("127.0.0.1:")
        body = _get(f"http://{addr}/")
        assert body == "hello from rootless\n"
        info = json.loads(rl.run("inspect", "web").stdout)[0]
        assert info["HostConfig"]["NetworkMode"] == "slirp4netns"
    finally:
        rm = rl.run("rm", "-f", "web")
    assert rm.returncode == 0, rm.stderr


def test_a_taken_port_is_a_clear_error_and_nothing_is_left(rl: Rootless) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        res = rl.run("run", "--rm", "--network", "slirp4netns", "-p", f"127.0.0.1:{busy}:80",
                     "busybox", "true")
    assert res.returncode == 125
    assert "address already in use" in res.stderr and len(res.stderr.splitlines()) == 1


def _get(url: str) -> str:
    import time

    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return str(r.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
