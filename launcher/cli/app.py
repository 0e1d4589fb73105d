"""The typer app: help, shell completion, docs, and the rare commands.

The hot commands are *generated* from ``options`` rather than written as typer
functions: each table row becomes a ``typer.Option`` inside an ``Annotated``
parameter of a synthetic ``__signature__``. Why this and not hand-built click
objects: it uses only typer's public API (typer vendors click as the private
``typer._click``), and the commands get the same rich help as the rest.

Options stay raw strings here; the generated callback hands them to the same
``run.execute`` / ``image.execute`` the fast path calls, so conversion, checks
and the request are shared code. Click's tokenizing errors are reworded into
the fast parser's one-line messages (``_translate``), so both paths agree.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

# Only the exception classes, to reword click's usage errors. typer vendors
# click privately since 0.2x; this is the one place that depends on it.
from typer._click import exceptions as click_errors

from launcher.cli import (
    containers,
    copy,
    doctor,
    fastparse,
    images,
    kube,
    machine,
    network,
    options,
    system,
    volumes,
)
from launcher.cli.fastparse import Parsed
from launcher.cli.main import EXECUTORS, print_version
from launcher.cli.optspec import FLAG, HELP_NAMES, MULTI, Arg, CommandSpec, Opt
from launcher.cli.state import CliState, state_of
from launcher.errors import UsageError

_KW = inspect.Parameter.KEYWORD_ONLY
_ANNOTATED: Any = Annotated  # built at run time from the table; mypy sees no fixed type


def build() -> typer.Typer:
    app = typer.Typer(
        name="launcher",
        help=options.GLOBAL.help,
        no_args_is_help=True,
        context_settings={"help_option_names": list(HELP_NAMES)},
    )
    app.callback()(_global_callback())
    for name in options.HOT:
        _add_hot(app, name)
    system.register(app)
    doctor.register(app)
    images.register(app)
    containers.register(app, _add_hot)
    volumes.register(app)
    network.register(app)
    machine.register(app)
    copy.register(app)
    kube.register(app)
    return app


def _add_hot(group: typer.Typer, name: str) -> None:
    spec = options.HOT[name]
    group.command(
        name,
        help=spec.help,
        context_settings={"allow_interspersed_args": spec.interspersed},
    )(_hot_callback(spec, EXECUTORS[name]))


def invoke(argv: list[str]) -> int:
    """Run the app on ``argv``; usage errors come out as ``UsageError`` (exit 125)."""
    command = typer.main.get_command(build())
    try:
        rv = command.main(argv, prog_name="launcher", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:  # `launcher system`: help, as if asked
        if exc.message:  # rich help has been printed already; plain help comes here
            sys.stdout.write(exc.message + "\n")
        return 0
    except click_errors.UsageError as exc:
        raise _translate(exc, argv) from None
    except typer.Abort:  # EOF at a prompt
        return 1
    return rv if isinstance(rv, int) else 0


def _global_callback() -> Callable[..., None]:
    def callback(ctx: typer.Context, **raw: Any) -> None:
        ctx.obj = CliState(raw["root"], bool(raw["debug"]), raw.get("backend") or None)

    params = [inspect.Parameter("ctx", _KW, annotation=typer.Context)]
    for opt in options.GLOBAL.options:
        # --version acts at parse time, like --help: print and stop.
        extra = {"is_eager": True, "callback": _show_version} if opt.dest == "version" else {}
        params.append(_option_param(opt, **extra))
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return callback


def _show_version(value: bool) -> None:
    if value:
        print_version()
        raise typer.Exit(0)


def _hot_callback(
    spec: CommandSpec, execute: Callable[[str | None, Parsed], int]
) -> Callable[..., int]:
    def callback(ctx: typer.Context, **raw: Any) -> int:
        values: dict[str, object] = {}
        for opt in spec.options:
            value = raw[opt.dest]
            if opt.kind == MULTI:
                value = list(value or [])
            elif opt.kind == FLAG:
                value = bool(value)
            values[opt.dest] = value
        args: list[str] = []
        for arg in spec.args:
            if arg.rest:
                args.extend(raw[arg.dest] or [])
            else:
                args.append(raw[arg.dest])
        return execute(state_of(ctx.obj).root, Parsed(values, args))

    params = [inspect.Parameter("ctx", _KW, annotation=typer.Context)]
    params += [_option_param(opt) for opt in spec.options]
    params += [_arg_param(arg) for arg in spec.args]
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback.__name__ = spec.name
    return callback


def _option_param(opt: Opt, **extra: Any) -> inspect.Parameter:
    """One table row as a typed keyword parameter typer turns into a click option."""
    info = typer.Option(
        *opt.names,
        help=opt.help,
        metavar=opt.metavar or None,
        envvar=opt.env,
        show_default=opt.default is not None,
        **extra,
    )
    if opt.kind == FLAG:
        kind: Any = bool
        default: object = False
    elif opt.kind == MULTI:
        kind, default = list[str] | None, None
    else:
        kind, default = str | None, opt.default
    return inspect.Parameter(opt.dest, _KW, default=default, annotation=_ANNOTATED[kind, info])


def _arg_param(arg: Arg) -> inspect.Parameter:
    info = typer.Argument(metavar=arg.metavar, help=arg.help, show_default=False)
    if arg.rest:
        return inspect.Parameter(
            arg.dest, _KW, default=None, annotation=_ANNOTATED[list[str] | None, info]
        )
    return inspect.Parameter(arg.dest, _KW, annotation=_ANNOTATED[str, info])


def _translate(exc: click_errors.UsageError, argv: list[str]) -> UsageError:
    """Click's wording → the fast parser's (see ``fastparse``), one line."""
    spec = _spec_for(argv)
    if isinstance(exc, click_errors.NoSuchOption):
        flag = exc.option_name
        if flag.startswith("--") and len(flag) > 2:
            return UsageError(f"unknown flag: {flag}")
        return UsageError(f"unknown shorthand flag: '{flag[1:]}'")
    if isinstance(exc, click_errors.BadOptionUsage) and spec is not None:
        flag = exc.option_name
        opt = spec.short.get(flag[1]) if len(flag) == 2 else spec.long.get(flag)
        if opt is not None and opt.kind != FLAG:
            return UsageError(f"flag needs an argument: {flag}")
        return UsageError(f"flag does not take a value: {flag}")
    if spec is not None and spec is not options.GLOBAL:  # a missing or extra positional
        return spec.arity_error()
    return UsageError(" ".join(exc.format_message().splitlines()))


def _spec_for(argv: list[str]) -> CommandSpec | None:
    """The table whose options the error is about: GLOBAL, a hot command's, or None
    (a rare command: click's own words will do). Click does not always say (its
    ``BadOptionUsage`` carries no context), so read argv as ``main`` does."""
    try:
        glob = fastparse.parse(options.GLOBAL, argv)
    except UsageError:
        return options.GLOBAL
    if not glob.args:
        return options.GLOBAL
    words = glob.args[1:] if glob.args[0] == "container" else glob.args
    return options.HOT.get(words[0]) if words else None
