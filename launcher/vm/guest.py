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


def read_request(fd: int = 0) -> tuple[str, list[str], dict[str, str]]:
    """(op, argv, env): op ``cli`` runs launcher with argv, ``ports`` lists the
    host ports the machine's running containers publish."""
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
        return op, [], {}
    if op != "cli":
        raise ValueError(f"unknown op {op!r}")
    argv = doc.get("argv") if isinstance(doc, dict) else None
    env = doc.get("env", {}) if isinstance(doc, dict) else None
    if not (isinstance(argv, list) and all(isinstance(a, str) for a in argv)):
        raise ValueError("argv must be a list of strings")
    if not (isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str)
                                          for k, v in env.items())):
        raise ValueError("env must map strings to strings")
    return op, argv, {k: v for k, v in env.items() if k.startswith(ALLOWED_ENV_PREFIXES)}


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
        op, argv, env = read_request()
    except NoRequest:
        return 0  # a spare interpreter the agent did not need
    except ValueError as exc:
        sys.stderr.write(f"launcher: bad request from the host: {exc}\n")
        return 125
    if op == "ports":
        sys.stdout.write(fastjson.dumps(published_ports()) + "\n")
        return 0
    if machine:  # a --host target (launcher-remote) has no boot scripts
        wait_ready()
    os.environ.update(env)
    # In this interpreter rather than exec'ing /usr/local/bin/launcher: a second
    # Python start costs ~0.4 s in a TCG guest.
    from launcher.cli.main import main as launcher_main

    sys.argv = ["launcher", *argv]
    launcher_main()


if __name__ == "__main__":
    sys.exit(main(machine=sys.argv[1:] == ["--machine"]))
