"""Container commands, Docker's names and flags: ``ps`` and ``rm`` at the top level
and under ``launcher container`` (``ls``, ``rm``). Each parses, calls
``launcher.containerops``, and prints.

Rare commands: plain typer, imported only by ``app``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer

from launcher import log
from launcher.cli import fmt
from launcher.cli.lifecycle import each
from launcher.cli.state import state_of
from launcher.errors import LauncherError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.backend.linux.containers import Container
    from launcher.backend.linux.stats import Sample
    from launcher.paths import Paths

app = typer.Typer(help="Manage containers.", no_args_is_help=True)


def ps(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("-a", "--all", help="Also stopped containers")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only container IDs")] = False,
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Full IDs and commands")] = False,
    output: Annotated[str, typer.Option("--format", metavar="FORMAT",
                                        help="table or json")] = "table",
    filters: Annotated[list[str] | None, typer.Option(
        "-f", "--filter", metavar="KEY=VALUE",
        help="status, name, id, label, exited, ancestor (repeatable)")] = None,
) -> None:
    """List containers."""
    from launcher import containerops

    fmt.check_format(output)
    found, problems = containerops.list_containers(state_of(ctx.obj).paths(), all_=all_,
                                                   filters=filters)
    for problem in problems:
        log.warning(problem)
    if quiet:
        sys.stdout.write("".join(f"{c.id if no_trunc else c.id[:12]}\n" for c in found))
    elif output == "json":
        fmt.json_lines([_json_row(c, no_trunc) for c in found])
    else:
        head = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
        fmt.table(head, [[c.id if no_trunc else c.id[:12], c.record.image,
                          _command(c, no_trunc), fmt.since(c.record.created), status_text(c),
                          _ports(c), c.record.name] for c in found])


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
    if c.status == "restarting":
        code = "?" if rec.exit_code is None else str(rec.exit_code)
        return f"Restarting ({code}) {fmt.since(rec.finished_at or rec.created)}"
    return c.status.capitalize()


def _ports(c: Container) -> str:
    """Docker's PORTS column: what a running container publishes."""
    if not c.running:
        return ""
    from launcher.network.report import ports_column

    return ports_column(c.record.bundle, True)


def _command(c: Container, no_trunc: bool) -> str:
    text = " ".join(c.record.command)
    if not no_trunc and len(text) > 20:
        text = text[:19] + "…"
    return f'"{text}"'


def _json_row(c: Container, no_trunc: bool) -> dict[str, object]:
    rec = c.record
    return {"Command": _command(c, True), "CreatedAt": rec.created,
            "ID": c.id if no_trunc else c.id[:12],
            "Image": rec.image, "Names": rec.name, "State": c.status,
            "Status": status_text(c), "Ports": _ports(c), "RunningFor": fmt.since(rec.created),
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(rec.labels.items()))}


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


Refs = Annotated[list[str], typer.Argument(metavar="CONTAINER...", show_default=False)]


def wait(ctx: typer.Context, refs: Refs) -> None:
    """Wait for containers to stop; print their exit codes."""
    from launcher import containerlife

    paths = state_of(ctx.obj).paths()

    def one(ref: str) -> None:
        sys.stdout.write(f"{containerlife.wait(paths, ref)}\n")
        sys.stdout.flush()

    each(refs, one, echo=False)


def inspect(
    ctx: typer.Context,
    refs: Annotated[list[str], typer.Argument(metavar="NAME|ID...", show_default=False)],
) -> None:
    """Details of containers or images, as JSON (Docker's field names)."""
    from launcher import containerlife, imageops
    from launcher.errors import NotFoundError

    paths = state_of(ctx.obj).paths()
    found: list[object] = []

    def one(ref: str) -> None:
        try:
            found.append(containerlife.inspect(paths, ref))
        except NotFoundError:
            try:
                found.append(imageops.inspect(paths, ref))
            except NotFoundError:
                raise NotFoundError(f"No such object: {ref}") from None

    try:
        each(refs, one, echo=False)
    finally:
        fmt.json_doc(found)


def stats(
    ctx: typer.Context,
    refs: Annotated[list[str] | None, typer.Argument(
        metavar="[CONTAINER...]", show_default=False,
        help="Containers (default: every running one)")] = None,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="One sample, then exit")]
    = False,
    output: Annotated[str, typer.Option("--format", metavar="FORMAT",
                                        help="table or json")] = "table",
) -> None:
    """CPU, memory and pids of running containers, from their cgroups: a live view
    refreshed every second until interrupted, or one sample with --no-stream."""
    import time

    fmt.check_format(output)
    paths = state_of(ctx.obj).paths()
    named = list(refs or [])
    prev: dict[str, Sample] = {}
    clear = output == "table" and not no_stream and sys.stdout.isatty()
    while True:
        rows = _stats_rows(paths, named, prev)
        if no_stream and not rows[1]:  # CPU% needs two samples, as docker's first line
            time.sleep(0.5)
            rows = _stats_rows(paths, named, prev)
        if clear:
            sys.stdout.write("\x1b[2J\x1b[H")
        _print_stats(rows[0], output)
        if no_stream:
            return
        sys.stdout.flush()
        time.sleep(1.0)


def _stats_rows(paths: Paths, named: list[str],
                prev: dict[str, Sample]) -> tuple[list[dict[str, str]], bool]:
    """A row per container (the named ones, else every running one) and whether
    each had a previous sample; ``prev`` keeps this round's samples."""
    from launcher import containerlife, containerops
    from launcher.backend.linux import stats as st

    refs = named or [c.id for c in containerops.list_containers(paths, all_=False)[0]]
    rows, complete = [], True
    for ref in refs:
        try:
            c, cur = containerlife.stats_sample(paths, ref)
        except LauncherError:
            if named:
                raise
            continue  # ended meanwhile
        before = prev.get(c.id)
        complete = complete and before is not None
        prev[c.id] = cur
        rows.append(st.format_row(c.record.name or c.id[:12], cur, before,
                                  container_id=c.id, container=ref if named else None))
    return rows, complete


def _print_stats(rows: list[dict[str, str]], output: str) -> None:
    if output == "json":
        fmt.json_lines(rows)
        return
    keys = ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs"]
    head = ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O",
            "BLOCK I/O", "PIDS"]
    fmt.table(head, [[str(r.get(k, "--")) for k in keys] for r in rows])


def top(ctx: typer.Context,
        ref: Annotated[str, typer.Argument(metavar="CONTAINER", show_default=False)],
        output: Annotated[str, typer.Option("--format", metavar="FORMAT",
                                            help="table or json")] = "table") -> None:
    """The processes of a running container (ps -ef columns)."""
    from launcher import containerlife
    from launcher.backend.linux.top import TOP_TITLES

    fmt.check_format(output)
    rows = containerlife.top(state_of(ctx.obj).paths(), ref)
    if output == "json":
        fmt.json_lines([dict(zip(TOP_TITLES, row, strict=True)) for row in rows])
    else:
        fmt.table(TOP_TITLES, rows)


def pause(ctx: typer.Context, refs: Refs) -> None:
    """Freeze every process of running containers."""
    from launcher import containerlife

    paths = state_of(ctx.obj).paths()
    each(refs, lambda ref: containerlife.pause(paths, ref, True))


def unpause(ctx: typer.Context, refs: Refs) -> None:
    """Thaw paused containers."""
    from launcher import containerlife

    paths = state_of(ctx.obj).paths()
    each(refs, lambda ref: containerlife.pause(paths, ref, False))


def rename(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="CONTAINER", show_default=False)],
    new: Annotated[str, typer.Argument(metavar="NEW_NAME", show_default=False)],
) -> None:
    """Give a container another name."""
    from launcher import containerlife

    containerlife.rename(state_of(ctx.obj).paths(), ref, new)


def prune(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("-f", "--force", help="Do not ask")] = False,
) -> None:
    """Remove every container that is not running."""
    from launcher import containerops

    warning = ("WARNING! This will remove all stopped containers.\n"
               "Are you sure you want to continue?")
    if not force and not typer.confirm(warning):
        return
    removed = containerops.prune(state_of(ctx.obj).paths())
    if removed:
        sys.stdout.write("Deleted Containers:\n" + "".join(f"{c}\n" for c in removed) + "\n")
    sys.stdout.write("Total reclaimed space: 0B\n")


def register(root: typer.Typer, hot: Callable[[typer.Typer, str], None]) -> None:
    """Top-level Docker names, plus all of them under ``container``; ``hot(group,
    name)`` adds a hot command (``rm``, ``stop``, ``kill``, ``exec``, ``run``: one
    table, one executor, see ``lifecycle``) to the group."""
    root.command("ps")(ps)
    root.command("logs")(logs)
    app.command("ls")(ps)
    app.command("list", hidden=True)(ps)
    app.command("logs")(logs)
    for name in ("run", "rm", "stop", "kill", "exec"):
        hot(app, name)
    app.command("prune")(prune)
    from launcher.cli.attach import attach

    root.command("attach")(attach)
    app.command("attach")(attach)
    for name, func in (("wait", wait), ("inspect", inspect), ("stats", stats), ("top", top),
                       ("pause", pause), ("unpause", unpause), ("rename", rename)):
        root.command(name)(func)
        app.command(name)(func)
    root.add_typer(app, name="container")
