"""runc CVE-2024-21626 ("Leaky Vessels"): a working directory through a leaked fd.

runc leaked an fd of the host's /sys/fs/cgroup into the container's init and
``exec``; ``--workdir /proc/self/fd/N`` (or an image's WorkingDir) then put the
process's cwd on the host, outside pivot_root's reach. launcher resolves the
working directory inside the rootfs without magic links, closes every fd but
stdio before exec, and checks after chdir that the cwd is reachable from the
container's root.

For ``run`` and ``exec``, with N over every fd a runtime is likely to hold,
and for ``exec`` also through symlinks the container plants (to
/proc/self/fd/N, to ``/..``, to /proc/1/cwd and /proc/self/root): each is
refused with one line, or the process starts with a cwd inside the container
(its ``pwd -P`` is the same directory as ``.``) and sees the container's root.
tests/integration/runtime/test_runtime_process.py covers the runtime's
``process.cwd`` (the bundle interface); this is the user CLI.
"""

from __future__ import annotations

from tests.integration.attacks.kit import Detached, HostFiles, Sentinel
from tests.integration.cli.conftest import Cli

FDS = range(0, 10)  # runc leaked fd 7 or 8; a runtime holds few more
# Proves the cwd is inside: the path getcwd gives names the same inode as ".".
WHERE = ('p=$(pwd -P 2>/dev/null); if [ -n "$p" ] && [ "$(busybox stat -c %d:%i "$p")" = '
         '"$(busybox stat -c %d:%i .)" ]; then echo "inside $p"; else echo "OUTSIDE $p"; fi; '
         "ls -a / | busybox tr '\\n' ' '")


def _root_listing(cli: Cli) -> str:
    res = cli.run("run", "--rm", "busybox", "sh", "-c", "ls -a / | busybox tr '\\n' ' '")
    assert res.returncode == 0, res.stderr
    return res.stdout


def _refused_or_inside(res_code: int, out: str, err: str, prefix: str, reasons: set[str],
                       listing: str) -> str:
    """'refused' (exit 125, one line ``prefix: REASON``) or 'inside' (checked); else fail."""
    if res_code == 0:
        lines = out.splitlines()
        assert lines[0].startswith("inside /"), out
        assert lines[1] == listing.strip("\n"), (lines, listing)
        return "inside"
    lines = err.strip().splitlines()
    assert res_code == 125 and len(lines) == 1, (res_code, err)
    assert lines[0].startswith(prefix + ": ") and lines[0][len(prefix) + 2:] in reasons, lines
    return "refused"


def test_run_workdir_through_proc_self_fd(cli: Cli, sentinel: Sentinel,
                                          host_files: HostFiles) -> None:
    listing = _root_listing(cli)
    seen = {}
    for n in FDS:
        res = cli.run("run", "--rm", "-w", f"/proc/self/fd/{n}", "busybox", "sh", "-c", WHERE)
        seen[n] = _refused_or_inside(
            res.returncode, res.stdout, res.stderr,
            f"launcher: working directory /proc/self/fd/{n}",
            {"Too many levels of symbolic links", "No such file or directory"}, listing)
    # Magic links are never followed to make or enter a working directory.
    assert set(seen.values()) == {"refused"}, seen
    sentinel.check()
    host_files.check()


def test_exec_workdir_through_proc_self_fd(cli: Cli, sentinel: Sentinel,
                                           host_files: HostFiles) -> None:
    listing = _root_listing(cli)
    with Detached(cli, "atk-workdir", "busybox", "sleep", "60") as c:
        for n in FDS:
            res = c.exec("-w", f"/proc/self/fd/{n}", "--", "sh", "-c", WHERE)
            _refused_or_inside(res.returncode, res.stdout, res.stderr,
                               f"launcher: cannot chdir to /proc/self/fd/{n}",
                               {"No such file or directory", "Not a directory"}, listing)
    sentinel.check()
    host_files.check()


PLANTED = {  # symlinks the container makes before the exec: name -> target
    "/tmp/fd5": "/proc/self/fd/5",
    "/tmp/fd7": "/proc/self/fd/7",
    "/tmp/up": "/..",
    "/tmp/d/up": "../../../../../../..",
    "/tmp/init-cwd": "/proc/1/cwd",
    "/tmp/init-root": "/proc/1/root",
}


def test_exec_workdir_through_planted_links(cli: Cli, sentinel: Sentinel) -> None:
    workdirs = [*PLANTED, "/..", "/proc/1/cwd", "/proc/1/root", "/proc/self/root/..",
                "/proc/self/cwd/../.."]
    seen = {}
    with Detached(cli, "atk-workdir-links", "busybox", "sleep", "60") as c:
        plant = "mkdir -p /tmp/d; " + "; ".join(f"ln -s {t} {n}" for n, t in PLANTED.items())
        assert c.exec("sh", "-c", plant).returncode == 0
        listing = c.exec("sh", "-c", "ls -a / | busybox tr '\\n' ' '").stdout
        for workdir in workdirs:
            res = c.exec("-w", workdir, "--", "sh", "-c", WHERE)
            seen[workdir] = _refused_or_inside(
                res.returncode, res.stdout, res.stderr, f"launcher: cannot chdir to {workdir}",
                {"No such file or directory", "Not a directory"}, listing)
            if seen[workdir] == "inside":  # each of these names the root
                assert res.stdout.startswith("inside /\n"), (workdir, res.stdout)
    # The magic links to fds lead nowhere (no directory fd is open); the others
    # are the container's own root.
    assert seen == {w: "refused" if "fd" in w else "inside" for w in workdirs}, seen
    sentinel.check()
