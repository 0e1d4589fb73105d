"""``launcher network …``, errors and exit codes, a CLI killed at each network
step, and 100 parallel ``run -d`` with distinct addresses — each test in a
network namespace of its own (netenv.NetHost), checked for leftovers after."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.cli.conftest import DEFAULT_NETWORK_ENV, Cli, finish, wait_for
from tests.integration.cli.netenv import NetHost, clean_up, inspect, wait_running

pytestmark = pytest.mark.root

PREFIX = f"lt-netc-{os.getpid()}"
NET_POINTS = ["run.network", "net.state", "net.connect", "net.firewall", "net.publish",
              "net.hosts"]


@pytest.fixture
def host() -> Iterator[NetHost]:
    ns = NetHost(f"{PREFIX}-h")
    yield ns
    ns.close()


@pytest.fixture
def ncli(cli: Cli, host: NetHost, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    monkeypatch.setenv(DEFAULT_NETWORK_ENV, "")  # Docker's default: bridge
    inside = Cli(cli.root, prefix=host.enter)
    yield inside
    left = clean_up(inside, host)
    assert not left, f"left behind: {left}"


def one_line_error(res: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert res.returncode == 125, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("launcher: "), res.stderr
    for needle in needles:
        assert needle in lines[0]


def bundles(cli: Cli) -> list[str]:
    path = cli.root / "storage" / "containers"
    return sorted(os.listdir(path)) if path.is_dir() else []


@pytest.mark.parametrize(("flags", "needle"), [
    (("-p", "80:80:80:80"), '"-p, --publish"'),
    (("-p", "99999"), "invalid containerPort"),
    (("-p", "8080:80/icmp"), "invalid proto"),
    (("--dns", "nameserver"), '"--dns"'),
    (("--ip", "10.88.0.9"), "user defined networks only"),
    (("--network", "nope"), "network nope not found"),
    (("--network", "none", "--network-alias", "x"), "user defined networks"),
])
def test_bad_network_flags_are_125_and_leave_nothing(ncli: Cli, host: NetHost,
                                                     flags: tuple[str, ...], needle: str) -> None:
    before = bundles(ncli)
    res = ncli.run("run", "--rm", *flags, "busybox", "true")
    one_line_error(res, needle)
    assert res.stdout == ""
    assert bundles(ncli) == before
    assert [n for n in host.links() if n.startswith("veth")] == []


def test_a_taken_port_is_125_and_leaves_nothing(ncli: Cli) -> None:
    first = ncli.start("run", "--rm", "--name", "first", "-p", "8085:80", "busybox", "sleep", "60")
    wait_running(ncli, "first")
    before = bundles(ncli)
    res = ncli.run("run", "--rm", "-p", "8085:80", "busybox", "true")
    one_line_error(res, "0.0.0.0:8085", "port is already allocated")
    assert bundles(ncli) == before
    leases = json.loads((ncli.root / "state/networks/bridge/leases.json").read_text())["leases"]
    assert list(leases) == [inspect(ncli, "first")[0]["Id"]]
    assert ncli.run("kill", "first").returncode == 0
    finish(first)


def test_network_create_ls_inspect_rm(ncli: Cli, host: NetHost) -> None:
    res = ncli.run("network", "create", "--subnet", "10.99.0.0/24", "--gateway", "10.99.0.254",
                   "--label", "team=a", "--internal", "back")
    assert res.returncode == 0, res.stderr
    nid = res.stdout.strip()
    assert len(nid) == 64
    one_line_error(ncli.run("network", "create", "back"), "already exists")
    one_line_error(ncli.run("network", "create", "--subnet", "10.99.0.128/25", "other"),
                   "overlaps")
    ls = ncli.run("network", "ls").stdout.splitlines()
    assert ls[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert [line.split()[1] for line in ls[1:]] == ["back", "bridge", "host", "none"]
    assert ncli.run("network", "ls", "-q", "--filter", "name=back").stdout == nid[:12] + "\n"
    rows = [json.loads(line) for line in
            ncli.run("network", "ls", "--format", "json", "-f", "label=team=a").stdout.splitlines()]
    assert [(r["Name"], r["Internal"], r["Labels"]) for r in rows] == [("back", "true", "team=a")]
    doc = json.loads(ncli.run("network", "inspect", "back").stdout)[0]
    assert (doc["Name"], doc["Id"], doc["Driver"], doc["Internal"], doc["Labels"]) == (
        "back", nid, "bridge", True, {"team": "a"})
    assert doc["IPAM"]["Config"] == [{"Subnet": "10.99.0.0/24", "Gateway": "10.99.0.254"}]
    proc = ncli.start("run", "--rm", "--name", "c1", "--network", "back", "--ip", "10.99.0.7",
                      "busybox", "sleep", "60")
    wait_running(ncli, "c1")
    doc = json.loads(ncli.run("network", "inspect", "back").stdout)[0]
    [(cid, member)] = doc["Containers"].items()
    assert cid == inspect(ncli, "c1")[0]["Id"]
    assert (member["Name"], member["IPv4Address"]) == ("c1", "10.99.0.7/24")
    assert member["MacAddress"] == "02:42:0a:63:00:07"
    one_line_error(ncli.run("network", "rm", "back"), "has active endpoints")
    one_line_error(ncli.run("network", "rm", "bridge"), "pre-defined")
    assert ncli.run("kill", "c1").returncode == 0
    finish(proc)
    bridge = "lnch-" + nid[:8]
    assert bridge in host.links()
    assert ncli.run("network", "rm", "back").stdout == "back\n"
    assert bridge not in host.links()
    assert not [t for t in host.rule_tags() if t == "network=back"]
    one_line_error(ncli.run("network", "inspect", "back"), "network back not found")


def test_connect_and_disconnect_a_running_container(ncli: Cli) -> None:
    assert ncli.run("network", "create", "front").returncode == 0
    web = ncli.start("run", "--rm", "--name", "web", "busybox", "sleep", "60")
    peer = ncli.start("run", "--rm", "--name", "peer", "--network", "front", "busybox", "sleep",
                      "60")
    wait_running(ncli, "web")
    wait_running(ncli, "peer")
    res = ncli.run("network", "connect", "--alias", "www", "front", "web")
    assert res.returncode == 0, res.stderr
    links = ncli.run("exec", "web", "ls", "/sys/class/net").stdout.split()
    assert links == ["eth0", "eth1", "lo"]
    ip = inspect(ncli, "web")[0]["NetworkSettings"]["Networks"]["front"]["IPAddress"]  # type: ignore[index]
    assert f"{ip}\tweb www " in ncli.run("exec", "peer", "cat", "/etc/hosts").stdout
    one_line_error(ncli.run("network", "connect", "front", "web"), "already exists")
    assert ncli.run("network", "disconnect", "front", "web").returncode == 0
    assert ncli.run("exec", "web", "ls", "/sys/class/net").stdout.split() == ["eth0", "lo"]
    assert "web" not in ncli.run("exec", "peer", "cat", "/etc/hosts").stdout
    one_line_error(ncli.run("network", "disconnect", "front", "web"), "is not connected")
    assert ncli.run("network", "disconnect", "-f", "front", "web").returncode == 0
    for name, proc in (("web", web), ("peer", peer)):
        assert ncli.run("kill", name).returncode == 0
        finish(proc)
    assert ncli.run("network", "prune", "-f").stdout == "Deleted Networks:\nfront\n"


@pytest.mark.parametrize("point", NET_POINTS)
def test_run_killed_at_each_network_step(ncli: Cli, host: NetHost, point: str) -> None:
    """The CLI SIGKILLed mid-setup: rm -f and system prune leave nothing."""
    env = {**os.environ, "LAUNCHER_FAULT": point}
    res = subprocess.run(ncli.argv("run", "--rm", "--name", "victim", "-p", "8086:80",
                                   "busybox", "sleep", "60"),
                         env=env, capture_output=True, text=True, timeout=30, check=False)
    assert res.returncode == -9, res.stderr
    ids = ncli.run("ps", "-aq", "--no-trunc").stdout.split()
    if ids:
        assert ncli.run("rm", "-f", *ids).returncode == 0
    assert ncli.run("system", "prune", "-f").returncode == 0
    assert host.problems(ncli.root) == []
    res = ncli.run("run", "--rm", "--name", "victim", "-p", "8086:80", "busybox", "true")
    assert res.returncode == 0, res.stderr  # the name and the port are free again


@pytest.mark.parametrize("point", ["net.unpublish", "net.disconnect"])
def test_run_killed_during_its_network_teardown(ncli: Cli, host: NetHost, point: str) -> None:
    """The attached CLI tears the network down after the container exits: killed
    there, it leaves what rm -f then removes."""
    res = subprocess.run(ncli.argv("run", "--rm", "--name", "victim", "-p", "8087:80",
                                   "busybox", "true"),
                         env={**os.environ, "LAUNCHER_FAULT": point}, capture_output=True,
                         text=True, timeout=30, check=False)
    assert res.returncode == -9, res.stderr
    assert ncli.run("rm", "-f", "victim").returncode == 0
    assert host.problems(ncli.root) == []


def test_rm_killed_after_the_network_teardown(ncli: Cli, host: NetHost) -> None:
    res = ncli.run("run", "--name", "victim", "-p", "8087:80", "busybox", "true")
    assert res.returncode == 0, res.stderr
    res = subprocess.run(ncli.argv("rm", "victim"), env={**os.environ,
                                                         "LAUNCHER_FAULT": "rm.network"},
                         capture_output=True, text=True, timeout=30, check=False)
    assert res.returncode == -9, res.stderr
    assert ncli.run("rm", "victim").returncode == 0
    assert host.problems(ncli.root) == []


def _monitor_sets_up_networks(cli: Cli) -> bool:
    """Whether ``run -d`` wires up networking (the monitor calls network.container)."""
    res = cli.run("run", "-d", "busybox", "sleep", "30")
    if res.returncode != 0:
        return False
    cid = res.stdout.strip()
    try:
        wait_for(lambda: inspect(cli, cid)[0]["State"]["Running"])  # type: ignore[index]
        nets = inspect(cli, cid)[0]["NetworkSettings"]["Networks"]  # type: ignore[index]
        return bool(nets["bridge"]["IPAddress"])
    finally:
        cli.run("rm", "-f", cid)


PARALLEL = 100


def test_parallel_detached_runs_get_distinct_addresses(ncli: Cli, host: NetHost) -> None:
    if not _monitor_sets_up_networks(ncli):
        pytest.skip("run -d does not set up networking yet: the monitor must call "
                    "launcher.network.container.setup/teardown (issue 5)")

    def run(i: int) -> str:
        res = ncli.run("run", "-d", "--name", f"p{i}", "busybox", "sleep", "120", timeout=120)
        assert res.returncode == 0, res.stderr
        return res.stdout.strip()

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        ids = list(pool.map(run, range(PARALLEL)))
    docs = inspect(ncli, *ids)
    ips = [d["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]  # type: ignore[index]
           for d in docs]
    macs = {d["NetworkSettings"]["Networks"]["bridge"]["MacAddress"]  # type: ignore[index]
            for d in docs}
    assert all(ips) and len(set(ips)) == PARALLEL and len(macs) == PARALLEL
    veths = [n for n in host.links() if n.startswith("veth")]
    assert len(veths) == PARALLEL
    res = ncli.run("rm", "-f", *ids, timeout=300)
    assert res.returncode == 0, res.stderr
    assert host.problems(ncli.root) == []
