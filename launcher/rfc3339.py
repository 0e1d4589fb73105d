"""RFC 3339 times as launcher writes and reads them (UTC, nanoseconds), without
``datetime`` (it costs import time on the container start path).

One place for the records (``created``, ``finished_at``), the json-file logs,
and the CLI's "3 minutes ago".
"""

from __future__ import annotations

import time

_NS = 1_000_000_000


def now() -> str:
    """This instant, with 9 fraction digits (Docker's form for container times)."""
    return format_time(time.time_ns(), fixed=True)


def format_time(ns: int, fixed: bool = False) -> str:
    """RFC 3339 UTC with nanoseconds; trailing zeros trimmed as Go's RFC3339Nano
    unless ``fixed`` (9 digits, the form ``docker logs -t`` prints)."""
    sec, frac = divmod(ns, _NS)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    digits = f"{frac:09d}"
    if not fixed:
        digits = digits.rstrip("0")
    return f"{base}.{digits}Z" if digits else base + "Z"


def parse_time(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time (``Z`` or ``±HH:MM``)."""
    head = text[:19]
    if len(head) != 19 or head[4] + head[7] + head[10] + head[13] + head[16] != "--T::":
        raise ValueError(f"invalid time {text!r}")
    fields = (head[0:4], head[5:7], head[8:10], head[11:13], head[14:16], head[17:19])
    if not all(f.isascii() and f.isdigit() for f in fields):
        raise ValueError(f"invalid time {text!r}")
    y, mo, d, h, mi, sec = (int(f) for f in fields)
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and sec <= 60):
        raise ValueError(f"invalid time {text!r}")
    rest, frac = text[19:], 0
    if rest.startswith("."):
        j = 1
        while j < len(rest) and "0" <= rest[j] <= "9":
            j += 1
        if j == 1:
            raise ValueError(f"invalid time {text!r}")
        frac, rest = int(rest[1:j][:9].ljust(9, "0")), rest[j:]
    if rest == "Z":
        offset = 0
    elif len(rest) == 6 and rest[0] in "+-" and rest[3] == ":" and rest[1:3].isdigit() \
            and rest[4:6].isdigit() and rest.isascii():
        offset = (int(rest[1:3]) * 60 + int(rest[4:6])) * 60 * (1 if rest[0] == "+" else -1)
    else:
        raise ValueError(f"invalid time {text!r}")
    days = _days_from_civil(y, mo, d)
    return (days * 86400 + h * 3600 + mi * 60 + sec - offset) * _NS + frac


def _days_from_civil(y: int, m: int, d: int) -> int:
    # Howard Hinnant's algorithm; avoids importing calendar/datetime.
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
