"""``--log-driver`` and ``--log-opt``: where a detached container's output goes.

Drivers: ``json-file`` (Docker's format, the default; logfile.py) and
``none`` (output discarded, ``logs`` refuses, as Docker's). json-file options,
with Docker's names: ``max-size`` (``10m``; ``-1`` = no cap) and ``max-file``
(files kept, counting the live one). Without options a log is capped at
10 MiB x 3 files: Docker's default is no cap, which lets one chatty container
fill a disk; ``--log-opt max-size=-1`` restores that.
"""

from __future__ import annotations

DRIVERS = ("json-file", "none")
DEFAULT_MAX_SIZE = 10 << 20
DEFAULT_MAX_FILES = 3
_KEYS = ("max-size", "max-file")


def log_driver(text: str) -> str:
    if text not in DRIVERS:
        raise ValueError(f"unknown log driver {text!r}: want one of " + ", ".join(DRIVERS))
    return text


def log_opt(text: str) -> tuple[str, str]:
    """``KEY=VALUE``, checked now so a bad value fails ``run``, not the monitor."""
    key, eq, value = text.partition("=")
    if not eq or key not in _KEYS:
        raise ValueError(f"unknown log opt {text!r}: want KEY=VALUE with KEY one of "
                         + ", ".join(_KEYS))
    if key == "max-size" and value != "-1":
        from launcher.backend.linux.logfile import parse_size

        if parse_size(value) <= 0:
            raise ValueError("max-size must be positive (or -1: no cap)")
    if key == "max-file" and (not value.isdigit() or int(value) < 1):
        raise ValueError(f"invalid max-file {value!r}: want a whole number, at least 1")
    return key, value


def limits(opts: dict[str, str]) -> tuple[int | None, int]:
    """(max bytes per file or None for no cap, files kept) from the options."""
    from launcher.backend.linux.logfile import parse_size

    size = opts.get("max-size")
    max_size = DEFAULT_MAX_SIZE if size is None else None if size == "-1" else parse_size(size)
    return max_size, int(opts.get("max-file") or DEFAULT_MAX_FILES)
