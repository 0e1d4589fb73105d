"""Entry point of ``launcher``: pick the fast path or the typer app, and own the exit.

``launcher [GLOBAL OPTIONS] COMMAND [ARGS]``. A hot command (``run``,
``import``) without a help request is parsed by ``fastparse`` and handed to the
core with no typer, click or rich loaded (they cost ~50-90 ms; the whole
``run`` aims at ~20 ms). Everything else — help, completion, the rare commands,
odd global flags — goes to the typer app built from the same option table.

Errors: a ``LauncherError`` prints ``launcher: <message>`` on one line and exits
with its ``exit_code`` (125; 126/127 when the container process could not be
executed); Ctrl-C exits 130. ``--debug`` / ``LAUNCHER_DEBUG=1`` adds the
traceback and per-phase timings. ``--log-level`` (``launcher.log``) picks the
messages printed; ``--backend``, ``--host`` and the level fall back on
launcher.toml (``launcher.settings``), read only when the flag and its
environment variable are both absent.
"""

from __future__ import annotations

import os
import sys

from launcher import __version__, log
from launcher.cli import fastparse, image, lifecycle, options, run
from launcher.errors import LauncherError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn

    from launcher.cli.fastparse import Parsed

    Executor = Callable[[str | None, Parsed], int]

# The hot commands: name -> executor(root, parsed) -> exit code.
EXECUTORS: dict[str, Executor] = {
    "run": run.execute,
    "import": image.execute,
    "rm": lifecycle.execute_rm,
    "stop": lifecycle.execute_stop,
    "kill": lifecycle.execute_kill,
    "exec": lifecycle.execute_exec,
}
ERROR_KIND_ENV = "LAUNCHER_ERROR_KIND"  # set: the error's class too, on the line before
_COMPLETE_ENV = "_LAUNCHER_COMPLETE"  # set by the shell completion scripts typer installs


def main(argv: list[str] | None = None) -> NoReturn:
    restore = None
    if argv is None:  # the real command line
        from launcher._exit import rare_gc

        rare_gc()
        if sys.platform == "win32":
            restore = _windows_console()
    code = run_cli(sys.argv[1:] if argv is None else list(argv))
    if restore is not None:
        restore()
    if argv is None:  # the real command line: no caller needs a clean interpreter
        from launcher._exit import fast_exit

        fast_exit(code)
    sys.exit(code)


def _windows_console() -> Callable[[], None] | None:
    """A console on a legacy code page shows the guest's UTF-8 output as UTF-8
    while launcher runs, and Python's own text never fails to encode."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass
    try:
        from launcher.vm import wincon

        return wincon.utf8_output()
    except OSError:
        return None  # no console (output redirected)


def run_cli(argv: list[str]) -> int:
    """Run one ``launcher`` invocation; returns the process exit code."""
    debug = os.environ.get("LAUNCHER_DEBUG", "") not in ("", "0")
    glob: Parsed | None = None
    if _COMPLETE_ENV not in os.environ:
        try:
            glob = fastparse.parse(options.GLOBAL, argv)
        except LauncherError:
            glob = None  # e.g. --install-completion: the typer app knows it, or words the error
    debug = debug or bool(glob and glob.values["debug"])
    try:
        _set_log_level(glob, debug)
        return _dispatch(argv, glob, debug)
    except LauncherError as err:
        return _report(err, debug)
    except OSError as exc:
        from launcher.errors import from_os_error

        return _report(from_os_error(exc), debug)
    except KeyboardInterrupt:
        return 130


def _dispatch(argv: list[str], glob: Parsed | None, debug: bool) -> int:
    if glob is None or glob.help:
        return _typer(argv)
    if glob.values["version"]:
        print_version()
        return 0
    if not glob.args:
        return _typer([*argv, "--help"])
    name, rest = glob.args[0], glob.args[1:]
    local = (name in _LOCAL_ONLY or "--help" in rest
             or (name == "system" and rest[:1] == ["info"]))
    root = glob.values["root"]
    assert root is None or isinstance(root, str)
    host, backend = glob.values["host"], glob.values["backend"]
    if not local and (host is None or backend is None):
        host, backend = _target(root, host, backend)
    if not local and (host or _use_vm(backend)):
        from launcher.paths import Paths
        from launcher.vm.forward import execute as forward

        assert host is None or isinstance(host, str)
        return forward(Paths.from_root(root), ["--debug", *glob.args] if debug else glob.args,
                       host)
    if name == "machine":
        from launcher.cli.machinestart import fast_args, start

        machine = fast_args(rest)
        if machine is not None:
            from launcher.paths import Paths

            return start(Paths.from_root(root), machine)
    if name == "container" and rest and rest[0] in EXECUTORS:  # `container rm` is `rm`
        name, rest = rest[0], rest[1:]
    execute = EXECUTORS.get(name)
    if execute is None:
        return _typer(argv)
    parsed = fastparse.parse(options.HOT[name], rest)
    if parsed.help:
        return _typer(argv)
    if debug:
        return _timed(execute, root, parsed)
    return execute(root, parsed)


def _set_log_level(glob: Parsed | None, debug: bool) -> None:
    """``--debug``, else ``--log-level`` / LAUNCHER_LOG_LEVEL (fastparse fills
    it from the environment), else launcher.toml's, read at the first message."""
    name = glob.values["log_level"] if glob is not None else None
    if name:
        assert isinstance(name, str)
        log.set_level(name)  # checked even beside --debug: a bad value is an error
    if debug:
        log.set_level("debug")
    elif not name:
        root = glob.values["root"] if glob is not None else None
        assert root is None or isinstance(root, str)
        log.set_level_resolver(lambda: _log_level(root))


def _log_level(root: str | None) -> str:
    from launcher import settings
    from launcher.paths import Paths

    return settings.log_level(Paths.from_root(root))


def _target(root: str | None, host: object, backend: object) -> tuple[object, object]:
    from launcher.backend.select import target
    from launcher.paths import Paths

    return target(Paths.from_root(root), host, backend)


# Commands about this host or launcher itself, never forwarded to a machine.
_LOCAL_ONLY = frozenset({"machine", "help", "version"})


def _use_vm(backend: object) -> bool:
    from launcher.backend.select import use_vm

    return use_vm(backend)


def _typer(argv: list[str]) -> int:
    from launcher.cli import app  # ~50-90 ms: only for help, completion and rare commands

    return app.invoke(argv)


def print_version() -> None:
    sys.stdout.write(f"launcher {__version__}\n")


def _report(err: LauncherError, debug: bool) -> int:
    if debug:
        import traceback

        traceback.print_exception(err)
    message = " ".join(str(err).splitlines()) or type(err).__name__
    if os.environ.get(ERROR_KIND_ENV):  # the Python API's children (launcher.api.command)
        kind = next(c for c in type(err).__mro__ if c.__module__ == "launcher.errors")
        sys.stderr.write(f"launcher: error kind: {kind.__name__}\n")
    sys.stderr.write(f"launcher: {message}\n")
    return err.exit_code


def _timed(execute: Executor, root: str | None, parsed: Parsed) -> int:
    """``--debug``: the core's phase marks (``engine.PHASES``: name, seconds since its
    first mark), then the command's total as the CLI saw it."""
    import time

    start = time.perf_counter()
    try:
        return execute(root, parsed)
    finally:
        total = (time.perf_counter() - start) * 1000
        phases = getattr(sys.modules.get("launcher.engine"), "PHASES", None) or []
        for phase, seconds in phases:
            sys.stderr.write(f"launcher: debug: {phase}: +{seconds * 1000:.2f} ms\n")
        sys.stderr.write(f"launcher: debug: command total: {total:.2f} ms\n")
