"""``launcher import ROOTFS.tar NAME[:TAG]``: prints the new image's id, as ``docker import``."""

from __future__ import annotations

import sys

from launcher.cli.options import IMPORT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.cli.fastparse import Parsed


def execute(root: str | None, parsed: Parsed) -> int:
    pos = parsed.positionals(IMPORT)
    source, ref = pos["source"], pos["ref"]
    assert isinstance(source, str) and isinstance(ref, str)
    from launcher import engine
    from launcher.paths import Paths

    image_id = engine.import_image(Paths.from_root(root), source, ref)
    sys.stdout.write(image_id + "\n")
    return 0
