#!/usr/bin/env python3
"""Bridge networking: container start with the default network, and the cost of
wiring one container up, launcher against podman and iproute2, in one run.

    sudo .venv/bin/python bench/network.py [--runs 15] [--setup-runs 200] [--json FILE]

1. ``run --rm busybox true`` with each tool's default bridge network (launcher's
   ``bridge``; podman 4.3's ``podman`` network through netavark) and with
   ``--network none``, interleaved, rotating which tool goes first.  Goal of
   issue 5: launcher's bridge median ≤ 0.1x podman's.
2. Network setup itself, in-process: launcher's ``RealNetOps.add_container_veth``
   (veth pair born with its peer in the container's namespace, host end on the
   bridge, hairpin; address, MAC, route and DAD off inside) against the same
   work as two ``ip -batch`` runs (one on the host side, one ``ip -n NS``
   inside).  Goal: ≤ 1.0x.

Everything runs inside a network namespace made here (``lb-bench-PID``), so the
host's interfaces and ruleset are never touched; launcher and podman get private
storage, as in lifecycle.py.  Nothing here asserts: numbers are for reading.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from lifecycle import Failed, p90, timed, versions  # noqa: E402
from pull import remove_tree  # noqa: E402

START_GOAL, SETUP_GOAL = 0.1, 1.0
BRIDGE, GATEWAY = "lbbench0", "10.99.0.1"


def sh(*argv: str) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    if res.returncode != 0:
        raise Failed(f"{' '.join(argv)}: {res.stderr.strip()}")
    return res.stdout


def median_ms(xs: list[float]) -> dict[str, float]:
    return {"median_ms": statistics.median(xs) * 1e3, "p90_ms": p90(xs) * 1e3}


# -- 1. container start -----------------------------------------------------------


def start_bench(args: argparse.Namespace, ns: str, base: str) -> dict[str, dict[str, float]]:
    enter = ["nsenter", f"--net=/run/netns/{ns}", "--"]
    lroot = os.path.join(base, "launcher")
    env = {k: v for k, v in os.environ.items() if k != "LAUNCHER_DEFAULT_NETWORK"}
    os.environ.clear()
    os.environ.update(env)  # launcher's own default: bridge
    cmds: dict[str, list[str]] = {
        "launcher bridge": [*enter, args.launcher, "--root", lroot, "run", "--rm", "busybox",
                            "true"],
        "launcher none": [*enter, args.launcher, "--root", lroot, "run", "--rm", "--network",
                          "none", "busybox", "true"],
    }
    timed(cmds["launcher none"], args.timeout)  # builds busybox in the store
    short = tempfile.mkdtemp(prefix="lbn-", dir="/tmp")
    pglobal = [*enter, "podman", "--root", os.path.join(base, "podman"), "--runroot", short,
               "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "none"]
    try:
        tar = os.path.join(base, "busybox.tar")
        timed([args.launcher, "--root", lroot, "save", "-o", tar, "busybox"], args.timeout)
        timed([*pglobal, "load", "-i", tar], args.timeout)
        popts = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
        for net in ("bridge", "none"):
            cmds[f"podman {net}"] = [*pglobal, "run", "--rm", "--network", net, *popts,
                                     "localhost/busybox:latest", "true"]
        names = list(cmds)
        for name in names:  # untimed warm-up: bridges, rules, caches
            timed(cmds[name], args.timeout)
        times: dict[str, list[float]] = {n: [] for n in names}
        for i in range(args.runs):
            for name in names[i % len(names):] + names[:i % len(names)]:
                times[name].append(timed(cmds[name], args.timeout))
            print(f"  start round {i + 1}/{args.runs}: " + "  ".join(
                f"{n} {times[n][-1] * 1e3:.0f}" for n in names), flush=True)
        return {n: median_ms(xs) for n, xs in times.items()}
    finally:
        subprocess.run([*pglobal, "system", "reset", "-f"], capture_output=True, check=False,
                       timeout=120)
        remove_tree(short)


# -- 2. network setup, run inside the bench namespace (``--setup-child``) ------------


def setup_child(runs: int, ns: str) -> dict[str, dict[str, float]]:
    """In the bench namespace: time launcher's veth setup and two ``ip -batch`` runs."""
    sys.path.insert(0, REPO)
    from launcher.network.link import RealNetOps

    ops = RealNetOps()
    ops.ensure_bridge(BRIDGE, f"{GATEWAY}/24")
    cns = f"{ns}-c"
    sh("ip", "netns", "add", cns)
    fd = os.open(f"/run/netns/{cns}", os.O_RDONLY | os.O_CLOEXEC)
    mine: list[float] = []
    theirs: list[float] = []
    host_side = (f"link add vbench0 type veth peer name eth0 netns {cns}\n"
                 f"link set vbench0 master {BRIDGE} up\n")
    inside = (f"addr add 10.99.0.2/24 dev eth0\nlink set eth0 address 02:42:0a:63:00:02\n"
              f"link set eth0 up\nroute add default via {GATEWAY}\n")
    try:
        for i in range(runs + 5):  # the first five warm up
            t = time.perf_counter()
            ops.add_container_veth("vbench0", fd, "eth0", BRIDGE, "10.99.0.2/24", GATEWAY,
                                   "02:42:0a:63:00:02")
            mine.append(time.perf_counter() - t)
            ops.delete_link("vbench0")
            t = time.perf_counter()
            subprocess.run(["ip", "-batch", "-"], input=host_side, text=True, check=True)
            subprocess.run(["ip", "-n", cns, "-batch", "-"], input=inside, text=True,
                           check=True)
            theirs.append(time.perf_counter() - t)
            sh("ip", "link", "del", "vbench0")
            if i == 4:
                mine.clear()
                theirs.clear()
    finally:
        os.close(fd)
        subprocess.run(["ip", "link", "del", "vbench0"], capture_output=True, check=False)
        ops.delete_bridge(BRIDGE)
        ops.close()
        sh("ip", "netns", "del", cns)
    return {"launcher add_container_veth": median_ms(mine),
            "ip -batch x2": median_ms(theirs)}


def setup_bench(args: argparse.Namespace, ns: str) -> dict[str, dict[str, float]]:
    res = subprocess.run(["nsenter", f"--net=/run/netns/{ns}", "--", sys.executable,
                          os.path.abspath(__file__), "--setup-child", ns,
                          "--setup-runs", str(args.setup_runs)],
                         capture_output=True, text=True, check=False, timeout=600)
    if res.returncode != 0:
        raise Failed(f"setup benchmark failed: {res.stderr.strip()[-500:]}")
    return json.loads(res.stdout)  # type: ignore[no-any-return]


# -- report ---------------------------------------------------------------------


def ratio(a: float, b: float, goal: float) -> str:
    r = a / b
    return f"{r:.2f}x {'(met)' if r <= goal else '(not met)'}"


def report(start: dict[str, dict[str, float]], setup: dict[str, dict[str, float]],
           args: argparse.Namespace) -> str:
    lines = [f"# Bridge networking ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
             f"{args.runs} start runs, {args.setup_runs} setup runs)", "",
             "| `run --rm busybox true` | median ms | p90 ms |", "| --- | --- | --- |"]
    lines += [f"| {n} | {s['median_ms']:.1f} | {s['p90_ms']:.1f} |" for n, s in start.items()]
    if "podman bridge" in start:
        lines += ["", "launcher bridge / podman bridge: " + ratio(
            start["launcher bridge"]["median_ms"], start["podman bridge"]["median_ms"],
            START_GOAL) + f" (goal ≤ {START_GOAL}x)"]
    lines += ["", "| network setup of one container | median ms | p90 ms |",
              "| --- | --- | --- |"]
    lines += [f"| {n} | {s['median_ms']:.2f} | {s['p90_ms']:.2f} |" for n, s in setup.items()]
    lines += ["", "launcher / two `ip -batch`: " + ratio(
        setup["launcher add_container_veth"]["median_ms"], setup["ip -batch x2"]["median_ms"],
        SETUP_GOAL) + f" (goal ≤ {SETUP_GOAL}x)"]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--setup-runs", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--json", help="write the medians here too")
    ap.add_argument("--launcher", default=os.path.join(REPO, ".venv", "bin", "launcher"))
    ap.add_argument("--setup-child", metavar="NS", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.setup_child:
        print(json.dumps(setup_child(args.setup_runs, args.setup_child)))
        return 0
    if os.geteuid() != 0:
        print("bench/network.py needs root (network namespaces, bridges)", file=sys.stderr)
        return 2
    ns = f"lb-bench-{os.getpid()}"
    base = tempfile.mkdtemp(prefix="launcher-netbench-")
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        setup = setup_bench(args, ns)
        start = start_bench(args, ns, base)
    except (Failed, KeyboardInterrupt) as exc:
        print(f"bench/network.py: {exc}", file=sys.stderr)
        return 1
    finally:
        lroot = os.path.join(base, "launcher")
        subprocess.run(["nsenter", f"--net=/run/netns/{ns}", "--", args.launcher, "--root",
                        lroot, "system", "prune", "-f"], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        remove_tree(base)
    text = report(start, setup, args)
    print(text)
    out = os.path.join(HERE, "results", f"network-{time.strftime('%Y%m%d-%H%M%S')}.md")
    with open(out, "w") as f:
        f.write(text + "\n" + json.dumps(versions(args.launcher)) + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"start": start, "setup": setup}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
