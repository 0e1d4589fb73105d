"""The guest end of the VM backend: ``python3 -m launcher.vm.guest``.

Reads one JSON request line from stdin — ``{"argv": [...], "env": {...}}`` —
byte by byte (what follows is the command's own stdin), then runs launcher's
CLI with that argv, in this interpreter. No shell ever sees the request.

Before reading, it imports what a container command needs (:data:`WARM`):
the host agent starts one such interpreter ahead of each request, so a
command does not wait for Python to start and import in the guest (~0.7 s
under TCG). Nothing imported here may read the environment at import time:
the request's environment arrives after. An interpreter whose stdin closes
before any request (the agent went away) exits quietly.
"""

from __future__ import annotations

import os
import sys

from launcher import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_REQUEST = 1 << 20
# Environment the host may set for the guest's launcher (locale, terminal,
# launcher's own settings); nothing that changes how programs are found.
ALLOWED_ENV_PREFIXES = ("LANG", "LC_", "TERM", "TZ", "LAUNCHER_", "COLUMNS", "LINES")
# The CLI and the native backend's run path (what `run`, `ps`, `rm`, `exec`
# import); the rest of launcher is imported on demand as usual.
WARM = ("launcher.cli.main", "launcher.engine", "launcher.backend.select",
        "launcher.backend.linux.backend", "launcher.backend.linux.lifecycle",
        "launcher.backend.linux.process", "launcher.backend.linux.init",
        "launcher.backend.linux.rootfs", "launcher.backend.linux.teardown",
        "launcher.backend.linux.cgroups.v2", "launcher.image.resolve",
        "launcher.image.rootfs", "launcher.network.bundle", "launcher.network.container",
        "launcher.spec.build", "launcher.spec.validate", "launcher.runopts")


READY = "/run/launcher/ready"  # written when the guest's boot scripts are done
READY_TIMEOUT = 120.0


def wait_ready(path: str = READY, timeout: float = READY_TIMEOUT) -> None:
    """sshd answers before the last boot scripts (shares, disk) are done."""
    import time

    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            sys.stderr.write("launcher: WARNING: the machine's boot scripts are not done; "
                             "going on (see its console log)\n")
            return
        time.sleep(0.02)


class NoRequest(ValueError):
    """stdin closed before the first byte of a request."""


def warm() -> None:
    import importlib

    for name in WARM:
        importlib.import_module(name)


class Request:
    """op ``cli`` runs launcher with argv (``stage``: a ``cp`` whose host source
    arrives as a tar on stdin first); op ``ports`` lists the host ports the
    machine's running containers publish; op ``update`` installs the host's
    launcher package, sent on stdin (launcher.vm.selfsync)."""

    __slots__ = ("argv", "digest", "env", "op", "session", "stage")

    def __init__(self, op: str, argv: list[str], env: dict[str, str],
                 stage: dict[str, Any] | None = None, digest: str = "") -> None:
        self.op, self.argv, self.env, self.stage = op, argv, env, stage
        self.session = ""  # the agent's id for it: where Ctrl-C on the host is sent
        self.digest = digest  # op update: the host package's (launcher.vm.selfsync)


def read_request(fd: int = 0) -> Request:
    buf = bytearray()
    while not buf.endswith(b"\n"):
        ch = os.read(fd, 1)
        if not ch:
            raise NoRequest("no request line") if not buf else ValueError("no request line")
        buf += ch
        if len(buf) > MAX_REQUEST:
            raise ValueError("request line too long")
    doc = fastjson.loads(bytes(buf))
    op = doc.get("op", "cli") if isinstance(doc, dict) else None
    if op == "ports":
        return Request(op, [], {})
    if op == "update":
        want = doc.get("digest")
        if not (isinstance(want, str) and len(want) == 64):
            raise ValueError("update: no digest")
        return Request(op, [], {}, digest=want)
    if op != "cli":
        raise ValueError(f"unknown op {op!r}")
    argv = doc.get("argv") if isinstance(doc, dict) else None
    env = doc.get("env", {}) if isinstance(doc, dict) else None
    if not (isinstance(argv, list) and all(isinstance(a, str) for a in argv)):
        raise ValueError("argv must be a list of strings")
    if not (isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str)
                                          for k, v in env.items())):
        raise ValueError("env must map strings to strings")
    env = {k: v for k, v in env.items() if k.startswith(ALLOWED_ENV_PREFIXES)}
    req = Request(op, argv, env, _stage(doc.get("stage"), argv))
    session = doc.get("session", "")
    if not (isinstance(session, str) and (session == "" or _is_session(session))):
        raise ValueError("session must be 32 hex digits")
    req.session = session
    return req


SESSIONS = "/run/launcher/sessions"  # SESSION_ID -> the pid serving it, for signals


def _is_session(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


def register_session(session: str, directory: str = SESSIONS) -> None:
    """Where the agent finds this process to signal it (Ctrl-C on the host);
    entries of processes that are gone are removed on the way."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    for name in os.listdir(directory):
        try:
            with open(os.path.join(directory, name)) as f:
                os.kill(int(f.read()), 0)
        except (OSError, ValueError):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass
    with open(os.path.join(directory, session), "w") as f:
        f.write(str(os.getpid()))


def _stage(stage: Any, argv: list[str]) -> dict[str, Any] | None:
    if stage is None:
        return None
    ok = (isinstance(stage, dict) and argv[:1] == ["cp"]
          and type(stage.get("index")) is int and 0 < stage["index"] < len(argv)
          and isinstance(stage.get("name"), str) and "/" not in stage["name"]
          and stage["name"] not in ("", ".", "..") and stage.get("suffix") in ("", "/", "/.")
          and isinstance(stage.get("owners"), bool))
    if not ok:
        raise ValueError("bad stage")
    return dict(stage)


STAGE_DIR = "/var/lib/launcher/stage"


def run_staged(argv: list[str], stage: dict[str, Any], fd: int = 0,
               base: str = STAGE_DIR) -> int:
    """``cp HOSTSRC CONTAINER:DST``: unpack the host's tar of SRC (on ``fd``) into
    a private directory, run ``cp`` from there, remove it."""
    import shutil
    import tempfile

    from launcher.backend.linux.copyextract import extract_tar
    from launcher.locks import make_private_dirs

    make_private_dirs(base)
    work = tempfile.mkdtemp(dir=base)
    try:
        with os.fdopen(fd, "rb", closefd=False) as stream:
            extract_tar(stream, work, None if stage["owners"] else (0, 0), "the staged copy",
                        lambda info: _check_member(info, stage["name"]))
        argv = list(argv)
        argv[stage["index"]] = os.path.join(work, stage["name"]) + stage["suffix"]
        from launcher.cli.main import run_cli

        return run_cli(argv)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check_member(member: Any, name: str) -> None:
    """The host packed SRC under ``name``: nothing else, nothing that climbs
    (files copied in belong to the container's root unless ``cp -a``)."""
    parts = member.name.split("/")
    if parts[0] != name or ".." in parts or member.isdev():
        raise ValueError(f"unexpected entry {member.name!r} in the copied tar")


def published_ports() -> list[list[object]]:
    """``[proto, port]`` for every host port a running container publishes."""
    from launcher.network.container import live_states
    from launcher.paths import Paths

    seen = {(m.proto, m.host_port) for act in live_states(Paths.from_root()).values()
            for m in act.ports if m.host_port}
    return [[proto, port] for proto, port in sorted(seen)]


def main(machine: bool = False) -> int:
    """``machine``: in a launcher machine (``--machine``), where the boot may
    still be finishing when sshd already answers."""
    warm()
    try:
        req = read_request()
    except NoRequest:
        return 0  # a spare interpreter the agent did not need
    except ValueError as exc:
        sys.stderr.write(f"launcher: bad request from the host: {exc}\n")
        return 125
    if req.op == "ports":
        sys.stdout.write(fastjson.dumps(published_ports()) + "\n")
        return 0
    if req.op == "update":
        from launcher.errors import LauncherError
        from launcher.vm import selfsync

        try:
            with os.fdopen(0, "rb", closefd=False) as stream:
                selfsync.install(stream, req.digest)
        except (LauncherError, OSError, __import__("tarfile").TarError) as exc:
            sys.stderr.write(f"launcher: {exc}\n")
            return 125
        return 0
    if machine:  # a --host target (launcher-remote) has no boot scripts
        wait_ready()
    os.environ.update(req.env)
    if req.session:
        register_session(req.session)
    if req.stage is not None:
        from launcher.errors import LauncherError

        try:
            return run_staged(req.argv, req.stage)
        except (ValueError, OSError, LauncherError) as exc:
            sys.stderr.write(f"launcher: cannot receive the copied files: {exc}\n")
            return 125
    # In this interpreter rather than exec'ing /usr/local/bin/launcher: a second
    # Python start costs ~0.4 s in a TCG guest.
    from launcher.cli.main import main as launcher_main

    sys.argv = ["launcher", *req.argv]
    launcher_main()


if __name__ == "__main__":
    sys.exit(main(machine=sys.argv[1:] == ["--machine"]))
