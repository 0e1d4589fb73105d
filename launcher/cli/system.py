"""``launcher system info`` and ``launcher version``: facts about this host and launcher.

Rare commands: plain typer, imported only by ``app``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Annotated

import typer

from launcher.cli.state import state_of
from launcher.errors import UsageError

FORMATS = ("table", "json")
FormatOption = Annotated[
    str, typer.Option("--format", "-f", metavar="FORMAT", help="Output format: table or json")
]

app = typer.Typer(help="Facts about this host and launcher's setup.", no_args_is_help=True)


@app.command("info")
def info(ctx: typer.Context, fmt: FormatOption = "table") -> None:
    """Host facts, the backend this host gets, and where launcher keeps its files."""
    _check_format(fmt)
    from launcher import engine

    emit(engine.system_info(state_of(ctx.obj).paths()), fmt)


@app.command("prune")
def prune(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("-a", "--all", help="All unused images, not just "
                                       "dangling ones")] = False,
    force: Annotated[bool, typer.Option("-f", "--force", help="Do not ask")] = False,
) -> None:
    """Remove unused data: dangling images, and blobs and layers nothing references."""
    from launcher.cli.images import confirm_and_prune

    what = "all images without at least one container" if all_ else "all dangling images"
    confirm_and_prune(ctx, all_, force, f"WARNING! This will remove:\n  - all stopped "
                      f"containers\n  - {what}\n  - unreferenced blobs and layers",
                      containers=True)


def version(ctx: typer.Context, fmt: FormatOption = "table") -> None:
    """Versions of the client, of the backend it drives and (VM backend) of the guest."""
    _check_format(fmt)
    from launcher import versions
    from launcher.cli.main import _use_vm

    state = state_of(ctx.obj)
    emit(versions.report(state.paths(), _use_vm(state.backend)), fmt)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="system")
    root.command("version")(version)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        msg = f'invalid argument "{fmt}" for "-f, --format" flag: must be one of: table, json'
        raise UsageError(msg)


def emit(data: Mapping[str, object], fmt: str) -> None:
    """``json``: indented JSON; ``table``: ``key  value`` lines, nested keys dotted."""
    if fmt == "json":
        import json

        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return
    rows = list(_flatten("", data))
    width = max((len(k) for k, _ in rows), default=0)
    for key, value in rows:
        sys.stdout.write(f"{key.ljust(width)}  {value}\n")


def _flatten(prefix: str, data: Mapping[str, object]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            rows += _flatten(name, value)
        elif isinstance(value, list | tuple):
            rows.append((name, ", ".join(str(v) for v in value)))
        else:
            rows.append((name, "" if value is None else str(value)))
    return rows
