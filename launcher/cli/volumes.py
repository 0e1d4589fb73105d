"""``launcher volume create|ls|rm|inspect``: named volumes, Docker's flags and output.

Rare commands: plain typer, imported only by ``app``.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from launcher.cli import fmt
from launcher.cli.state import state_of
from launcher.errors import LauncherError

app = typer.Typer(help="Manage volumes.", no_args_is_help=True)


def _store(ctx: typer.Context) -> object:
    from launcher.backend.linux.volstore import VolumeStore
    from launcher.backend.select import select_backend

    paths = state_of(ctx.obj).paths()
    select_backend(paths)
    return VolumeStore(paths)


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(metavar="[VOLUME]", show_default=False)] = None,
    labels: Annotated[list[str] | None, typer.Option("-l", "--label", metavar="KEY=VALUE",
                                                     help="Set a label")] = None,
) -> None:
    """Create a volume (a random name when none is given); prints its name."""
    from launcher.backend.linux.volstore import VolumeStore
    from launcher.errors import UsageError
    from launcher.runopts import label

    store = _store(ctx)
    assert isinstance(store, VolumeStore)
    try:
        parsed = dict(label(text) for text in labels or [])
    except ValueError as exc:
        raise UsageError(f"invalid label: {exc}") from None
    made, _ = store.create(name, parsed)
    sys.stdout.write(made + "\n")


@app.command("ls")
def ls(
    ctx: typer.Context,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only names")] = False,
    output: Annotated[str, typer.Option("--format", metavar="FORMAT",
                                        help="table or json")] = "table",
) -> None:
    """List volumes."""
    from launcher.backend.linux.volstore import VolumeStore

    fmt.check_format(output)
    store = _store(ctx)
    assert isinstance(store, VolumeStore)
    names = store.names()
    if quiet:
        sys.stdout.write("".join(f"{n}\n" for n in names))
    elif output == "json":
        fmt.json_lines([{"Driver": "local", "Labels": "", "Mountpoint": store.data(n),
                         "Name": n, "Scope": "local"} for n in names])
    else:
        fmt.table(["DRIVER", "VOLUME NAME"], [["local", n] for n in names])


@app.command("rm")
def rm(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(metavar="VOLUME...", show_default=False)],
    force: Annotated[bool, typer.Option("-f", "--force", help="No error for a missing "
                                        "volume (one in use is never removed)")] = False,
) -> None:
    """Remove volumes that no container uses."""
    from launcher.backend.linux.volstore import VolumeStore
    from launcher.errors import NotFoundError

    store = _store(ctx)
    assert isinstance(store, VolumeStore)
    errors: list[str] = []
    for name in names:
        try:
            store.remove(name)
        except NotFoundError as exc:
            if not force:
                errors.append(str(exc))
            continue
        except LauncherError as exc:
            errors.append(str(exc))
            continue
        sys.stdout.write(name + "\n")
    if errors:
        raise LauncherError("; ".join(errors))


@app.command("inspect")
def inspect(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(metavar="VOLUME...", show_default=False)],
) -> None:
    """Details of volumes, as JSON."""
    from launcher.backend.linux.volstore import VolumeStore

    store = _store(ctx)
    assert isinstance(store, VolumeStore)
    found: list[object] = []
    errors: list[str] = []
    for name in names:
        try:
            found.append(store.inspect(name))
        except LauncherError as exc:
            errors.append(str(exc))
    fmt.json_doc(found)
    if errors:
        raise LauncherError("; ".join(errors))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="volume")
