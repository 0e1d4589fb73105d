"""``launcher machine start [NAME]`` without typer: boot time is what users of a
VM wait on, and the typer app alone costs ~0.2 s to load. cli/machine.py's
``start`` (help, odd arguments) ends here too."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.paths import Paths


def start(paths: Paths, name: str) -> int:
    """Boot machine ``name``, each phase with its time on stderr."""
    from launcher.vm import ops

    def report(label: str, secs: float) -> None:
        sys.stderr.write(f"{label}: {secs:.2f}s\n")
        sys.stderr.flush()

    phases = ops.start(paths, name, report)
    print(f"machine {name} started in {sum(s for _, s in phases):.2f}s")
    return 0


def fast_args(rest: list[str]) -> str | None:
    """The machine name when ``rest`` (after ``machine``) is ``start [NAME]``."""
    from launcher.vm.machine import DEFAULT_NAME

    if rest[:1] != ["start"] or len(rest) > 2 or any(w.startswith("-") for w in rest[1:]):
        return None
    return rest[1] if len(rest) == 2 else DEFAULT_NAME
