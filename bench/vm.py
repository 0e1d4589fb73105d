#!/usr/bin/env python3
"""The VM backend: cold `machine start` against the boot floor, and the warm
per-command overhead, in one run.

    sudo .venv/bin/python bench/vm.py [--runs 3] [--warm-runs 10]

1. Floor: the guest's own kernel with the marker-only initramfs (``probe.img``),
   under the accelerator launcher chose, from spawning QEMU to the marker.
   Cold start: ``launcher machine start`` (QEMU, boot scripts, sshd, SSH login)
   to its return, then ``machine stop``. Interleaved. Goal: ≤ 1.5x the floor.
2. Warm: ``launcher --backend vm run --rm busybox true`` from the host against
   ``launcher run --rm busybox true`` run natively inside the same guest (timed
   in the guest). Goal: overhead ≤ 50 ms.

A private launcher root; the guest image comes from the shared test cache
(``LAUNCHER_VM_IMAGES``, built by provision/ on first use). Nothing asserts.
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

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
LAUNCHER = os.path.join(REPO, ".venv", "bin", "launcher")
IMAGES = os.environ.get("LAUNCHER_VM_IMAGES", "/var/tmp/launcher-test-vm-images")


def cli(root: str, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHER_")}
    env["LAUNCHER_VM_IMAGES"] = IMAGES
    res = subprocess.run([LAUNCHER, "--root", root, *argv], env=env, capture_output=True,
                         text=True, timeout=timeout, check=False)
    if res.returncode != 0:
        raise SystemExit(f"launcher {' '.join(argv)} failed: {res.stderr.strip()}")
    return res


def timed(root: str, *argv: str) -> float:
    t = time.perf_counter()
    cli(root, *argv)
    return time.perf_counter() - t


def cold(root: str, runs: int) -> tuple[list[float], list[float], str]:
    from launcher.paths import Paths
    from launcher.vm import ops, probe
    from launcher.vm.machine import Machine

    paths = Paths(os.path.join(root, "storage"), os.path.join(root, "state"))
    m = Machine.load(paths, "default")
    accel, _ = ops.choose_accel(paths, m)
    floor, start = [], []
    for i in range(runs):
        secs, why = probe.boot(m.arch, accel, m.kernel, os.path.join(m.image_dir, "probe.img"),
                               120)
        if secs is None:
            raise SystemExit(f"the floor boot failed: {why}")
        floor.append(secs)
        start.append(timed(root, "machine", "start"))
        if i < runs - 1:
            cli(root, "machine", "stop")
        print(f"  cold round {i + 1}/{runs}: floor {floor[-1]:.2f}s start {start[-1]:.2f}s",
              flush=True)
    return floor, start, accel


GUEST_LOOP = ("for i in $(seq {n}); do s=$(date +%s%N); launcher run --rm busybox true; "
              "e=$(date +%s%N); echo $(( (e - s) / 1000 )); done")


def warm(root: str, runs: int) -> tuple[list[float], list[float]]:
    timed(root, "--backend", "vm", "run", "--rm", "busybox", "true")  # agent, caches
    via, native = [], []
    for i in range(runs):
        via.append(timed(root, "--backend", "vm", "run", "--rm", "busybox", "true"))
        out = cli(root, "machine", "ssh", "default", GUEST_LOOP.format(n=1)).stdout
        native.append(int(out.split()[-1]) / 1e6)
        print(f"  warm round {i + 1}/{runs}: via vm {via[-1] * 1e3:.0f} ms, in the guest "
              f"{native[-1] * 1e3:.0f} ms", flush=True)
    return via, native


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warm-runs", type=int, default=10)
    args = ap.parse_args()
    os.makedirs(IMAGES, mode=0o700, exist_ok=True)
    base = tempfile.mkdtemp(prefix="launcher-vmbench-")
    root = os.path.join(base, "root")
    try:
        cli(root, "machine", "init", "--memory", "1g", "--cpus", "2", "-v", base)
        floor, start, accel = cold(root, args.runs)
        via, native = warm(root, args.warm_runs)
    finally:
        subprocess.run([LAUNCHER, "--root", root, "machine", "rm", "-f"], capture_output=True,
                       check=False, timeout=120)
        shutil.rmtree(base, ignore_errors=True)
    f, s = statistics.median(floor), statistics.median(start)
    v, n = statistics.median(via), statistics.median(native)
    text = "\n".join([
        f"# VM backend ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
        f"accelerator {accel})", "",
        "| measure | median |", "| --- | --- |",
        f"| boot floor (same kernel, marker-only initramfs) | {f:.2f} s |",
        f"| cold `machine start` to SSH login | {s:.2f} s |",
        f"| `--backend vm run --rm busybox true` from the host | {v * 1e3:.0f} ms |",
        f"| `run --rm busybox true` natively in the guest | {n * 1e3:.0f} ms |", "",
        f"- cold start / floor: {s / f:.2f}x (goal ≤ 1.5x: {'met' if s / f <= 1.5 else 'not met'})",
        f"- warm overhead: {(v - n) * 1e3:.0f} ms (goal ≤ 50 ms: "
        f"{'met' if v - n <= 0.05 else 'not met'})", ""])
    print(text)
    out = os.path.join(HERE, "results", f"vm-{time.strftime('%Y%m%d-%H%M%S')}.md")
    with open(out, "w") as fh:
        fh.write(text + json.dumps({"floor": floor, "start": start, "via": via,
                                    "native": native}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
