#!/usr/bin/env python3
"""Bridge networking: container start with the default network, and the cost of
wiring one container up, launcher against podman and iproute2, in one run.

    sudo .venv/bin/python bench/network.py [--runs 20] [--setup-runs 200] [--json FILE]

1. ``run --rm busybox true`` with each tool's default bridge network
   (launcher's ``bridge``, ``LAUNCHER_DEFAULT_NETWORK`` unset; podman 4.3's
   ``--network bridge``, netavark or CNI, reported) and with ``--network none``,
   so the network's own cost shows.  Interleaved, rotating which command goes
   first, after one untimed run of each.  podman runs as in lifecycle.py
   (private storage, runc, cgroupfs, the same busybox bytes via ``launcher
   save``).  Goal of issue 5: launcher's bridge median ≤ 0.1x podman's.
2. Wiring one endpoint, in-process (``perf_counter_ns``, imports warm): a fresh
   ``RealNetOps`` doing ``ensure_bridge`` + ``add_container_veth`` (veth born with
   its peer in the container's namespace, host end on the bridge and up,
   hairpin; inside: ``lo`` up, address, MAC, up, default route, DAD off)
   against the same work as two ``ip -batch`` runs (host side, then ``ip -n NS``),
   alternating which goes first.  Goal: ≤ 1.0x.  Also the whole of
   ``launcher.network.container.setup`` and ``teardown`` for one container
   (lease, endpoint record, veth, firewall check, forwarding, hosts file).

Every tool works in network namespaces made here (``lb-bench-PID-*``: one for
each CLI, one for the in-process wiring, one standing in for the container), so
the host's interfaces and ruleset are never touched; deleting them at the end
takes every bridge, veth and rule along.  Exception: rootful podman keeps its
IPAM database in ``/run/containers/networks`` whatever its storage options;
``--rm`` releases each lease.  Cleanup (containers, podman storage, namespaces,
trees) runs on errors, Ctrl-C and SIGTERM too.  Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from lifecycle import Failed, p90, timed, versions  # noqa: E402  (siblings, found via HERE)
from pull import remove_tree  # noqa: E402

START_GOAL, SETUP_GOAL = 0.1, 1.0
WARMUP = 5  # untimed in-process rounds first: imports, caches, the first bridge and table
BRIDGE, GATEWAY, PLEN = "lbbench0", "10.99.0.1", 24
HOST_VETH, IFNAME, CONTAINER_IP, MAC = "vbench0", "eth0", "10.99.0.2", "02:42:0a:63:00:02"
PODMAN_IMAGE = "localhost/busybox:latest"  # what `podman load` names launcher's busybox
# podman 4.3 without CAP_SYS_RESOURCE here: ulimits it may set (as lifecycle.py).
PODMAN_RUN_OPTS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
WIRE_MINE, WIRE_IP = "launcher ensure_bridge + add_container_veth", "ip -batch + ip -n NS -batch"
SETUP, TEARDOWN = "launcher container.setup", "launcher container.teardown"

Times = dict[str, list[float]]  # what -> seconds per run


def _interrupt(signum: int, frame: object) -> None:
    catch_signals(raising=False)  # a second signal must not cut the cleanup short
    raise KeyboardInterrupt(f"signal {signum}")


def _deferred(signum: int, frame: object) -> None:
    print("bench/network.py: cleaning up first", file=sys.stderr)


def catch_signals(raising: bool) -> None:
    """SIGINT/SIGTERM/SIGHUP: raise KeyboardInterrupt (once), or (during cleanup)
    wait for it. A caught signal goes back to its default in exec'd children."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt if raising else _deferred)


def enter(ns: str) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{ns}", "--"]


def quiet(cmd: list[str], limit: float = 120) -> str:
    """Run a cleanup or probe command; its stdout, "" when it failed."""
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=limit)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return res.stdout if res.returncode == 0 else ""


def stats(xs: list[float]) -> dict[str, float]:
    return {"median_ms": statistics.median(xs) * 1e3, "p90_ms": p90(xs) * 1e3, "runs": len(xs)}


class Bench:
    """What this run makes, each recorded before it is made so cleanup finds it."""

    __slots__ = ("base", "launcher", "lroot", "netns", "pglobal", "podman", "short")

    def __init__(self, launcher: str, base: str, short: str) -> None:
        self.launcher, self.base, self.short = launcher, base, short
        self.lroot = os.path.join(base, "launcher")
        tag = f"lb-bench-{os.getpid()}"
        # launcher: its CLI; podman: its CLI; wire: the in-process part; ctr: its container.
        self.netns = {role: f"{tag}-{role}" for role in ("launcher", "podman", "wire", "ctr")}
        self.podman = shutil.which("podman") is not None
        self.pglobal = ["podman", "--root", os.path.join(base, "podman"), "--runroot", short,
                        "--network-config-dir", os.path.join(base, "podman-networks"),
                        "--runtime", "runc", "--cgroup-manager", "cgroupfs",
                        "--events-backend", "none"]

    def lcli(self, *argv: str) -> list[str]:
        return [*enter(self.netns["launcher"]), self.launcher, "--root", self.lroot, *argv]

    def pcli(self, *argv: str) -> list[str]:
        return [*enter(self.netns["podman"]), *self.pglobal, *argv]

    def make_netns(self) -> None:
        for ns in self.netns.values():
            res = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True,
                                 check=False)
            if res.returncode != 0:
                raise Failed(f"ip netns add {ns}: {res.stderr.strip()}")
            timed(["ip", "-n", ns, "link", "set", "lo", "up"], 30)

    def cleanup(self) -> None:
        """Containers of both tools, podman's storage, every process left in our
        namespaces (ours: nothing else lives there), the namespaces, the trees."""
        ids = quiet(self.lcli("ps", "-a", "-q")).split()
        if ids:
            quiet(self.lcli("rm", "-f", *ids))
        if self.podman and os.path.isdir(os.path.join(self.base, "podman")):
            ids = quiet(self.pcli("ps", "-a", "-q")).split()
            if ids:
                quiet(self.pcli("rm", "-f", *ids))
            quiet(self.pcli("system", "reset", "-f"))
        for ns in self.netns.values():
            if not os.path.exists(f"/run/netns/{ns}"):
                continue
            for pid in quiet(["ip", "netns", "pids", ns], 30).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
            quiet(["ip", "netns", "del", ns], 30)
        remove_tree(self.short)
        remove_tree(self.base)


# -- 1. container start -----------------------------------------------------------


def start_commands(b: Bench) -> dict[str, list[str]]:
    cmds = {"launcher bridge": b.lcli("run", "--rm", "busybox", "true"),
            "launcher none": b.lcli("run", "--rm", "--network", "none", "busybox", "true")}
    if b.podman:
        for net in ("bridge", "none"):
            cmds[f"podman {net}"] = b.pcli("run", "--rm", "--network", net, *PODMAN_RUN_OPTS,
                                           PODMAN_IMAGE, "true")
    return cmds


def prepare_images(b: Bench, limit: float) -> None:
    """busybox in launcher's store (built on first use), and the same bytes in podman's."""
    timed(b.lcli("run", "--rm", "--network", "none", "busybox", "true"), limit)
    if not b.podman:
        print("podman not found: launcher only", file=sys.stderr)
        return
    tar = os.path.join(b.base, "busybox.tar")
    timed(b.lcli("save", "-o", tar, "busybox"), limit)
    timed(b.pcli("load", "-i", tar), limit)


def start_rounds(cmds: dict[str, list[str]], runs: int, limit: float) -> Times:
    names = list(cmds)
    for name in names:  # untimed: the default network, bridges, rules, caches
        timed(cmds[name], limit)
    times: Times = {n: [] for n in names}
    for i in range(runs):
        for name in names[i % len(names):] + names[:i % len(names)]:
            times[name].append(timed(cmds[name], limit))
        print(f"  start round {i + 1}/{runs} (ms): " + "  ".join(
            f"{n} {times[n][-1] * 1e3:.0f}" for n in names), flush=True)
    return times


def podman_backend(b: Bench) -> str:
    if not b.podman:
        return "—"
    out = quiet(b.pcli("info", "--format", "{{.Host.NetworkBackend}}")).strip()
    return out or "unknown"


def debug_trace(b: Bench) -> str:
    """One ``launcher --debug run --rm busybox true``: its per-phase timings."""
    cmd = [*enter(b.netns["launcher"]), b.launcher, "--debug", "--root", b.lroot, "run", "--rm",
           "busybox", "true"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
    return res.stderr.strip()


# -- 2. wiring, in-process (run in the ``wire`` namespace as ``--wire-child``) ------


def spawn_wait(argv: list[str]) -> None:
    """Run ``argv`` the cheapest way Python can (no shell, no pipes); Failed if it fails."""
    pid = os.posix_spawn(argv[0], argv, os.environ)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise Failed(f"{' '.join(argv)} exited {os.waitstatus_to_exitcode(status)}")


def ip_batches(tmp: str, ctr_ns: str) -> list[list[str]]:
    """The two ``ip -batch`` runs that do what launcher's wiring does (all but the
    IPv6 DAD sysctl, which ip cannot write: that is launcher's extra work)."""
    ip = shutil.which("ip") or "/usr/sbin/ip"
    host = (f"addr replace {GATEWAY}/{PLEN} dev {BRIDGE}\nlink set {BRIDGE} up\n"
            f"link add {HOST_VETH} type veth peer name {IFNAME} address {MAC} netns {ctr_ns}\n"
            f"link set {HOST_VETH} master {BRIDGE} up\n"
            f"link set {HOST_VETH} type bridge_slave hairpin on\n")
    inside = (f"link set lo up\naddr add {CONTAINER_IP}/{PLEN} dev {IFNAME}\n"
              f"link set {IFNAME} up\nroute add default via {GATEWAY}\n")
    paths = []
    for name, text in (("host.batch", host), ("inside.batch", inside)):
        paths.append(os.path.join(tmp, name))
        with open(paths[-1], "w", encoding="ascii") as f:
            f.write(text)
    return [[ip, "-batch", paths[0]], [ip, "-n", ctr_ns, "-batch", paths[1]]]


def wire_rounds(netns_fd: int, ctr_ns: str, tmp: str, runs: int) -> Times:
    """launcher's endpoint wiring against two ``ip -batch``, alternating which goes
    first; the veth (and with it the container's end) deleted, untimed, after each."""
    from launcher.network.link import RealNetOps

    batches = ip_batches(tmp, ctr_ns)
    times: Times = {WIRE_MINE: [], WIRE_IP: []}
    with RealNetOps() as cleaner:
        cleaner.ensure_bridge(BRIDGE, f"{GATEWAY}/{PLEN}")  # both find it; made once
        try:
            for i in range(runs + WARMUP):
                for who in (WIRE_MINE, WIRE_IP)[::1 if i % 2 else -1]:
                    t = time.perf_counter_ns()
                    if who == WIRE_MINE:
                        # A fresh seam, as each `launcher run` opens its own socket.
                        with RealNetOps() as ops:
                            ops.ensure_bridge(BRIDGE, f"{GATEWAY}/{PLEN}")
                            ops.add_container_veth(HOST_VETH, netns_fd, IFNAME, BRIDGE,
                                                   f"{CONTAINER_IP}/{PLEN}", GATEWAY, MAC)
                    else:
                        for argv in batches:
                            spawn_wait(argv)
                    elapsed = time.perf_counter_ns() - t
                    cleaner.delete_link(HOST_VETH)
                    if i >= WARMUP:
                        times[who].append(elapsed / 1e9)
        finally:
            cleaner.delete_link(HOST_VETH)
            cleaner.delete_bridge(BRIDGE)
    return times


def container_rounds(ctr_ns: str, root: str, runs: int) -> Times:
    """``container.setup`` then ``container.teardown`` of one bridge container whose
    init is a ``sleep`` in ``ctr_ns``, with a private launcher root."""
    from launcher.backend.linux.procinfo import start_time
    from launcher.network import container as net
    from launcher.network.bundle import bundle_dir
    from launcher.network.runconfig import NetConfig, NetRequest
    from launcher.paths import Paths

    paths = Paths.from_root(root)
    cid = os.urandom(32).hex()
    cfg = NetConfig("bridge")
    cfg.networks = [NetRequest("bridge")]
    bundle = bundle_dir(paths, cid)
    os.makedirs(bundle, mode=0o700)
    net.prepare(paths, cfg, cid, bundle, set())  # network.json, /etc files
    init = subprocess.Popen([*enter(ctr_ns), "sleep", "3600"])
    times: Times = {SETUP: [], TEARDOWN: []}
    try:
        wait_in_netns(init.pid, ctr_ns)
        pid_start = start_time(init.pid)
        for i in range(runs + WARMUP):
            t0 = time.perf_counter_ns()
            net.setup(paths, cid, init.pid, pid_start)
            t1 = time.perf_counter_ns()
            net.teardown(paths, cid)
            t2 = time.perf_counter_ns()
            if i >= WARMUP:
                times[SETUP].append((t1 - t0) / 1e9)
                times[TEARDOWN].append((t2 - t1) / 1e9)
    finally:
        try:
            net.teardown(paths, cid)
        finally:
            init.kill()
            init.wait()
    return times


def wait_in_netns(pid: int, ns: str) -> None:
    """Until ``pid`` (nsenter, about to exec) has entered ``ns``."""
    want = os.stat(f"/run/netns/{ns}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        have = os.stat(f"/proc/{pid}/ns/net")
        if (have.st_dev, have.st_ino) == (want.st_dev, want.st_ino):
            return
        time.sleep(0.001)
    raise Failed(f"pid {pid} did not enter namespace {ns}")


def wire_child(ctr_ns: str, root: str, runs: int) -> Times:
    """The in-process part (this process is in the ``wire`` namespace)."""
    sys.path.insert(0, REPO)
    catch_signals(raising=True)
    fd = os.open(f"/run/netns/{ctr_ns}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        times = wire_rounds(fd, ctr_ns, root, runs)
        times.update(container_rounds(ctr_ns, root, runs))
    finally:
        catch_signals(raising=False)
        os.close(fd)
    return times


def wire_bench(b: Bench, runs: int) -> Times:
    root = os.path.join(b.base, "inproc")
    os.makedirs(root, mode=0o700)
    cmd = [*enter(b.netns["wire"]), sys.executable, os.path.abspath(__file__),
           "--wire-child", b.netns["ctr"], root, "--setup-runs", str(runs)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=600)
    except BaseException:
        proc.terminate()  # it undoes its own work first; Bench.cleanup catches the rest
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    if proc.returncode != 0:
        raise Failed(f"in-process benchmark exited {proc.returncode}: {err.strip()[-800:]}")
    return {k: list(v) for k, v in json.loads(out).items()}


# -- report ---------------------------------------------------------------------


def ratio(mine: dict[str, float], theirs: dict[str, float], goal: float | None) -> str:
    r = mine["median_ms"] / theirs["median_ms"]
    if goal is None:
        return f"{r:.2f}x"
    return f"{r:.2f}x {'(met)' if r <= goal else '(not met)'}, goal ≤ {goal}x"


def table(title: str, rows: dict[str, dict[str, float]], digits: int) -> list[str]:
    lines = ["", f"| {title} | median ms | p90 ms |", "| --- | --- | --- |"]
    lines += [f"| {n} | {s['median_ms']:.{digits}f} | {s['p90_ms']:.{digits}f} |"
              for n, s in rows.items()]
    return lines


def report(summary: dict[str, dict[str, dict[str, float]]], backend: str, trace: str,
           args: argparse.Namespace) -> str:
    start, wire = summary["start"], summary["wire"]
    lines = [f"# Bridge networking ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
             f"{args.runs} start runs, {args.setup_runs} in-process runs, "
             f"podman network backend: {backend})"]
    lines += table("`run --rm busybox true`", start, 1)
    if "podman bridge" in start:
        lines += ["", "- launcher bridge / podman bridge: "
                  + ratio(start["launcher bridge"], start["podman bridge"], START_GOAL),
                  "- launcher none / podman none: "
                  + ratio(start["launcher none"], start["podman none"], None)]
    med = {name: s["median_ms"] for name, s in start.items()}
    cost = [f"{tool} {med[tool + ' bridge'] - med[tool + ' none']:.1f}"
            for tool in ("launcher", "podman") if tool + " bridge" in med]
    lines += [f"- the bridge's own cost (bridge minus none, medians, ms): {', '.join(cost)}"]
    lines += table("wiring one endpoint (fresh netlink socket; ip: two processes)",
                   {k: wire[k] for k in (WIRE_MINE, WIRE_IP)}, 2)
    lines += ["", "- launcher / two `ip -batch`: "
              + ratio(wire[WIRE_MINE], wire[WIRE_IP], SETUP_GOAL)]
    lines += table("one container's whole network, in-process",
                   {k: wire[k] for k in (SETUP, TEARDOWN)}, 2)
    lines += ["", "launcher per-phase (one `launcher --debug run --rm busybox true`):", "",
              "```", trace, "```"]
    return "\n".join(lines) + "\n"


def write_results(args: argparse.Namespace, start: Times, wire: Times, backend: str,
                  trace: str) -> None:
    summary = {"start": {n: stats(xs) for n, xs in start.items()},
               "wire": {n: stats(xs) for n, xs in wire.items()}}
    vers = versions(args.launcher)
    text = report(summary, backend, trace, args) + "\n" + json.dumps(vers) + "\n"
    print()
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, time.strftime("network-%Y%m%d-%H%M%S.md")), "w") as f:
        f.write(text)
    if args.json:
        doc = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(),
               "kernel": os.uname().release, "runs": args.runs, "setup_runs": args.setup_runs,
               "versions": vers, "podman_network_backend": backend,
               "goal_ratio": {"start": START_GOAL, "wire": SETUP_GOAL}, "summary": summary,
               "ms": {part: {n: [x * 1e3 for x in xs] for n, xs in times.items()}
                      for part, times in (("start", start), ("wire", wire))}}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")


# -- main -----------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    default = os.path.join(os.path.dirname(sys.executable), "launcher")
    if not os.path.exists(default):
        default = os.path.join(REPO, ".venv", "bin", "launcher")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=20,
                    help="timed `run` rounds per command (default 20)")
    ap.add_argument("--setup-runs", type=int, default=200,
                    help="timed in-process wiring and setup/teardown rounds (default 200)")
    ap.add_argument("--timeout", type=float, default=60, help="seconds before a command "
                    "counts as hung (default 60)")
    ap.add_argument("--launcher", default=default, help="the launcher executable")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--out", default=os.path.join(HERE, "results"),
                    help="directory for the Markdown report")
    ap.add_argument("--wire-child", nargs=2, metavar=("CTR_NS", "ROOT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.runs < 1 or args.setup_runs < 1:
        ap.error("--runs and --setup-runs must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    if args.wire_child:
        ctr_ns, root = args.wire_child
        print(json.dumps(wire_child(ctr_ns, root, args.setup_runs)))
        return
    if os.geteuid() != 0:
        raise SystemExit("run as root (network namespaces, bridges, containers)")
    # Bytecode, as an installed package has (this environment sets PYTHONDONTWRITEBYTECODE).
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(REPO, "launcher")],
                   check=True)
    os.environ.pop("LAUNCHER_DEFAULT_NETWORK", None)  # launcher's own default: bridge
    catch_signals(raising=True)
    # podman refuses a runroot path over 50 characters: keep it short, under /run.
    b = Bench(args.launcher, tempfile.mkdtemp(prefix="launcher-netbench-", dir="/var/tmp"),
              tempfile.mkdtemp(prefix="lbnet-", dir="/run"))
    try:
        b.make_netns()
        prepare_images(b, args.timeout)
        backend = podman_backend(b)
        start = start_rounds(start_commands(b), args.runs, args.timeout)
        trace = debug_trace(b)
        print(f"  in-process wiring and setup/teardown, {args.setup_runs} runs each", flush=True)
        wire = wire_bench(b, args.setup_runs)
    except Failed as exc:
        raise SystemExit(f"failed: {exc}") from None
    except KeyboardInterrupt:
        raise SystemExit("interrupted") from None
    finally:
        catch_signals(raising=False)
        b.cleanup()
    write_results(args, start, wire, backend, trace)


if __name__ == "__main__":
    main()
