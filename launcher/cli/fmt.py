"""How listings print: tables, JSON lines, sizes and ages the way Docker shows them."""

from __future__ import annotations

import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

LISTING_FORMATS = ("table", "json")


def check_format(fmt: str, allowed: Sequence[str] = LISTING_FORMATS) -> str:
    from launcher.errors import UsageError

    if fmt not in allowed:
        raise UsageError(f'invalid argument "{fmt}" for "--format" flag: must be one of: '
                         + ", ".join(allowed))
    return fmt


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns padded to their widest cell, three spaces apart (as docker prints)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    for row in [list(headers), *rows]:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        sys.stdout.write("   ".join(cells).rstrip() + "\n")


def json_lines(objects: Sequence[Mapping[str, object]]) -> None:
    """``--format json`` of a listing: one JSON object per line, like ``docker … --format json``."""
    import json

    for obj in objects:
        sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")


def json_doc(obj: object) -> None:
    """``inspect``: an indented JSON document."""
    import json

    sys.stdout.write(json.dumps(obj, indent=4) + "\n")


def size(n: int) -> str:
    """Decimal units as Docker's ``go-units.HumanSize``: 4.26MB, 1.2GB, 512B."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.4g}{unit}" if unit != "B" else f"{int(value)}B"
        value /= 1000
    return f"{n}B"


def parse_time(text: str) -> float | None:
    """RFC 3339 (``2024-05-01T12:00:00.123456789Z`` or with an offset) → epoch seconds."""
    from launcher.rfc3339 import parse_time as parse_ns

    try:
        return parse_ns(text.strip()) / 1e9 if text else None
    except ValueError:
        return None


def since(text: str, now: float | None = None) -> str:
    """``3 days ago`` from an RFC 3339 time, as Docker's CREATED column."""
    when = parse_time(text)
    if when is None:
        return "N/A"
    delta = max(0.0, (time.time() if now is None else now) - when)
    return ago(delta)


def ago(seconds: float) -> str:
    if seconds < 1:
        return "Less than a second ago"
    steps = ((60, "second", 1), (3600, "minute", 60), (86400 * 2, "hour", 3600),
             (86400 * 14, "day", 86400), (86400 * 60, "week", 86400 * 7),
             (86400 * 365 * 2, "month", 86400 * 30))
    for limit, unit, div in steps:
        if seconds < limit:
            n = int(seconds // div)
            if unit == "second" and n == 1:
                return "1 second ago"
            if n == 1:
                return f"About a{'n' if unit == 'hour' else ''} {unit} ago"
            return f"{n} {unit}s ago"
    return f"{int(seconds // (86400 * 365))} years ago"
