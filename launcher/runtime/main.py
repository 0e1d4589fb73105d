"""``launcher-runtime`` entry point: parse, dispatch, report errors like runc.

Errors go to stderr on one line (and to ``--log`` as text or JSON records,
which podman/conmon read); the exit status is 1 for a failed verb, as runc.
"""

from __future__ import annotations

import os
import sys

from launcher.errors import LauncherError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from launcher.cli.fastparse import Parsed


def main(argv: list[str] | None = None) -> NoReturn:
    if argv is None:  # the real command line
        from launcher._exit import rare_gc

        rare_gc()
    code = run(sys.argv[1:] if argv is None else argv)
    if argv is None:  # the real command line: no caller needs a clean interpreter
        from launcher._exit import fast_exit

        fast_exit(code)
    sys.exit(code)


def run(argv: list[str]) -> int:
    from launcher.cli import fastparse
    from launcher.runtime.options import COMMANDS, GLOBAL

    glob: Parsed | None = None
    try:
        glob = fastparse.parse(GLOBAL, argv)
        if glob.values.get("version"):
            return _version()
        if glob.help or not glob.args:
            _out(_usage())
            return 0 if glob.help else 1
        name, rest = glob.args[0], glob.args[1:]
        spec = COMMANDS.get(name)
        if spec is None:
            raise LauncherError(f"unknown command {name!r}; see launcher-runtime --help")
        parsed = fastparse.parse(spec, rest)
        if parsed.help:
            _out(_command_usage(name))
            return 0
        values = dict(parsed.values)
        values.update(parsed.positionals(spec))
        sig = values.get("signal")
        if isinstance(sig, list):
            if len(sig) > 1:
                raise LauncherError('"kill" takes at most one signal')
            values["signal"] = sig[0] if sig else None
        values["systemd_cgroup"] = glob.values.get("systemd_cgroup")
        return _dispatch(name, values, glob)
    except (LauncherError, OSError) as exc:
        from launcher.errors import from_os_error

        err = exc if isinstance(exc, LauncherError) else from_os_error(exc)
        code = _report(err, glob)
        if glob and glob.args[:1] == ["exec"]:
            return 255  # as runc, when exec itself fails (the process's own codes pass)
        from launcher.errors import ExecFailure

        # `run` reports a process that could not be executed as the shell
        # and Docker do: 127 not found, 126 not executable.
        if isinstance(err, ExecFailure) and glob and glob.args[:1] == ["run"]:
            return err.exit_code
        return code
    except KeyboardInterrupt:
        return 130


def _dispatch(name: str, values: dict[str, object], glob: Parsed) -> int:
    from launcher import paths
    from launcher.runtime import commands

    if name == "version":
        return _version()
    root = paths.runtime_root(glob.values.get("root"))  # type: ignore[arg-type]
    fn = getattr(commands, "cmd_" + name)
    return int(fn(root, values))


def _version() -> int:
    from launcher import __version__

    _out(f"launcher-runtime version {__version__}\nspec: 1.2.0\n")
    return 0


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _report(err: LauncherError, glob: Parsed | None) -> int:
    msg = str(err).replace("\n", " ")
    os.write(2, f"launcher-runtime: {msg}\n".encode())
    log = glob.values.get("log") if glob else None
    if log:
        _log(str(log), str(glob.values.get("log_format") or "text") if glob else "text", msg)
    if glob and glob.values.get("debug"):
        import traceback

        traceback.print_exc()
    return 1


def _log(path: str, fmt: str, msg: str) -> None:
    import time

    from launcher import fastjson

    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if fmt == "json":
        line = fastjson.dumps({"level": "error", "msg": msg, "time": now})
    else:
        line = f'time="{now}" level=error msg={fastjson.dumps(msg)}'
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError:
        pass


def _usage() -> str:
    from launcher.runtime.options import COMMANDS

    lines = ["Usage: launcher-runtime [--root DIR] [--log FILE] [--log-format text|json] "
             "COMMAND [OPTIONS] ARGS", "", "Commands:"]
    lines += [f"  {n:<10} {c.help}" for n, c in COMMANDS.items()]
    return "\n".join(lines) + "\n"


def _command_usage(name: str) -> str:
    from launcher.runtime.options import COMMANDS

    spec = COMMANDS[name]
    args = " ".join(a.metavar + ("..." if a.rest else "") for a in spec.args)
    lines = [f"Usage: launcher-runtime {name} [OPTIONS] {args}".rstrip(), "", spec.help, ""]
    for o in spec.options:
        lines.append(f"  {o.label + (' ' + o.metavar if o.metavar else ''):<34} {o.help}")
    return "\n".join(lines) + "\n"
