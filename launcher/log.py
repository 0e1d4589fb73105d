"""launcher's messages on stderr: ``launcher: LEVEL: message``, one line each.

Four levels, lowest first: debug, info, warning (the default), error. A message
is printed when its level is at least the one set by ``--log-level``, then
``LAUNCHER_LOG_LEVEL``, then ``log_level`` in launcher.toml (``--debug`` means
debug). No ``logging`` (~6 ms to import): levels are ints, one global level.

The CLI sets the level before it runs a command. When neither the flag nor the
environment names one, it installs a *resolver* instead, which reads the config
file the first time a message is about to be printed: a command that logs
nothing never reads it for this.
"""

from __future__ import annotations

import sys

from launcher.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40
LEVELS = {"debug": DEBUG, "info": INFO, "warning": WARNING, "error": ERROR}
NAMES = {number: name for name, number in LEVELS.items()}

# [the level in force, the resolver that has not run yet (or None)]
_level: list[int] = [WARNING]
_resolver: list[Callable[[], str] | None] = [None]


def parse_level(name: str) -> int:
    """``"info"`` → INFO (any case); ValueError naming the choices otherwise."""
    number = LEVELS.get(name.strip().lower())
    if number is None:
        raise ValueError(f"expected {', '.join(LEVELS)}")
    return number


def set_level(name: str) -> None:
    """Set the level by name; ``UsageError`` (exit 125) for an unknown one."""
    try:
        number = parse_level(name)
    except ValueError as exc:
        raise UsageError(f"invalid log level {name!r}: {exc}") from None
    _level[0] = number
    _resolver[0] = None


def set_level_resolver(resolve: Callable[[], str]) -> None:
    """Decide the level later, by calling ``resolve()`` (a level name) once, on
    the first message; until then nothing is read."""
    _level[0] = WARNING
    _resolver[0] = resolve


def level() -> int:
    """The level in force (runs a pending resolver)."""
    resolve = _resolver[0]
    if resolve is not None:
        # Cleared first: a resolver that fails (a broken config file) raises
        # once, to the command's caller, and the default level stays.
        _resolver[0] = None
        _level[0] = parse_level(resolve())
    return _level[0]


def enabled(number: int) -> bool:
    """Whether a message at this level would be printed (to skip costly ones)."""
    return number >= level()


def _emit(number: int, message: str) -> None:
    if number >= level():
        sys.stderr.write(f"launcher: {NAMES[number]}: {message}\n")


def debug(message: str) -> None:
    _emit(DEBUG, message)


def info(message: str) -> None:
    _emit(INFO, message)


def warning(message: str) -> None:
    _emit(WARNING, message)


def error(message: str) -> None:
    _emit(ERROR, message)
