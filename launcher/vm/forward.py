"""The VM backend, as the CLI sees it: forward one invocation to the machine.

When the backend is ``vm`` (``--backend vm``, ``LAUNCHER_BACKEND=vm``, or any
host without a Linux kernel), ``launcher ARGS`` becomes ``launcher ARGS`` in
the guest, through the host agent. What refers to the host is translated
first, and nothing else is touched, so flags, output and exit codes are the
native backend's own:

* ``-v /host/dir:/data`` — host directories are shared with the machine at
  the same path (``machine init -v``, default: the home directory), so the
  path stays as it is; a path outside every share is refused (exit 125).
* ``-p [IP:]HOST:CONTAINER`` — a QEMU forward from the host's ``IP:HOST`` to
  the guest's ``HOST`` is added before the run, and the guest publishes on all
  its addresses. An empty host port gets a free one chosen here. ``-P`` ports
  are chosen in the guest and forwarded from the same host port once the
  container runs. Forwards go when no container publishes their port any more
  (the agent keeps them in step: launcher.vm.portsync).
* ``import FILE``, ``load -i FILE``, ``save -o FILE`` — the file travels over
  the SSH channel as the command's stdin/stdout (``import -``, ``load``,
  ``save`` to stdout), so no temporary copy is left in the guest.
* ``cp`` — a host path outside the shares travels as a tar on the channel
  (launcher.vm.hostcopy); inside a share it is the guest's own path.
* ``kube play|down FILE`` — the manifest travels as stdin (``-``), and the
  pod's host ports are forwarded once it runs.

The default machine is created (``machine init``) and started on first use.
"""

from __future__ import annotations

import os
import sys

from launcher import osflags
from launcher.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:

    from launcher.paths import Paths
    from launcher.vm.machine import Machine
    from launcher.vm.target import Target

MACHINE_ENV = "LAUNCHER_MACHINE"


class Plan:
    """The guest's argv plus what the host does around it."""

    __slots__ = ("argv", "detach", "download", "forwards", "pty", "stage", "stdin_file",
                 "stdin_tty", "stdout_file", "sync_after", "upload")

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.forwards: list[tuple[str, str, int, int]] = []  # proto, host ip, host, guest
        self.stdin_file: str | None = None
        self.stdout_file: str | None = None
        self.stdin_tty = False  # pass our stdin (run -i, exec -i, load from a pipe)
        self.pty = False
        self.sync_after = False  # forwards follow only once the command is done
        self.detach = False
        # cp with a host path outside the shares (launcher.vm.hostcopy)
        self.upload: tuple[str, bool] | None = None  # host SRC, -L
        self.stage: dict[str, object] | None = None  # told to the guest with the request
        self.download: tuple[str, bool] | None = None  # host DST, -a


def ensure_machine(paths: Paths, name: str) -> Machine:
    """The machine, created and started if need be (progress on stderr)."""
    from launcher.errors import NotFoundError
    from launcher.vm import ops
    from launcher.vm.machine import Machine, status

    try:
        m = Machine.load(paths, name)
    except NotFoundError:
        sys.stderr.write(f"launcher: creating machine {name} (first use)\n")
        m = ops.init(paths, name, shares=ops.default_shares())
    if _agent_serving(m):
        return m  # no banner probe: each one costs the guest an sshd fork
    state, _ = status(m)
    if state == "stopped":
        sys.stderr.write(f"launcher: starting machine {name}\n")
        ops.start(paths, name)
    elif state == "starting":
        from launcher.vm.sshconn import wait_banner

        port = m.ssh_port()
        if port is not None:
            import time

            wait_banner(port, time.monotonic() + ops.BOOT_TIMEOUT).close()
    elif state == "broken":
        from launcher.errors import StateError

        raise StateError(f"machine {name} is broken: {_} (launcher machine rm -f {name})")
    return m


def _agent_serving(m: Machine) -> bool:
    """The machine's QEMU runs and its agent's socket is there (the agent removes
    it when its SSH connection ends; a stale one only costs a new agent)."""
    from launcher.vm.agent import SOCKET
    from launcher.vm.driver import for_machine

    return os.path.exists(os.path.join(m.run_dir, SOCKET)) and for_machine(m).alive(m) is not None


def plan(m: Machine | None, argv: list[str]) -> Plan:
    """Translate ``argv`` (after launcher's global options) for the guest; with
    no machine (a ``--host`` target) paths and ports are the remote's own."""
    p = Plan(list(argv))
    cmd = argv[0] if argv else ""
    if cmd in ("run", "create"):
        _plan_run(m, p)
    elif cmd == "exec":
        flags = _flags(argv[1:])
        p.stdin_tty = "i" in flags
        p.pty = "t" in flags and sys.stdin.isatty()
    elif cmd == "import" and len(argv) >= 2 and argv[1] != "-":
        p.stdin_file, p.argv[1] = argv[1], "-"
    elif cmd == "load":
        _plan_file_opt(p, ("-i", "--input"), "stdin")
        if p.stdin_file is None:
            p.stdin_tty = not sys.stdin.isatty()
    elif cmd == "save":
        _plan_file_opt(p, ("-o", "--output"), "stdout")
    elif cmd == "cp":
        from launcher.vm import hostcopy, rewrite

        hostcopy.plan(p, (lambda path: rewrite.is_shared(m, path)) if m is not None
                      else (lambda path: True))
    elif cmd in ("start", "restart") and m is not None:
        p.sync_after = True  # its ports were unforwarded when it stopped
    elif cmd == "kube" and argv[1:2] in (["play"], ["down"]):
        _plan_kube(m, p)
    return p


def _plan_kube(m: Machine | None, p: Plan) -> None:
    """``kube play|down FILE``: the manifest travels as stdin (``-``); the pod's
    host ports follow once it runs (or is gone). Its hostPath volumes are paths
    of the machine, as ``-v`` ones: the shares are at the same paths."""
    for i, word in enumerate(p.argv[2:], start=2):
        if word == "--":
            i += 1
            if i >= len(p.argv):
                return
            word = p.argv[i]
        elif word.startswith("-") and word != "-":
            continue
        if word != "-":
            p.stdin_file, p.argv[i] = word, "-"
        else:
            p.stdin_tty = not sys.stdin.isatty()  # the manifest is piped in
        break
    p.sync_after = m is not None


def _flags(words: list[str]) -> set[str]:
    """Single-letter flags seen before the first positional (-it → i, t)."""
    seen: set[str] = set()
    for w in words:
        if not w.startswith("-") or w == "--":
            break
        if w in ("--interactive",):
            seen.add("i")
        elif w in ("--tty",):
            seen.add("t")
        elif not w.startswith("--"):
            seen.update(w[1:])
    return seen


def _plan_file_opt(p: Plan, names: tuple[str, ...], where: str) -> None:
    out: list[str] = []
    words = iter(p.argv)
    for w in words:
        name, eq, value = w.partition("=")
        if name in names:
            path = value if eq else next(words, "")
            if where == "stdin":
                p.stdin_file = path
            else:
                p.stdout_file = path
            continue
        out.append(w)
    p.argv = out


def _plan_run(m: Machine | None, p: Plan) -> None:
    """-v paths checked against the shares, -p turned into forwards."""
    from launcher.cli import options
    from launcher.cli.fastparse import parse

    spec = options.HOT["run"]
    parsed = parse(spec, p.argv[1:])
    values = parsed.values
    p.stdin_tty = bool(values.get("interactive"))
    p.pty = bool(values.get("tty")) and sys.stdin.isatty()
    if m is None:
        return
    from launcher.vm import hostpath, rewrite

    volumes = _strings(values.get("volumes"))
    for vol in volumes:
        rewrite.check_shared(m, vol)
    if volumes and hostpath.is_windows():  # elsewhere the machine's path is the host's
        p.argv = [p.argv[0], *rewrite.volumes(spec, p.argv[1:])]
    if values.get("env") or values.get("env_files"):
        p.argv = [p.argv[0], *rewrite.environment(spec, p.argv[1:])]
    p.detach = bool(values.get("detach"))
    p.sync_after = bool(values.get("publish_all")) and p.detach
    publish = _strings(values.get("publish"))
    if publish:
        p.argv = [p.argv[0], *rewrite.publish(m, p.forwards, spec, p.argv[1:])]


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def execute(paths: Paths, argv: list[str], host: str | None = None) -> int:
    """Run ``launcher ARGV`` in the machine (or on ``host``, ssh://…); the exit code."""
    from launcher.vm import portsync, target

    if not argv:
        raise UsageError("no command")
    if host:
        return _run(target.for_host(paths, host), plan(None, argv))
    m = ensure_machine(paths, os.environ.get(MACHINE_ENV) or "default")
    p = plan(m, argv)
    for proto, ip, host_port, _ in p.forwards:
        portsync.add(m, proto, ip, host_port)
    t = target.for_machine(paths, m)
    if p.upload is not None or p.download is not None:
        return _run_copy(t, p)
    code = _run(t, p)
    over = bool(p.forwards) and (not p.detach or code != 0)
    if over:  # its container is gone: its forwards go now, not after a grace
        portsync.settle(m, [(proto, port) for proto, _, port, _ in p.forwards])
    if over or (p.sync_after and code == 0):
        from launcher.vm import agentclient

        agentclient.sync_forwards(t)
    return code


def _run_copy(t: Target, p: Plan) -> int:
    """cp with a host path the machine does not share: a tar on the channel."""
    import tempfile

    from launcher.vm import hostcopy

    fd, tmp = tempfile.mkstemp(prefix="launcher-cp-", suffix=".tar")
    os.close(fd)
    try:
        if p.upload is not None:
            hostcopy.pack(p.upload[0], p.upload[1], tmp)
            p.stdin_file = tmp
            return _run(t, p)
        assert p.download is not None
        p.stdout_file = tmp
        code = _run(t, p)
        if code == 0:
            hostcopy.place(tmp, *p.download)
        return code
    finally:
        os.unlink(tmp)


def _run(t: Target, p: Plan) -> int:
    from launcher.vm import agentclient

    env = {k: v for k, v in os.environ.items() if k.startswith(("LANG", "LC_", "TERM", "TZ"))}
    stdin_fd: int | None = 0 if p.stdin_tty else None
    opened: list[int] = []
    try:
        if p.stdin_file is not None:
            stdin_fd = os.open(p.stdin_file, osflags.READ)
            opened.append(stdin_fd)
        if p.stdout_file is not None:
            fd = os.open(p.stdout_file, osflags.WRITE_NEW,
                         0o644)
            opened.append(fd)
            saved = os.dup(1)
            os.dup2(fd, 1)
            try:
                return agentclient.run(t, p.argv, env, pty=False, stdin=stdin_fd,
                                       stage=p.stage)
            finally:
                os.dup2(saved, 1)
                os.close(saved)
        return agentclient.run(t, p.argv, env, pty=p.pty, stdin=stdin_fd, stage=p.stage)
    finally:
        for fd in opened:
            os.close(fd)
