"""``launcher run``: parsed values → ``RunRequest`` → the engine, in the foreground.

Shared by the fast path (``main``) and the typer command (``app``): whichever
parser read the argv, the request is built and checked here, once.
"""

from __future__ import annotations

from launcher.cli.options import RUN
from launcher.cli.optspec import convert_values
from launcher.spec.request import RunRequest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.cli.fastparse import Parsed


def build_request(parsed: Parsed) -> RunRequest:
    """Positionals first, then options in table order: the order click reports errors."""
    pos = parsed.positionals(RUN)
    image, command = pos["image"], pos["command"]
    assert isinstance(image, str) and isinstance(command, list)
    req = RunRequest(image, command)
    for dest, value in convert_values(RUN, parsed.values).items():
        # Every dest of RUN is a RunRequest slot with the same default
        # (tests/unit/cli/test_options.py holds the two together).
        setattr(req, dest, value)
    return req


def execute(root: str | None, parsed: Parsed) -> int:
    """Run the container; returns the exit code to exit with."""
    req = build_request(parsed)
    from launcher import engine  # imported here: the table and parser stay importable alone
    from launcher.paths import Paths

    return engine.run_container(Paths.from_root(root), req)
