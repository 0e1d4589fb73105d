"""What a backend offers the rest of launcher (a Protocol; one factory picks it)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    from launcher.spec.request import RunRequest

    class Backend(Protocol):
        """Runs containers somewhere: natively, or (later) inside a Linux VM."""

        name: str
        features: frozenset[str]

        def run(self, req: RunRequest, mark: Callable[[str], None]) -> int:
            """Run in the foreground; the container's exit code (Docker's conventions)."""
            ...
