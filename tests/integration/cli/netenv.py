"""A throwaway "host" for the network tests: a named network namespace in which
the CLI runs (``nsenter --net``), so its bridges, veths, nft table and sysctls
live and die there — the real host's interfaces and firewall are never touched.

``net_cli`` (see the fixtures in the test modules) is the usual ``cli`` with
``nsenter --net=/run/netns/NS --`` in front of every call; ``NetHost.run``
runs any other program (an HTTP client, ``nft``) in the same namespace.
``NetHost.problems`` is the leak count: veths, rules tagged with a container,
leases and endpoint records that remain.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.integration.cli.conftest import CALL_TIMEOUT, Cli, wait_for

NETPROBE = str(Path(__file__).parents[1] / "network" / "netprobe.py")
HTTP_GET = ("import sys, urllib.request\n"
            "try:\n"
            "    print(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2]))"
            ".read().decode(), end='')\n"
            "except OSError as exc:\n"
            "    print('FAIL', exc)\n")
# A UDP echo server for busybox containers (busybox's nc has no UDP mode): the
# host's own python3, read-only bind-mounted in (merged-/usr Debian needs only
# /usr, /lib and /lib64 for the loader), so no compiler is needed.
UDP_ECHO_PY = (
    "import socket, sys\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.bind(('', int(sys.argv[1])))\n"
    "while True:\n"
    "    data, peer = s.recvfrom(2048)\n"
    "    s.sendto(data, peer)\n")
UDP_ECHO_RUN = ("-v", "/usr:/usr:ro", "-v", "/lib:/lib:ro", "-v", "/lib64:/lib64:ro", "busybox",
                "/usr/bin/python3", "-c", UDP_ECHO_PY)


def sh(*argv: str) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, check=False,
                         timeout=CALL_TIMEOUT)
    if res.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {res.stderr.strip()}")
    return res.stdout


class NetHost:
    """A network namespace standing in for the host (``lo`` up)."""

    def __init__(self, name: str) -> None:
        self.name = name
        sh("ip", "netns", "add", name)
        sh("ip", "-n", name, "link", "set", "lo", "up")

    @property
    def enter(self) -> tuple[str, ...]:
        return ("nsenter", f"--net=/run/netns/{self.name}", "--")

    def run(self, *argv: str, timeout: float = CALL_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.enter, *argv], capture_output=True, text=True,
                              check=False, timeout=timeout)

    def http(self, url: str, timeout: float = 5.0, ns: str | None = None) -> str:
        enter = ("nsenter", f"--net=/run/netns/{ns}", "--") if ns else self.enter
        res = subprocess.run([*enter, sys.executable, "-c", HTTP_GET, url, str(timeout)],
                             capture_output=True, text=True, check=False,
                             timeout=timeout + CALL_TIMEOUT)
        return res.stdout

    def probe(self, proto: str, host: str, port: int, timeout: float = 5.0,
              ns: str | None = None) -> str:
        enter = ("nsenter", f"--net=/run/netns/{ns}", "--") if ns else self.enter
        res = subprocess.run([*enter, sys.executable, NETPROBE, "probe", proto, host, str(port),
                              str(timeout)], capture_output=True, text=True, check=False,
                             timeout=timeout + CALL_TIMEOUT)
        return res.stdout.strip()

    def links(self) -> list[str]:
        return sorted(line.split(":")[1].strip().split("@")[0]
                      for line in sh("ip", "-n", self.name, "-o", "link").splitlines())

    def rule_tags(self) -> list[str]:
        res = self.run("nft", "-j", "list", "table", "inet", "launcher")
        if res.returncode != 0:
            return []
        items = json.loads(res.stdout)["nftables"]
        return sorted(i["rule"].get("comment", "") for i in items if "rule" in i)

    def problems(self, root: Path) -> list[str]:
        """What networking left in this namespace and under ``root``."""
        out = [f"link {name}" for name in self.links()
               if name != "lo" and name != "launcher0" and not name.startswith("lnch-")]
        out += [f"rule {tag}" for tag in self.rule_tags() if tag.startswith("container=")]
        state = root / "state" / "networks"
        for net in sorted(os.listdir(state)) if state.is_dir() else []:
            leases = state / net / "leases.json"
            if leases.exists() and json.loads(leases.read_text())["leases"]:
                out.append(f"leases on {net}: {leases.read_text()}")
            endpoints = state / net / "endpoints"
            if endpoints.is_dir():
                out += [f"endpoint {net}/{e}" for e in sorted(os.listdir(endpoints))]
        return out

    def close(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)


def clean_up(cli: Cli, host: NetHost) -> list[str]:
    """Remove every container and user network of the test; what is left."""
    ids = cli.run("ps", "-aq", "--no-trunc").stdout.split()
    if ids:
        cli.run("rm", "-f", *ids)
    cli.run("network", "prune", "-f")
    return host.problems(cli.root)


def inspect(cli: Cli, *refs: str) -> list[dict[str, object]]:
    res = cli.run("inspect", *refs)
    assert res.returncode == 0, res.stderr
    docs: list[dict[str, object]] = json.loads(res.stdout)
    return docs


def ip_of(cli: Cli, ref: str, network: str = "bridge") -> str:
    settings = inspect(cli, ref)[0]["NetworkSettings"]
    assert isinstance(settings, dict)
    return str(settings["Networks"][network]["IPAddress"])


def wait_running(cli: Cli, name: str) -> None:
    """Until ``name`` runs with its network set up (its address is known)."""
    def ready() -> bool:
        res = cli.run("inspect", name)
        if res.returncode != 0:
            return False
        doc = json.loads(res.stdout)[0]
        nets = doc["NetworkSettings"]["Networks"]
        return bool(doc["State"]["Running"]) and all(n["IPAddress"] for n in nets.values()
                                                      if doc["HostConfig"]["NetworkMode"]
                                                      not in ("none", "host"))
    wait_for(ready)


def wait_answer(fetch: Callable[[], str], want: str) -> str:
    """Poll ``fetch()`` until its answer contains ``want`` (a server starting up)."""
    got = [""]

    def answered() -> bool:
        got[0] = fetch()
        return want in got[0]

    wait_for(answered, timeout=15)
    return got[0]
