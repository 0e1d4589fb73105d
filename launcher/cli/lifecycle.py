"""The hot container verbs — ``rm``, ``stop``, ``kill``, ``exec`` — parsed by
``fastparse`` and run with no typer loaded (it costs ~110 ms, more than the verb).
The typer app generates their help from the same tables (``options``)."""

from __future__ import annotations

import sys

from launcher.cli.options import EXEC, KILL, RM, STOP
from launcher.cli.optspec import convert_values
from launcher.errors import LauncherError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from launcher.cli.fastparse import Parsed
    from launcher.cli.optspec import CommandSpec
    from launcher.paths import Paths


def _targets(spec: CommandSpec, parsed: Parsed) -> list[str]:
    pos = parsed.positionals(spec)
    first, more = pos["first"], pos["more"]
    assert isinstance(first, str) and isinstance(more, list)
    return [first, *more]


def _paths(root: str | None) -> Paths:
    from launcher.paths import Paths

    return Paths.from_root(root)


def each(refs: list[str], act: Callable[[str], object], echo: bool = True) -> int:
    """Docker's way: act on every ref, echo the ones done, report failures after."""
    errors: list[str] = []
    for ref in refs:
        try:
            act(ref)
        except LauncherError as exc:
            errors.append(str(exc))
            continue
        if echo:
            sys.stdout.write(ref + "\n")
            sys.stdout.flush()
    if errors:
        raise LauncherError("; ".join(errors))
    return 0


def execute_rm(root: str | None, parsed: Parsed) -> int:
    refs = _targets(RM, parsed)
    force = bool(convert_values(RM, parsed.values)["force"])
    from launcher import containerops

    done, errors = containerops.remove(_paths(root), refs, force=force)
    sys.stdout.write("".join(f"{ref}\n" for ref in done))
    if errors:
        raise LauncherError("; ".join(errors))
    return 0


def execute_stop(root: str | None, parsed: Parsed) -> int:
    refs = _targets(STOP, parsed)
    timeout = convert_values(STOP, parsed.values)["timeout"]
    assert timeout is None or isinstance(timeout, int)
    from launcher import containerlife

    paths = _paths(root)
    return each(refs, lambda ref: containerlife.stop(paths, ref, timeout))


def execute_kill(root: str | None, parsed: Parsed) -> int:
    refs = _targets(KILL, parsed)
    sig = convert_values(KILL, parsed.values)["signal"]
    assert isinstance(sig, int)
    from launcher import containerlife

    paths = _paths(root)
    return each(refs, lambda ref: containerlife.kill(paths, ref, sig))


def execute_exec(root: str | None, parsed: Parsed) -> int:
    pos = parsed.positionals(EXEC)
    ref, command = pos["container"], pos["command"]
    assert isinstance(ref, str) and isinstance(command, list)
    if not command:
        raise UsageError('"exec" requires at least 2 arguments')
    v = convert_values(EXEC, parsed.values)
    from launcher import containerlife

    return containerlife.exec_in(
        _paths(root), ref, [str(c) for c in command], interactive=bool(v["interactive"]),
        tty=bool(v["tty"]), env=[str(e) for e in v["env"] or []],  # type: ignore[attr-defined]
        workdir=v["workdir"] if isinstance(v["workdir"], str) else None,
        user=v["user"] if isinstance(v["user"], str) else None, detach=bool(v["detach"]))
