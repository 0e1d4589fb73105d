#!/usr/bin/env python3
"""Detached-container lifecycle and exec latency, launcher against podman, in one run.

    sudo .venv/bin/python bench/lifecycle.py [--runs 15] [--json FILE] [--launcher PATH]

Times, for each tool, every step of one cycle

* ``run -d --network none --name bench-N busybox sleep 60``,
* ``stop -t 0 bench-N`` (``sleep`` as PID 1 ignores SIGTERM, so both tools send
  the stop signal and then SIGKILL at once: the same work for each),
* ``rm bench-N``,

and ``exec C true`` against one long-running detached container per tool.
launcher uses a private ``--root``; podman 4.3 a private ``--root``/``--runroot``
with runc, cgroupfs and no events log (crun refuses this host's hybrid cgroup
layout; the ulimits stand in for the missing CAP_SYS_RESOURCE).  podman gets
launcher's busybox image through ``launcher save`` + ``podman load``, so both
run the same bytes.  Each tool does one untimed cycle and exec first (image
build, bytecode, caches).  Rounds are interleaved, rotating which tool goes
first, so machine noise hits both alike.  Reports median and p90 (nearest rank)
per step and launcher/podman ratios (the issue's goal: ≤ 0.2x).
Nothing here asserts: numbers are for reading.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from pull import remove_tree  # noqa: E402  (a sibling module, found through HERE)

STEPS = ("run -d", "stop -t 0", "rm", "cycle total", "exec true")
GOAL = 0.2
# Arguments of a tool's command line after its own global options.
Argv = Callable[[list[str]], list[str]]


class Failed(Exception):
    """A command exited non-zero or ran past the time limit."""


class Tool:
    """One contender: how to build its command lines, and its timings per step."""

    __slots__ = ("argv", "image", "name", "run_opts", "times")

    def __init__(self, name: str, argv: Argv, image: str, run_opts: list[str]) -> None:
        self.name = name
        self.argv = argv  # the tool's executable and global options, prepended
        self.image = image
        self.run_opts = run_opts  # extra `run` options this tool needs on this host
        self.times: dict[str, list[float]] = {s: [] for s in STEPS}

    def run_cmd(self, name: str, seconds: int) -> list[str]:
        return self.argv(["run", "-d", "--network", "none", *self.run_opts, "--name", name,
                          self.image, "sleep", str(seconds)])


def timed(cmd: list[str], limit: float) -> float:
    """Seconds ``cmd`` takes (its output discarded); Failed on a non-zero exit or
    when it runs past ``limit`` seconds."""
    t = time.perf_counter()
    try:
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        raise Failed(f"{' '.join(cmd)}: timed out after {limit:.0f} s") from None
    elapsed = time.perf_counter() - t
    if res.returncode != 0:
        tail = res.stderr.decode(errors="replace").strip().splitlines()[-1:]
        raise Failed(f"{' '.join(cmd)} exited {res.returncode}: {' '.join(tail)}")
    return elapsed


def cycle(tool: Tool, name: str, limit: float, record: bool) -> None:
    """One run -d / stop / rm of container ``name`` and one exec in ``exec-target``."""
    steps = [("run -d", tool.run_cmd(name, 60)),
             ("stop -t 0", tool.argv(["stop", "-t", "0", name])),
             ("rm", tool.argv(["rm", name]))]
    total = 0.0
    for step, cmd in steps:
        secs = timed(cmd, limit)
        total += secs
        if record:
            tool.times[step].append(secs)
    exec_secs = timed(tool.argv(["exec", "exec-target", "true"]), limit)
    if record:
        tool.times["cycle total"].append(total)
        tool.times["exec true"].append(exec_secs)


def prepare(args: argparse.Namespace, base: str, short: str, tools: list[Tool]) -> None:
    """Append both tools to ``tools`` (as soon as each has storage, so cleanup finds
    it), each with busybox stored, a running ``exec-target`` and one untimed cycle done."""
    lroot = os.path.join(base, "launcher")
    launcher = Tool("launcher", lambda a: [args.launcher, "--root", lroot, *a], "busybox", [])
    tools.append(launcher)
    # busybox is built into launcher's store on first use.
    timed(launcher.run_cmd("exec-target", 3600), args.timeout)
    if shutil.which("podman"):
        tar = os.path.join(base, "busybox.tar")
        timed([args.launcher, "--root", lroot, "save", "-o", tar, "busybox"], args.timeout)
        pglobal = ["podman", "--root", os.path.join(base, "podman"), "--runroot", short,
                   "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend",
                   "none"]
        # podman names the archive's "busybox:latest" localhost/busybox:latest.
        podman = Tool("podman", lambda a: [*pglobal, *a], "localhost/busybox:latest",
                      ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"])
        tools.append(podman)
        timed(podman.argv(["load", "-i", tar]), args.timeout)
        timed(podman.run_cmd("exec-target", 3600), args.timeout)
    else:
        print("podman not found: launcher only", file=sys.stderr)
    for tool in tools:
        cycle(tool, "bench-warmup", args.timeout, record=False)


def run_rounds(tools: list[Tool], runs: int, limit: float) -> None:
    for i in range(runs):
        order = tools[i % len(tools):] + tools[:i % len(tools)]
        for tool in order:
            cycle(tool, f"bench-{i}", limit, record=True)
        line = "  ".join(f"{t.name} {t.times['cycle total'][-1] * 1e3:.0f}/"
                         f"{t.times['exec true'][-1] * 1e3:.0f} ms" for t in tools)
        print(f"  round {i + 1}/{runs} (cycle/exec): {line}", flush=True)


def cleanup(tools: list[Tool], base: str, short: str) -> None:
    """Remove every container, podman's storage, then both trees (unmounting leftovers)."""
    for tool in tools:
        cmd = tool.argv(["ps", "-a", "-q"])
        res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
        ids = res.stdout.split()
        if ids:
            subprocess.run(tool.argv(["rm", "-f", *ids]), capture_output=True, check=False,
                           timeout=120)
        if tool.name == "podman":
            subprocess.run(tool.argv(["system", "reset", "-f"]), capture_output=True,
                           check=False, timeout=120)
    remove_tree(short)
    remove_tree(base)


def p90(xs: list[float]) -> float:
    ordered = sorted(xs)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


# tool -> step -> {"median_ms": …, "p90_ms": …}
Summary = dict[str, dict[str, dict[str, float]]]


def summarize(tools: list[Tool]) -> Summary:
    return {tool.name: {step: {"median_ms": statistics.median(xs) * 1e3,
                               "p90_ms": p90(xs) * 1e3}
                        for step, xs in tool.times.items() if xs}
            for tool in tools}


def report(summary: Summary, runs: int) -> str:
    mine, theirs = summary.get("launcher", {}), summary.get("podman", {})
    lines = [
        f"# Detached lifecycle and exec, busybox ({time.strftime('%Y-%m-%d %H:%M')}, "
        f"{os.cpu_count()} CPUs, {runs} runs each)",
        "",
        "| step | launcher median ms | launcher p90 ms | podman median ms | podman p90 ms "
        f"| launcher/podman (goal ≤ {GOAL}x) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for step in STEPS:
        cells = []
        for s in (mine.get(step), theirs.get(step)):
            cells += [f"{s['median_ms']:.1f}", f"{s['p90_ms']:.1f}"] if s else ["—", "—"]
        ratio = "—"
        if step in mine and step in theirs:
            r = mine[step]["median_ms"] / theirs[step]["median_ms"]
            ratio = f"{r:.2f}x {'(met)' if r <= GOAL else '(not met)'}"
        lines.append(f"| {step} | {' | '.join(cells)} | {ratio} |")
    return "\n".join(lines) + "\n"


def versions(launcher: str) -> dict[str, str]:
    out = {}
    for name, cmd in (("launcher", [launcher, "--version"]), ("podman", ["podman", "--version"]),
                      ("runc", ["runc", "--version"])):
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)
            out[name] = (res.stdout.strip().splitlines() or ["?"])[0]
        except OSError:
            out[name] = "not found"
    return out


def parse_args() -> argparse.Namespace:
    default = os.path.join(os.path.dirname(sys.executable), "launcher")
    if not os.path.exists(default):
        default = os.path.join(REPO, ".venv", "bin", "launcher")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=15, help="timed cycles per tool (default 15)")
    ap.add_argument("--timeout", type=float, default=60, help="seconds before a command "
                    "counts as hung (default 60)")
    ap.add_argument("--launcher", default=default, help="the launcher executable")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--out", default=os.path.join(HERE, "results"),
                    help="directory for the Markdown report")
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (containers need it)")
    base = tempfile.mkdtemp(prefix="launcher-lifecycle-", dir="/var/tmp")
    # podman refuses a runroot path over 50 characters: keep it short, under /run.
    short = tempfile.mkdtemp(prefix="lbench-", dir="/run")
    tools: list[Tool] = []
    memory: dict[str, dict[str, float]] = {}
    try:
        prepare(args, base, short, tools)
        memory = supervisor_memory(base, short)
        run_rounds(tools, args.runs, args.timeout)
    except Failed as exc:
        raise SystemExit(f"failed: {exc}") from None
    finally:
        cleanup(tools, base, short)
    write_results(args, tools, memory)


def supervisor_memory(base: str, short: str) -> dict[str, dict[str, float]]:
    """RSS and PSS (MiB) of what keeps one detached container: launcher's monitor
    (a fork of its ``run -d``, its command line names launcher's root), podman's
    conmon (its command line names podman's runroot). From smaps_rollup."""
    found: dict[str, dict[str, float]] = {}
    lroot = os.path.join(base, "launcher").encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{entry}/smaps_rollup", encoding="ascii") as f:
                fields = {k: v.split()[0] for k, _, v in (ln.partition(":") for ln in f)
                          if v.strip().endswith("kB")}
        except OSError:
            continue
        if lroot in argv and b"run" in argv:
            tool = "launcher monitor"
        elif os.path.basename(argv[0]) == b"conmon" and short.encode() in b" ".join(argv):
            tool = "podman conmon"
        else:
            continue
        found[tool] = {"rss_mib": int(fields["Rss"]) / 1024, "pss_mib": int(fields["Pss"]) / 1024}
    return found


def memory_report(memory: dict[str, dict[str, float]]) -> str:
    lines = ["", "Memory of the process that keeps one detached container:", "",
             "| process | RSS MiB | PSS MiB |", "| --- | --- | --- |"]
    lines += [f"| {name} | {m['rss_mib']:.1f} | {m['pss_mib']:.1f} |"
              for name, m in sorted(memory.items())]
    return "\n".join(lines) + "\n"


def write_results(args: argparse.Namespace, tools: list[Tool],
                  memory: dict[str, dict[str, float]]) -> None:
    summary = summarize(tools)
    text = report(summary, args.runs) + memory_report(memory)
    print()
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, time.strftime("lifecycle-%Y%m%d-%H%M%S.md")), "w") as f:
        f.write(text)
    if args.json:
        doc = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(),
               "kernel": os.uname().release, "runs": args.runs,
               "versions": versions(args.launcher), "goal_ratio": GOAL, "summary": summary,
               "supervisor_memory": memory,
               "ms": {t.name: {step: [x * 1e3 for x in xs] for step, xs in t.times.items()}
                      for t in tools}}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
