#!/usr/bin/env python3
"""Container start-to-exit latency, side by side, in one run.

    sudo .venv/bin/python bench/startup.py [--runs 40] [--podman-runs 10]

Measures ``/bin/true`` from start to exit for:

* ``launcher run --rm --network none busybox /bin/true`` (the user CLI), and the
  same with ``--security-opt seccomp=unconfined`` (what the default filter costs;
  the two take turns at going first in a round, as the first one pays for the
  kernel's cleanup after the round before),
* ``launcher-runtime run`` on an OCI bundle,
* ``runc run`` and ``crun run`` on the *same* bundle,
* ``podman run --rm --network none`` (fewer runs; it is ~10x slower),

interleaved round-robin so machine noise hits every tool alike, and reports
medians, p90 and the ratio to runc.  crun 1.8 refuses this host's hybrid
cgroup layout, so it runs from a helper process in a private mount namespace
with ``/sys/fs/cgroup/unified`` unmounted (the helper times each run itself,
so crun pays no extra process start).  launcher's per-phase times come from
``launcher --debug``.  ``--launcher-only`` times just the two ``launcher run``
columns (what the seccomp filter costs, quickly).  Nothing here asserts: numbers
are for reading.
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
BIN = os.path.dirname(sys.executable)
LAUNCHER = os.path.join(BIN, "launcher")
RUNTIME = os.path.join(BIN, "launcher-runtime")

CRUN_HELPER = r"""
import os, subprocess, sys, time
subprocess.run(["umount", "/sys/fs/cgroup/unified"], check=False, capture_output=True)
for line in sys.stdin:
    cmd = line.split()
    t = time.perf_counter()
    pid = os.posix_spawn(cmd[0], cmd, os.environ)
    _, st = os.waitpid(pid, 0)
    print(f"{time.perf_counter() - t:.6f} {os.waitstatus_to_exitcode(st)}", flush=True)
"""


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    pid = os.posix_spawn(cmd[0], cmd, os.environ)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - t
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {code}")
    return elapsed


def make_bundle(base: str) -> str:
    bundle = os.path.join(base, "bundle")
    rootfs = os.path.join(bundle, "rootfs")
    for d in ("bin", "proc", "sys", "dev", "etc", "tmp"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    shutil.copy2("/bin/busybox", os.path.join(rootfs, "bin", "busybox"))
    for applet in ("sh", "true"):
        os.symlink("busybox", os.path.join(rootfs, "bin", applet))
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    with open(os.path.join(bundle, "config.json")) as f:
        cfg = json.load(f)
    cfg["process"]["args"] = ["/bin/true"]
    cfg["process"]["terminal"] = False
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    return bundle


def summary(name: str, xs: list[float], base: float | None) -> str:
    xs = sorted(xs)
    med = statistics.median(xs)
    p90 = xs[int(len(xs) * 0.9) - 1] if len(xs) >= 10 else xs[-1]
    ratio = f"{med / base:.2f}x" if base else "—"
    return f"| {name} | {len(xs)} | {med * 1e3:.1f} | {p90 * 1e3:.1f} | {ratio} |"


def filter_size() -> str:
    """The default seccomp filter as loaded, against libseccomp's own program."""
    try:
        from launcher.seccomp import bpf
        from launcher.seccomp.libseccomp import compile_config
        from launcher.spec import security
        from launcher.spec.defaults import default_process

        proc = default_process(["/bin/true"])
        caps = list(proc.capabilities.bounding or []) if proc.capabilities else []
        sec = security.default_for(caps)
        ours = len(bpf.program(sec, security.cache_dir())) // 8
        raw = len(compile_config(sec)) // 8
    except Exception as exc:  # a report line, not a measurement: never fail the run
        return f"(filter size unknown: {exc})"
    return f"The default filter is {ours} BPF instructions (libseccomp's program: {raw})."


def phases(launcher_root: str) -> str:
    """One ``launcher --debug run``: its per-phase timings (stderr)."""
    res = subprocess.run([LAUNCHER, "--debug", "--root", launcher_root, "run", "--rm",
                          "--network", "none", "busybox", "/bin/true"],
                         capture_output=True, text=True, check=False)
    return res.stderr.strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--podman-runs", type=int, default=10)
    ap.add_argument("--launcher-only", action="store_true",
                    help="time only `launcher run` with and without seccomp (the filter's cost)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(REPO, "launcher")],
                   check=True)
    base = tempfile.mkdtemp(prefix="launcher-bench-")
    try:
        run(args, base)
    finally:
        subprocess.run(["umount", "-R", base], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


def run(args: argparse.Namespace, base: str) -> None:
    bundle = make_bundle(base)
    lroot = os.path.join(base, "lroot")
    tar = os.path.join(base, "rootfs.tar")
    subprocess.run(["tar", "-C", os.path.join(bundle, "rootfs"), "-cf", tar, "."], check=True)
    subprocess.run([LAUNCHER, "--root", lroot, "import", tar, "busybox:latest"], check=True,
                   capture_output=True)
    have = {t: None if args.launcher_only else shutil.which(t)
            for t in ("runc", "crun", "podman", "unshare")}
    crun = None
    if have["crun"] and have["unshare"]:
        crun = subprocess.Popen(["unshare", "-m", sys.executable, "-c", CRUN_HELPER],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    results: dict[str, list[float]] = {k: [] for k in
                                       ("launcher run", "launcher run, seccomp=unconfined",
                                        "launcher-runtime run", "runc run", "crun run",
                                        "podman run")}
    for i in range(args.runs):
        n = i + 1
        pair = [("launcher run", []),
                ("launcher run, seccomp=unconfined", ["--security-opt", "seccomp=unconfined"])]
        # Whichever runs first in a round pays for the teardown the previous round's
        # containers left to the kernel (netns, cgroups: ~1-3 ms here): take turns.
        for column, opts in pair if i % 2 == 0 else reversed(pair):
            results[column].append(timed(
                [LAUNCHER, "--root", lroot, "run", "--rm", "--network", "none", *opts,
                 "busybox", "/bin/true"]))
        if not args.launcher_only:
            results["launcher-runtime run"].append(timed(
                [RUNTIME, "--root", os.path.join(base, "rt"), "run", "-b", bundle, f"l{n}"]))
        if have["runc"]:
            results["runc run"].append(timed(
                [have["runc"], "--root", os.path.join(base, "runc"), "run", "-b", bundle, f"r{n}"]))
        if crun is not None:
            assert crun.stdin and crun.stdout
            crun.stdin.write(f"/usr/bin/crun --root {base}/crun run -b {bundle} c{n}\n")
            crun.stdin.flush()
            secs, code = crun.stdout.readline().split()
            if code != "0":
                raise SystemExit(f"crun exited {code}")
            results["crun run"].append(float(secs))
        if have["podman"] and i < args.podman_runs:
            results["podman run"].append(timed(
                # podman's default OCI runtime here is crun, which refuses the
                # hybrid cgroup layout: podman drives runc instead.
                [have["podman"], "--runtime", have["runc"] or "runc", "run", "--rm",
                 "--network", "none", "--ulimit",
                 "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "localhost/launcher-bench",
                 "/bin/true"]) if _podman_image(tar) else 0.0)
    if crun is not None:
        crun.stdin.close()  # type: ignore[union-attr]
        crun.wait()
    report(args, results, phases(lroot))


_PODMAN_READY: list[bool] = []


def _podman_image(tar: str) -> bool:
    if not _PODMAN_READY:
        res = subprocess.run(["podman", "import", tar, "localhost/launcher-bench"],
                             capture_output=True, check=False)
        _PODMAN_READY.append(res.returncode == 0)
    return _PODMAN_READY[0]


def report(args: argparse.Namespace, results: dict[str, list[float]], trace: str) -> None:
    runc = results["runc run"]
    base = statistics.median(runc) if runc else None
    lines = [
        f"# Container start-to-exit, /bin/true ({time.strftime('%Y-%m-%d %H:%M')}, "
        f"{os.cpu_count()} CPUs)",
        "",
        "| command | runs | median ms | p90 ms | vs runc |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [summary(k, v, base) for k, v in results.items() if v and all(v)]
    confined, unconfined = results["launcher run"], results["launcher run, seccomp=unconfined"]
    if confined and unconfined:
        with_, without = statistics.median(confined) * 1e3, statistics.median(unconfined) * 1e3
        # each round runs both back to back: the median of the rounds' differences
        # shrugs off a noisy stretch that hits a few rounds
        paired = statistics.median(a - b for a, b in zip(confined, unconfined, strict=True)) * 1e3
        lines += ["", f"The default seccomp filter costs {with_ - without:.2f} ms per "
                      f"`launcher run` (median with it, {with_:.2f} ms, minus median without, "
                      f"{without:.2f} ms; goal ≤ 1 ms); median of the per-round differences: "
                      f"{paired:.2f} ms. {filter_size()}"]
    lines += ["", "launcher per-phase (one `launcher --debug run`):", "", "```", trace, "```"]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, time.strftime("startup-%Y%m%d-%H%M%S.md")), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
