"""``launcher doctor``: check this host and print the fix for each problem.

A rare command: plain typer, imported only by ``app``. The checks live in
``launcher.doctor``; this module only formats them. Exit status 1 when a check
failed (warnings do not fail).
"""

from __future__ import annotations

import sys

import typer

from launcher.cli.state import state_of
from launcher.cli.system import FORMATS, FormatOption, emit
from launcher.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.doctor import Check


def doctor(ctx: typer.Context, fmt: FormatOption = "table") -> None:
    """Check kernel features, rootless setup, QEMU, accelerators and disk space;
    print the fix for each problem."""
    if fmt not in FORMATS:
        raise UsageError(f'invalid argument "{fmt}" for "-f, --format" flag: must be one of: '
                         "table, json")
    from launcher import doctor as checks

    found = checks.run_checks(state_of(ctx.obj).paths())
    ok = not checks.failed(found)
    if fmt == "json":
        emit({"checks": [c.to_json() for c in found], "ok": ok}, "json")
    else:
        sys.stdout.write(table(found))
    if not ok:
        raise typer.Exit(1)


def table(found: list[Check]) -> str:
    """One line per check (status, name, detail), a ``fix:`` line under each
    one with something to do, and a count."""
    width = max((len(c.name) for c in found), default=0)
    lines = []
    for c in found:
        lines.append(f"{c.status:<4}  {c.name:<{width}}  {c.detail}")
        if c.fix and c.status != "ok":
            lines.append(f"{'':<4}  {'':<{width}}  fix: {c.fix}")
    counts = {s: sum(c.status == s for c in found) for s in ("ok", "warn", "fail", "skip")}
    lines.append(f"{len(found)} checks: {counts['ok']} ok, {counts['warn']} warnings, "
                 f"{counts['fail']} failed, {counts['skip']} skipped")
    return "\n".join(lines) + "\n"


def register(root: typer.Typer) -> None:
    root.command("doctor")(doctor)
