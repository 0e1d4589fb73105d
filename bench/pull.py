#!/usr/bin/env python3
"""Image pull throughput, side by side, in one run.

    sudo .venv/bin/python bench/pull.py [--runs 5] [--json FILE] [--launcher PATH]

Builds (once, cached under ``--workdir``) a multi-layer gzip image of real
host files, serves it from a local ``docker-registry`` on 127.0.0.1, and pulls
it with:

* ``launcher --root FRESH pull``,
* ``podman --root FRESH --runroot FRESH2 --storage-driver overlay pull``,
* ``skopeo copy docker://… containers-storage:[overlay@FRESH+FRESH2]…``,
* and, as the floor, ``tar -xzf`` of each layer blob in order into a fresh
  directory (local files: no registry, no digests, no storage bookkeeping),
  plus ``tar -xzf`` of all blobs at once, each into its own directory: the
  layout overlay storage has, unpacked as concurrently as podman and launcher do.

Every run goes into fresh, empty storage; only the command is timed, not the
setup or the cleanup (unmounting, removal, ``sync``).  Contenders run
interleaved round-robin, rotating who goes first, so machine noise and cache
state hit them alike; caches cannot be dropped, so min and max are reported
next to the median.  A contender that fails or hangs (``--timeout``) is
reported unavailable, with the reason, and the others still run.
Nothing here asserts: numbers are for reading.
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
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import pullimage  # noqa: E402  (a sibling module, found through HERE)
from pullimage import MB, Image, Registry  # noqa: E402

REPO_NAME = "bench/big"
PODMAN, SKOPEO, LAUNCHER = "podman pull", "skopeo copy", "launcher pull"
TAR, TAR_PARALLEL = "tar -xzf", "tar -xzf ∥ (a dir per layer)"
# A run's commands, given its fresh storage directory and its fresh runroot.
Commands = Callable[[str, str], list[list[str]]]


class Contender:
    """One tool: the commands of one run (given its fresh directory) and its results."""

    __slots__ = ("commands", "name", "parallel", "reason", "times")

    def __init__(self, name: str, commands: Commands, reason: str | None = None,
                 parallel: bool = False) -> None:
        self.name = name
        self.commands = commands
        self.parallel = parallel  # start all commands at once instead of in turn
        self.reason = reason  # why it is unavailable; None while it works
        self.times: list[float] = []


class Failed(Exception):
    """A contender's command exited non-zero or ran past the time limit."""


def default_launcher() -> str:
    here = os.path.join(os.path.dirname(sys.executable), "launcher")
    return here if os.path.exists(here) else os.path.join(REPO, ".venv", "bin", "launcher")


def contenders(args: argparse.Namespace, image: Image, ref: str) -> list[Contender]:
    def launcher(d: str, _run: str) -> list[list[str]]:
        return [[args.launcher, "--root", d, "pull", *args.launcher_arg, ref]]

    def podman(d: str, run: str) -> list[list[str]]:
        return [["podman", "--root", d, "--runroot", run, "--storage-driver", "overlay",
                 "pull", "--tls-verify=false", ref]]

    def skopeo(d: str, run: str) -> list[list[str]]:
        return [["skopeo", "copy", "--src-tls-verify=false", f"docker://{ref}",
                 f"containers-storage:[overlay@{d}+{run}]{ref}"]]

    def tar(d: str, _run: str) -> list[list[str]]:
        return [["tar", "-xzf", image.blob(x.digest), "-C", d] for x in image.layers]

    def tar_each(d: str, _run: str) -> list[list[str]]:
        # The shape overlay storage has: one directory per layer, all at once.
        dirs = [os.path.join(d, str(i)) for i in range(len(image.layers))]
        for x in dirs:
            os.mkdir(x)
        return [["tar", "-xzf", image.blob(x.digest), "-C", dirs[i]]
                for i, x in enumerate(image.layers)]

    def missing(tool: str) -> str | None:
        return None if shutil.which(tool) else f"{tool} not found"

    have_launcher = os.access(args.launcher, os.X_OK)
    return [
        Contender(LAUNCHER, launcher, None if have_launcher else f"{args.launcher} not found"),
        Contender(PODMAN, podman, missing("podman")),
        Contender(SKOPEO, skopeo, missing("skopeo")),
        Contender(TAR, tar, missing("tar")),
        Contender(TAR_PARALLEL, tar_each, missing("tar"), parallel=True),
    ]


def timed(commands: list[list[str]], parallel: bool, limit: float, log: str) -> float:
    """Seconds to run ``commands`` in turn (or all at once); Failed on a non-zero exit
    or when they take longer than ``limit`` seconds (a hung tool is killed)."""
    with open(log, "w") as err:
        t = time.perf_counter()
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for cmd in commands:
                procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                              stdout=subprocess.DEVNULL, stderr=err))
                if not parallel and procs[-1].wait(t + limit - time.perf_counter()) != 0:
                    break
            codes = [p.wait(max(0.0, t + limit - time.perf_counter())) for p in procs]
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
                p.wait()
            name = os.path.basename(commands[0][0])
            raise Failed(f"{name} timed out after {limit:.0f} s") from None
        elapsed = time.perf_counter() - t
    for code, cmd in zip(codes, commands, strict=False):  # fewer after a failure in turn
        if code != 0:
            with open(log, errors="replace") as f:
                tail = [x.strip() for x in f.read().strip().splitlines()[-2:]]
            raise Failed(f"{os.path.basename(cmd[0])} exited {code}: {' / '.join(tail)}")
    return elapsed


def _unescape(field: str) -> str:
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def remove_tree(path: str) -> None:
    """Unmount whatever a tool left mounted under ``path`` (podman's overlay
    storage bind-mounts its home), deepest first, then remove the tree."""
    with open("/proc/self/mountinfo") as f:
        points = [_unescape(line.split()[4]) for line in f]
    for point in sorted((p for p in points if p == path or p.startswith(path + "/")),
                        key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    shutil.rmtree(path, ignore_errors=True)
    if os.path.exists(path):
        print(f"warning: could not remove {path}", file=sys.stderr)


def run_rounds(tools: list[Contender], runs: int, limit: float, base: str,
               short: str) -> None:
    """``runs`` rounds of every working tool; storage under ``base``, runroots under
    ``short`` (podman refuses a runroot path over 50 characters)."""
    for i in range(runs):
        order = tools[i % len(tools):] + tools[:i % len(tools)]
        for tool in order:
            if tool.reason is not None:
                continue
            fresh = tempfile.mkdtemp(prefix="run-", dir=base)
            fresh_run = tempfile.mkdtemp(dir=short)
            try:
                tool.times.append(timed(tool.commands(fresh, fresh_run), tool.parallel,
                                        limit, os.path.join(base, "last.log")))
                print(f"  run {i + 1}/{runs} {tool.name}: {tool.times[-1]:.2f} s", flush=True)
            except Failed as exc:
                tool.reason = str(exc)
                print(f"  run {i + 1}/{runs} {tool.name}: unavailable: {exc}", flush=True)
            finally:
                remove_tree(fresh)
                remove_tree(fresh_run)
                # Flush this run's dirty pages now, untimed, rather than during the next run.
                os.sync()


def _median(tool: Contender | None) -> float | None:
    return statistics.median(tool.times) if tool and tool.times else None


def summarize(tools: list[Contender], image: Image) -> dict[str, dict[str, object]]:
    by_name = {t.name: t for t in tools}
    podman, tar = _median(by_name.get(PODMAN)), _median(by_name.get(TAR))
    out: dict[str, dict[str, object]] = {}
    for tool in tools:
        med = _median(tool)
        if med is None:
            out[tool.name] = {"available": False, "reason": tool.reason, "seconds": []}
            continue
        out[tool.name] = {
            "available": tool.reason is None, "reason": tool.reason, "seconds": tool.times,
            "median_s": med, "min_s": min(tool.times), "max_s": max(tool.times),
            "compressed_MBps": image.size / MB / med,
            "uncompressed_MBps": image.tar_size / MB / med,
            # Same bytes for all, so the throughput ratio is the inverse time ratio.
            "vs_podman": podman / med if podman else None,
            "vs_tar": tar / med if tar else None,
        }
    return out


def _ratio(x: object) -> str:
    return f"{x:.2f}x" if isinstance(x, float) else "—"


def report(summary: dict[str, dict[str, object]], image: Image, runs: int) -> str:
    lines = [
        f"# Image pull, {image.tar_size / MB:.0f} MB over {len(image.layers)} gzip layers "
        f"({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, {runs} runs each)",
        "",
        f"Image: {image.describe()}.",
        "",
        "| contender | runs | median s | min s | max s | gzip MB/s | tar MB/s "
        "| vs podman | vs tar -xzf |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in summary.items():
        if "median_s" not in s:
            lines.append(f"| {name} | 0 | unavailable: {s['reason']} | | | | | | |")
            continue
        times = s["seconds"]
        assert isinstance(times, list)
        lines.append(f"| {name} | {len(times)} | {s['median_s']:.2f} | {s['min_s']:.2f} | "
                     f"{s['max_s']:.2f} | {s['compressed_MBps']:.1f} | "
                     f"{s['uncompressed_MBps']:.1f} | {_ratio(s['vs_podman'])} | "
                     f"{_ratio(s['vs_tar'])} |")
    mine = summary.get(LAUNCHER, {})
    if "median_s" in mine:
        lines += ["", f"launcher/podman throughput {_ratio(mine['vs_podman'])} (goal ≥ 1.0x); "
                      f"launcher/tar -xzf {_ratio(mine['vs_tar'])} (goal ≥ 0.7x)."]
    return "\n".join(lines) + "\n"


def versions(launcher: str) -> dict[str, str]:
    out = {}
    for name, cmd in (("launcher", [launcher, "--version"]), ("podman", ["podman", "--version"]),
                      ("skopeo", ["skopeo", "--version"]), ("tar", ["tar", "--version"])):
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)
            out[name] = (res.stdout.strip().splitlines() or ["?"])[0]
        except OSError:
            out[name] = "not found"
    return out


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=5, help="runs per contender (default 5)")
    ap.add_argument("--timeout", type=float, default=300,
                    help="seconds before a run counts as hung and its tool is dropped")
    ap.add_argument("--launcher", default=default_launcher(), help="the launcher executable")
    ap.add_argument("--launcher-arg", action="append", default=[], metavar="ARG",
                    help="extra argument for `launcher pull` (repeatable)")
    ap.add_argument("--workdir", default="/var/tmp/launcher-bench",
                    help="image cache and scratch space (default /var/tmp/launcher-bench)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--out", default=os.path.join(HERE, "results"),
                    help="directory for the Markdown report")
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (podman's overlay storage and tar's owners need it)")
    for tool in ("docker-registry", "skopeo"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed to serve the image")
    os.makedirs(args.workdir, mode=0o700, exist_ok=True)
    os.chmod(args.workdir, 0o700)  # the image holds host files; keep it private
    print(f"image (cached under {args.workdir}):", flush=True)
    image = pullimage.build(args.workdir, sys.stdout)
    print(f"  {image.describe()}", flush=True)
    base = tempfile.mkdtemp(prefix="pull-", dir=args.workdir)
    short = tempfile.mkdtemp(prefix="lbench-", dir="/run")
    registry = None
    try:
        registry = Registry(base)
        ref = registry.push(image, REPO_NAME)
        print(f"registry: {ref}", flush=True)
        tools = contenders(args, image, ref)
        run_rounds(tools, args.runs, args.timeout, base, short)
    finally:
        if registry is not None:
            registry.stop()
        remove_tree(short)
        remove_tree(base)
    write_results(args, tools, image)


def write_results(args: argparse.Namespace, tools: list[Contender], image: Image) -> None:
    summary = summarize(tools, image)
    text = report(summary, image, args.runs)
    print()
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, time.strftime("pull-%Y%m%d-%H%M%S.md")), "w") as f:
        f.write(text)
    if args.json:
        doc = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(),
            "kernel": os.uname().release, "runs": args.runs, "versions": versions(args.launcher),
            "image": {"manifest": image.manifest_digest, "compressed_bytes": image.size,
                      "uncompressed_bytes": image.tar_size, "files": image.files,
                      "entries": image.entries,
                      "layers": [x.to_json() for x in image.layers]},
            "contenders": summary,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
