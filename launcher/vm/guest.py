"""The guest end of the VM backend: ``python3 -m launcher.vm.guest``.

Reads one JSON request line from stdin — ``{"argv": [...], "env": {...}}`` —
byte by byte (what follows is the command's own stdin), then execs launcher's
CLI with that argv, in this interpreter. No shell ever sees the request."""

from __future__ import annotations

import os
import sys

from launcher import fastjson

MAX_REQUEST = 1 << 20
# Environment the host may set for the guest's launcher (locale, terminal,
# launcher's own settings); nothing that changes how programs are found.
ALLOWED_ENV_PREFIXES = ("LANG", "LC_", "TERM", "TZ", "LAUNCHER_", "COLUMNS", "LINES")


def read_request(fd: int = 0) -> tuple[list[str], dict[str, str]]:
    buf = bytearray()
    while not buf.endswith(b"\n"):
        ch = os.read(fd, 1)
        if not ch:
            raise ValueError("no request line")
        buf += ch
        if len(buf) > MAX_REQUEST:
            raise ValueError("request line too long")
    doc = fastjson.loads(bytes(buf))
    argv = doc.get("argv") if isinstance(doc, dict) else None
    env = doc.get("env", {}) if isinstance(doc, dict) else None
    if not (isinstance(argv, list) and all(isinstance(a, str) for a in argv)):
        raise ValueError("argv must be a list of strings")
    if not (isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str)
                                          for k, v in env.items())):
        raise ValueError("env must map strings to strings")
    return argv, {k: v for k, v in env.items() if k.startswith(ALLOWED_ENV_PREFIXES)}


def main() -> int:
    try:
        argv, env = read_request()
    except ValueError as exc:
        sys.stderr.write(f"launcher: bad request from the host: {exc}\n")
        return 125
    os.environ.update(env)
    # In this interpreter rather than exec'ing /usr/local/bin/launcher: a second
    # Python start costs ~0.4 s in a TCG guest.
    from launcher.cli.main import main as launcher_main

    sys.argv = ["launcher", *argv]
    launcher_main()


if __name__ == "__main__":
    sys.exit(main())
