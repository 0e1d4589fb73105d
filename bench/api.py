#!/usr/bin/env python3
"""The Python API's container cycle, against the same steps by command line, in one run.

    sudo .venv/bin/python bench/api.py [--runs 15] [--json FILE]

One cycle is what a test fixture does: start a detached busybox (``sleep 60``,
no network), ``exec true`` in it, stop it (``-t 0``), remove it. Contenders:

* ``api``: ``launcher.Client`` in this process (run and exec go through a
  child interpreter, the rest is launcher's core called in process);
* ``launcher cli``: ``launcher run -d`` / ``exec`` / ``stop`` / ``rm`` as
  subprocesses, what a script without the API would do;
* ``podman cli``: the same four commands with podman 4.3 (runc, cgroupfs,
  private root; launcher's busybox loaded into it), what testcontainers-style
  code without Docker would run.

Rounds are interleaved, rotating who goes first; each contender does one
untimed cycle first. Median and p90 per step, and ratios to podman. Nothing
here asserts: numbers are for reading.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from lifecycle import p90, timed  # noqa: E402  (sibling module)
from pull import remove_tree  # noqa: E402

STEPS = ("run -d", "exec true", "stop -t 0", "rm", "cycle total")
Cycle = Callable[[str], dict[str, float]]


def _clock(act: Callable[[], object]) -> float:
    t = time.perf_counter()
    act()
    return time.perf_counter() - t


def api_cycle(root: str) -> Cycle:
    from launcher import Client

    client = Client(root=root, backend="native")

    def one(name: str) -> dict[str, float]:
        box: list[object] = []
        out = {"run -d": _clock(lambda: box.append(client.containers.run(
            "busybox", ["sleep", "60"], detach=True, name=name, network="none")))}
        c = box[0]
        out["exec true"] = _clock(lambda: c.exec(["true"]))  # type: ignore[attr-defined]
        out["stop -t 0"] = _clock(lambda: c.stop(timeout=0))  # type: ignore[attr-defined]
        out["rm"] = _clock(lambda: c.remove())  # type: ignore[attr-defined]
        return out
    return one


def cli_cycle(argv: list[str], image: str, run_opts: list[str]) -> Cycle:
    def one(name: str) -> dict[str, float]:
        out = {"run -d": timed([*argv, "run", "-d", "--network", "none", *run_opts, "--name",
                                name, image, "sleep", "60"], 60)}
        out["exec true"] = timed([*argv, "exec", name, "true"], 60)
        out["stop -t 0"] = timed([*argv, "stop", "-t", "0", name], 60)
        out["rm"] = timed([*argv, "rm", name], 60)
        return out
    return one


def contenders(base: str, short: str) -> dict[str, Cycle]:
    launcher = os.path.join(os.path.dirname(sys.executable), "launcher")
    lroot = os.path.join(base, "launcher")
    found = {"api": api_cycle(lroot),
             "launcher cli": cli_cycle([launcher, "--root", lroot], "busybox", [])}
    if shutil.which("podman"):
        tar = os.path.join(base, "busybox.tar")
        timed([launcher, "--root", lroot, "run", "--rm", "--network", "none", "busybox",
               "true"], 120)
        timed([launcher, "--root", lroot, "save", "-o", tar, "busybox"], 120)
        pod = ["podman", "--root", os.path.join(base, "podman"), "--runroot", short,
               "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "none"]
        timed([*pod, "load", "-i", tar], 120)
        found["podman cli"] = cli_cycle(pod, "localhost/busybox:latest",
                                        ["--ulimit", "nofile=1024:1024",
                                         "--ulimit", "nproc=4096:4096"])
    return found


def report(times: dict[str, dict[str, list[float]]], runs: int) -> str:
    names = list(times)
    head = " | ".join(f"{n} median ms | {n} p90 ms" for n in names)
    lines = [f"# Python API container cycle ({time.strftime('%Y-%m-%d %H:%M')}, "
             f"{os.cpu_count()} CPUs, {runs} runs each)", "",
             f"| step | {head} | api/launcher cli | api/podman cli |",
             "| --- |" + " --- |" * (2 * len(names) + 2)]
    for step in STEPS:
        med = {n: statistics.median(times[n][step]) * 1e3 for n in names}
        cells = " | ".join(f"{med[n]:.1f} | {p90(times[n][step]) * 1e3:.1f}" for n in names)
        ratios = [f"{med['api'] / med[o]:.2f}x" if o in med else "—"
                  for o in ("launcher cli", "podman cli")]
        lines.append(f"| {step} | {cells} | {' | '.join(ratios)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (containers need it)")
    base = tempfile.mkdtemp(prefix="launcher-api-", dir="/var/tmp")
    short = tempfile.mkdtemp(prefix="lbapi-", dir="/run")
    times: dict[str, dict[str, list[float]]] = {}
    try:
        cycles = contenders(base, short)
        times = {name: {s: [] for s in STEPS} for name in cycles}
        for name, one in cycles.items():
            one(f"warm-{name.replace(' ', '-')}")
        order = list(cycles)
        for i in range(args.runs):
            for name in order[i % len(order):] + order[:i % len(order)]:
                got = cycles[name](f"b{i}-{name.replace(' ', '-')}")
                got["cycle total"] = sum(got.values())
                for step, secs in got.items():
                    times[name][step].append(secs)
            print(f"  round {i + 1}/{args.runs}: " + "  ".join(
                f"{n} {times[n]['cycle total'][-1] * 1e3:.0f} ms" for n in order), flush=True)
    finally:
        if os.path.exists(os.path.join(base, "podman")):
            subprocess.run(["podman", "--root", os.path.join(base, "podman"), "--runroot", short,
                            "system", "reset", "-f"], capture_output=True, check=False)
        remove_tree(short)
        remove_tree(base)
    text = report(times, args.runs)
    print(text)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results", f"api-{time.strftime('%Y%m%d-%H%M%S')}.md")
    with open(out, "w") as f:
        f.write(text)
    print(f"written to {out}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(times, f, indent=1)


if __name__ == "__main__":
    main()
