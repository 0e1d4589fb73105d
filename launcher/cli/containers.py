"""Container commands, Docker's names and flags: ``ps`` and ``rm`` at the top level
and under ``launcher container`` (``ls``, ``rm``). Each parses, calls
``launcher.containerops``, and prints.

Rare commands: plain typer, imported only by ``app``.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from launcher.cli import fmt
from launcher.cli.state import state_of
from launcher.errors import LauncherError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.backend.linux.containers import Container

app = typer.Typer(help="Manage containers.", no_args_is_help=True)


def ps(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("-a", "--all", help="Also stopped containers")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only container IDs")] = False,
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Full IDs and commands")] = False,
    output: Annotated[str, typer.Option("--format", metavar="FORMAT",
                                        help="table or json")] = "table",
) -> None:
    """List containers."""
    from launcher import containerops

    fmt.check_format(output)
    found, problems = containerops.list_containers(state_of(ctx.obj).paths(), all_=all_)
    for problem in problems:
        sys.stderr.write(f"launcher: warning: {problem}\n")
    if quiet:
        sys.stdout.write("".join(f"{c.id if no_trunc else c.id[:12]}\n" for c in found))
    elif output == "json":
        fmt.json_lines([_json_row(c) for c in found])
    else:
        head = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
        fmt.table(head, [[c.id if no_trunc else c.id[:12], c.record.image,
                          _command(c, no_trunc), fmt.since(c.record.created), status_text(c),
                          "", c.record.name] for c in found])


def status_text(c: Container) -> str:
    """Docker's STATUS column: ``Up 3 seconds``, ``Exited (0) 2 minutes ago``, ``Created``."""
    rec = c.record
    if c.status in ("running", "paused"):
        up = fmt.since(rec.started_at or rec.created).removesuffix(" ago")
        return f"Up {up}" + (" (Paused)" if c.status == "paused" else "")
    if c.status == "exited":
        code = "?" if rec.exit_code is None else str(rec.exit_code)
        when = rec.finished_at or rec.started_at or rec.created
        return f"Exited ({code}) {fmt.since(when)}"
    return c.status.capitalize()


def _command(c: Container, no_trunc: bool) -> str:
    text = " ".join(c.record.command)
    if not no_trunc and len(text) > 20:
        text = text[:19] + "…"
    return f'"{text}"'


def _json_row(c: Container) -> dict[str, object]:
    rec = c.record
    return {"Command": _command(c, True), "CreatedAt": rec.created, "ID": c.id[:12],
            "Image": rec.image, "Names": rec.name, "State": c.status,
            "Status": status_text(c), "Ports": "", "RunningFor": fmt.since(rec.created)}


def rm(
    ctx: typer.Context,
    refs: Annotated[list[str], typer.Argument(metavar="CONTAINER...", show_default=False)],
    force: Annotated[bool, typer.Option("-f", "--force", help="Kill and remove a running "
                                        "container")] = False,
) -> None:
    """Remove containers (their rootfs, anonymous volumes and name)."""
    from launcher import containerops

    done, errors = containerops.remove(state_of(ctx.obj).paths(), refs, force=force)
    sys.stdout.write("".join(f"{ref}\n" for ref in done))
    if errors:
        raise LauncherError("; ".join(errors))


def logs(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="CONTAINER", show_default=False)],
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Follow new output")] = False,
    tail: Annotated[str, typer.Option("-n", "--tail", metavar="N",
                                      help='Lines from the end ("all" for every line)')] = "all",
    timestamps: Annotated[bool, typer.Option("-t", "--timestamps",
                                             help="Show timestamps")] = False,
) -> None:
    """Show a detached container's output (stdout to stdout, stderr to stderr)."""
    from launcher import containerops
    from launcher.errors import UsageError

    if tail != "all" and not (tail.isascii() and tail.isdigit()):
        raise UsageError(f'invalid argument "{tail}" for "-n, --tail" flag: want a number or all')
    records = containerops.logs(state_of(ctx.obj).paths(), ref, follow=follow,
                                tail=None if tail == "all" else int(tail), timestamps=timestamps)
    out, err = sys.stdout.buffer, sys.stderr.buffer
    for stream, data in records:
        target = err if stream == "stderr" else out
        target.write(data)
        if follow:
            target.flush()


def register(root: typer.Typer) -> None:
    """Top-level Docker names, plus the ``container`` group."""
    root.command("ps")(ps)
    root.command("rm")(rm)
    root.command("logs")(logs)
    app.command("ls")(ps)
    app.command("list", hidden=True)(ps)
    app.command("rm")(rm)
    app.command("logs")(logs)
    root.add_typer(app, name="container")
