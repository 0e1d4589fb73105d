"""Networking through the CLI, with real traffic: published TCP and UDP ports,
names on a user-defined network, isolation between networks, a loopback-bound
port out of reach of the link, --network container:X/host, DNS flags.

Every CLI call runs inside a network namespace made per test (netenv.NetHost):
the default bridge, the veths and launcher's nft table live there, and the
"host" clients (HTTP, UDP probes) run there too. Containers run attached in the
background (``cli.start``) and are removed with ``rm -f``; after each test the
namespace is checked for leftovers (links, rules, leases, endpoint records).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cli.conftest import DEFAULT_NETWORK_ENV, Cli, finish
from tests.integration.cli.netenv import (
    UDP_ECHO_RUN,
    NetHost,
    clean_up,
    inspect,
    ip_of,
    sh,
    wait_answer,
    wait_running,
)

pytestmark = pytest.mark.root

PREFIX = f"lt-net-{os.getpid()}"


@pytest.fixture
def host() -> Iterator[NetHost]:
    ns = NetHost(f"{PREFIX}-h")
    yield ns
    ns.close()


@pytest.fixture
def ncli(cli: Cli, host: NetHost, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """The CLI inside ``host``, with Docker's default network (``bridge``: the
    other CLI tests default to none); fails the test if networking left anything."""
    monkeypatch.setenv(DEFAULT_NETWORK_ENV, "")
    inside = Cli(cli.root, prefix=host.enter)
    yield inside
    left = clean_up(inside, host)
    assert not left, f"left behind: {left}"


@pytest.fixture(scope="module")
def www(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("www")
    (path / "index.html").write_text("hello from httpd\n")
    return path


def httpd(cli: Cli, www: Path, name: str, *flags: str) -> subprocess.Popen[str]:
    proc = cli.start("run", "--rm", "--name", name, *flags, "-v", f"{www}:/www:ro",
                     "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
    wait_running(cli, name)
    return proc


def stop(cli: Cli, name: str, proc: subprocess.Popen[str]) -> None:
    """End an attached ``--rm`` run: its CLI tears down and removes the container
    (an ``rm -f`` now would race it for the bundle: fsutil.remove_tree is not
    safe against a concurrent removal of the same tree)."""
    assert cli.run("kill", name).returncode == 0
    finish(proc)


def test_published_httpd_is_reached_from_the_host(ncli: Cli, host: NetHost, www: Path) -> None:
    proc = httpd(ncli, www, "web", "-p", "8080:80")
    assert wait_answer(lambda: host.http("http://127.0.0.1:8080/"), "hello") \
        == "hello from httpd\n"
    # the bridge's address (any address of the host), and from another container
    assert host.http("http://10.88.0.1:8080/") == "hello from httpd\n"
    res = ncli.run("run", "--rm", "busybox", "wget", "-qO-", "http://10.88.0.1:8080/")
    assert (res.returncode, res.stdout) == (0, "hello from httpd\n"), res.stderr
    assert ncli.run("port", "web").stdout == "80/tcp -> 0.0.0.0:8080\n"
    assert ncli.run("port", "web", "80/tcp").stdout == "0.0.0.0:8080\n"
    assert json.loads(ncli.run("port", "web", "--format", "json").stdout) == {
        "PrivatePort": 80, "Type": "tcp", "HostIp": "0.0.0.0", "HostPort": "8080"}
    assert "0.0.0.0:8080->80/tcp" in ncli.run("ps").stdout
    doc = inspect(ncli, "web")[0]
    assert doc["NetworkSettings"]["Ports"] == {  # type: ignore[index]
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
    stop(ncli, "web", proc)
    assert host.http("http://127.0.0.1:8080/", timeout=1).startswith("FAIL")


def test_udp_echo_through_a_published_port(ncli: Cli, host: NetHost) -> None:
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("the UDP echo server is the host's /usr/bin/python3")
    proc = ncli.start("run", "--rm", "--name", "echo", "-p", "5353:5353/udp",
                      *UDP_ECHO_RUN, "5353")
    wait_running(ncli, "echo")
    assert wait_answer(lambda: host.probe("udp", "127.0.0.1", 5353, 1), "hello") == "hello"
    assert host.probe("udp", "10.88.0.1", 5353) == "hello"
    assert ncli.run("port", "echo").stdout == "5353/udp -> 0.0.0.0:5353\n"
    stop(ncli, "echo", proc)


def test_an_ephemeral_host_port_and_publish_all(ncli: Cli, host: NetHost, www: Path) -> None:
    proc = httpd(ncli, www, "web", "-p", "127.0.0.1::80")
    port = ncli.run("port", "web", "80").stdout.strip()
    assert port.startswith("127.0.0.1:") and int(port.split(":")[1]) > 0
    assert wait_answer(lambda: host.http(f"http://{port}/"), "hello") == "hello from httpd\n"
    stop(ncli, "web", proc)


def test_names_resolve_on_a_user_defined_network(ncli: Cli) -> None:
    assert ncli.run("network", "create", "web").returncode == 0
    db = ncli.start("run", "--rm", "--name", "db", "--network", "web", "--network-alias",
                    "database", "busybox", "sleep", "60")
    wait_running(ncli, "db")
    for name in ("db", "database"):
        res = ncli.run("run", "--rm", "--network", "web", "--cap-add", "NET_RAW", "busybox",
                       "ping", "-c1", "-W5", name)
        assert res.returncode == 0, res.stdout + res.stderr
    db_ip = ip_of(ncli, "db", "web")
    res = ncli.run("run", "--rm", "--name", "app", "--network", "web", "busybox", "sh", "-c",
                   "cat /etc/hosts; sleep 0.2; true")
    assert f"{db_ip}\tdb database " in res.stdout
    # and db learnt of app while app ran, and forgot it after
    hosts = ncli.run("exec", "db", "cat", "/etc/hosts").stdout
    assert "app" not in hosts
    stop(ncli, "db", db)
    assert ncli.run("network", "rm", "web").returncode == 0


def test_the_default_bridge_resolves_no_names(ncli: Cli) -> None:
    db = ncli.start("run", "--rm", "--name", "db", "busybox", "sleep", "60")
    wait_running(ncli, "db")
    res = ncli.run("run", "--rm", "busybox", "grep", "-c", "db", "/etc/hosts")
    assert res.stdout.strip() == "0"
    stop(ncli, "db", db)


def test_two_networks_are_isolated(ncli: Cli) -> None:
    for net in ("neta", "netb"):
        assert ncli.run("network", "create", net).returncode == 0
    x = ncli.start("run", "--rm", "--name", "x", "--network", "neta", "busybox", "sleep", "60")
    wait_running(ncli, "x")
    target = ip_of(ncli, "x", "neta")
    ping = ("run", "--rm", "--cap-add", "NET_RAW", "busybox", "ping", "-c1", "-W2", target)
    same = ncli.run(*ping[:2], "--network", "neta", *ping[2:])
    assert same.returncode == 0, same.stdout  # the control: the path itself works
    other = ncli.run(*ping[:2], "--network", "netb", *ping[2:])
    assert other.returncode != 0, other.stdout
    stop(ncli, "x", x)
    assert ncli.run("network", "rm", "neta", "netb").returncode == 0


def test_a_loopback_port_is_out_of_reach_of_the_link(ncli: Cli, host: NetHost,
                                                     www: Path) -> None:
    """An "attacker" on the host's link (its own netns, a veth to the host) gets
    the all-address port but neither the loopback-bound one through the host's
    link address nor by sending packets addressed to 127.0.0.1 to the host."""
    attacker = f"{PREFIX}-a"
    sh("ip", "netns", "add", attacker)
    try:
        sh("ip", "-n", host.name, "link", "add", "up0", "type", "veth", "peer", "name", "eth0",
           "netns", attacker)
        sh("ip", "-n", host.name, "addr", "add", "10.233.0.1/24", "dev", "up0")
        sh("ip", "-n", host.name, "link", "set", "up0", "up")
        sh("ip", "-n", attacker, "addr", "add", "10.233.0.2/24", "dev", "eth0")
        sh("ip", "-n", attacker, "link", "set", "eth0", "up")
        # lo down (no local 127/8 route) and 127.0.0.1 routed to the host
        sh("ip", "-n", attacker, "route", "add", "127.0.0.1/32", "via", "10.233.0.1")
        sh("ip", "netns", "exec", attacker, "sysctl", "-qw",
           "net.ipv4.conf.eth0.route_localnet=1")
        proc = httpd(ncli, www, "web", "-p", "127.0.0.1:8081:80", "-p", "8082:80")
        assert wait_answer(lambda: host.http("http://127.0.0.1:8081/"), "hello")
        # the control: the attacker does reach what is published on every address
        assert host.http("http://10.233.0.1:8082/", ns=attacker) == "hello from httpd\n"
        assert host.http("http://10.233.0.1:8081/", 1, ns=attacker).startswith("FAIL")
        assert host.http("http://127.0.0.1:8081/", 1, ns=attacker).startswith("FAIL")
        stop(ncli, "web", proc)
    finally:
        subprocess.run(["ip", "netns", "del", attacker], check=False)
        subprocess.run(["ip", "-n", host.name, "link", "del", "up0"], check=False,
                       capture_output=True)


def test_container_mode_shares_the_namespace_and_files(ncli: Cli) -> None:
    db = ncli.start("run", "--rm", "--name", "db", "-h", "dbhost", "busybox", "sleep", "60")
    wait_running(ncli, "db")
    res = ncli.run("run", "--rm", "--network", "container:db", "busybox", "sh", "-c",
                   "ip -4 addr show eth0 | grep -o 'inet [0-9.]*'; hostname; "
                   "grep -c dbhost /etc/hosts")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[:3] == [f"inet {ip_of(ncli, 'db')}", "dbhost", "1"]
    conflict = ncli.run("run", "--rm", "--network", "container:db", "-p", "80", "busybox",
                        "true")
    assert conflict.returncode == 125
    assert "conflicting options: port publishing" in conflict.stderr
    stop(ncli, "db", db)
    gone = ncli.run("run", "--rm", "--network", "container:db", "busybox", "true")
    assert gone.returncode == 125 and "No such container: db" in gone.stderr


def test_host_mode_and_its_files(ncli: Cli, host: NetHost) -> None:
    res = ncli.run("run", "--rm", "--network", "host", "-p", "80", "--add-host", "x:10.1.2.3",
                   "busybox", "sh", "-c", "ls /sys/class/net; tail -1 /etc/hosts")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["lo", "10.1.2.3", "x"]
    assert res.stderr == ("WARNING: Published ports are discarded when using host network "
                          "mode\n")


def test_dns_flags_hostname_and_add_host(ncli: Cli) -> None:
    res = ncli.run("run", "--rm", "-h", "box", "--dns", "10.0.0.53", "--dns-search",
                   "example.com", "--dns-option", "ndots:2", "--add-host", "db:10.0.0.5",
                   "--add-host", "gw:host-gateway", "busybox", "sh", "-c",
                   "cat /etc/resolv.conf /etc/hosts /etc/hostname; hostname")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "nameserver 10.0.0.53\nsearch example.com\noptions ndots:2\n" in out
    assert "10.0.0.5\tdb\n" in out and "10.88.0.1\tgw\n" in out
    assert out.endswith("box\nbox\n")
    assert "\tbox\n" in out  # its own line, with its address


def test_the_default_network_follows_env_and_launcher_toml(ncli: Cli) -> None:
    unset = {DEFAULT_NETWORK_ENV: ""}
    res = ncli.run("run", "--rm", "busybox", "ls", "/sys/class/net", env=unset)
    assert res.stdout.split() == ["eth0", "lo"], res.stderr
    conf = ncli.root / "config" / "launcher.toml"
    conf.parent.mkdir(exist_ok=True)
    conf.write_text('# test\ndefault_network = "none"\n')
    try:
        res = ncli.run("run", "--rm", "busybox", "ls", "/sys/class/net", env=unset)
        assert res.stdout.split() == ["lo"], res.stderr
        res = ncli.run("run", "--rm", "--network", "bridge", "busybox", "ls", "/sys/class/net",
                       env=unset)
        assert res.stdout.split() == ["eth0", "lo"], res.stderr
    finally:
        conf.unlink()


def test_a_flushed_firewall_is_rebuilt_on_the_next_start(ncli: Cli, host: NetHost,
                                                         www: Path) -> None:
    proc = httpd(ncli, www, "web", "-p", "8083:80")
    assert wait_answer(lambda: host.http("http://127.0.0.1:8083/"), "hello")
    assert host.run("nft", "flush", "ruleset").returncode == 0
    assert host.http("http://127.0.0.1:8083/", timeout=1).startswith("FAIL")
    assert ncli.run("run", "--rm", "busybox", "true").returncode == 0
    assert host.http("http://127.0.0.1:8083/") == "hello from httpd\n"
    stop(ncli, "web", proc)
