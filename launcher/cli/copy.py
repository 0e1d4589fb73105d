"""``launcher cp`` (also ``launcher container cp``): copy files between a container
and the host, Docker's flags and rules (see ``launcher.copyops``).

A rare command: plain typer, imported only by ``app``.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from launcher.cli.state import state_of

_HELP = """Copy files/folders between a container and the local filesystem.

launcher cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-

launcher cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH

Use '-' as the source to read a tar archive from stdin and extract it to a
directory destination in a container. Use '-' as the destination to stream a
tar archive of a container source to stdout."""


def cp(
    ctx: typer.Context,
    src: Annotated[str, typer.Argument(metavar="SRC",
                                       show_default=False)],
    dst: Annotated[str, typer.Argument(metavar="DEST",
                                       show_default=False)],
    archive: Annotated[bool, typer.Option("-a", "--archive",
                                          help="Archive mode (copy all uid/gid information)")
                       ] = False,
    follow_link: Annotated[bool, typer.Option("-L", "--follow-link",
                                              help="Always follow symlinks in SRC_PATH")
                           ] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Suppress progress output during "
                                        "copy (automatic when no terminal is attached)")
                     ] = False,
) -> None:
    from launcher import copyops

    opts = copyops.CopyOptions(archive=archive, follow_link=follow_link)
    result = copyops.copy(state_of(ctx.obj).paths(), src, dst, opts,
                          stdin=sys.stdin.buffer, stdout=sys.stdout.buffer)
    sys.stdout.flush()
    if not quiet and result.dest != "-" and src != "-" and sys.stdout.isatty():
        sys.stderr.write(f"Successfully copied {human_size(result.size)} to {result.dest}\n")


cp.__doc__ = _HELP


def human_size(n: float) -> str:
    """Docker's ``units.HumanSizeWithPrecision(n, 3)``: decimal units, 3 digits."""
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000
        i += 1
    return f"{n:.3g}{units[i]}"


def register(root: typer.Typer) -> None:
    """``cp`` at the top level and under ``container`` (Docker has both)."""
    from launcher.cli import containers

    root.command("cp")(cp)
    containers.app.command("cp")(cp)
