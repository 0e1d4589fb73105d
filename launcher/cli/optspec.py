"""The option-table machinery: ``Opt``, ``Arg``, ``CommandSpec`` and ``convert_values``.

Plain classes, no typer: ``fastparse`` parses argv against these tables and
``app`` generates typer commands from them. The tables themselves live in
``options`` (``launcher``'s commands) and ``launcher.runtime.options``.

Values travel as strings from either parser; ``convert_values`` turns them into
checked values once, so both paths accept and reject exactly the same input.
"""

from __future__ import annotations

from launcher.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

FLAG = "flag"  # --rm: present or not; never takes a value
VALUE = "value"  # --memory 64m: last one wins
MULTI = "multi"  # -e K=V -e K2=V2: every occurrence kept, in order

# Help is asked for with one of these wherever an option may stand; "-h" only
# where the command does not claim it (``run -h`` is the hostname, as in Docker).
HELP_NAMES = ("-h", "--help")


class Opt:
    """One option: its names, what it holds, and how it reads in ``--help``."""

    __slots__ = ("convert", "default", "dest", "env", "help", "kind", "metavar", "names")

    def __init__(
        self,
        names: tuple[str, ...],
        dest: str,
        kind: str = FLAG,
        help: str = "",
        *,
        metavar: str = "",
        convert: Callable[[str], object] | None = None,
        default: str | None = None,
        env: str | None = None,
    ) -> None:
        self.names = names  # short ("-e") and long ("--env") names, as typed
        self.dest = dest  # key in the parsed values (a RunRequest slot for `run`)
        self.kind = kind
        self.help = help
        self.metavar = metavar
        self.convert = convert  # str -> value, raises ValueError(reason); None keeps the str
        self.default = default  # the raw string used when the option is absent
        self.env = env  # environment variable read when the option is absent (VALUE only)

    @property
    def label(self) -> str:
        """``-m, --memory`` as Docker names a flag in messages."""
        short = [n for n in self.names if not n.startswith("--")]
        return ", ".join(short + [n for n in self.names if n.startswith("--")])

    def initial(self) -> object:
        """The raw value before any occurrence is seen."""
        if self.kind == FLAG:
            return False
        if self.kind == MULTI:
            return []
        return self.default


class Arg:
    """A positional argument; ``rest`` takes everything after it (``CMD...``)."""

    __slots__ = ("dest", "help", "metavar", "rest")

    def __init__(self, dest: str, metavar: str, help: str, *, rest: bool = False) -> None:
        self.dest = dest
        self.metavar = metavar
        self.help = help
        self.rest = rest


class CommandSpec:
    """A command's options and positionals, with the lookups the parser needs."""

    __slots__ = ("args", "help", "interspersed", "long", "name", "options", "short")

    def __init__(
        self,
        name: str,
        help: str,
        options: tuple[Opt, ...],
        args: tuple[Arg, ...] = (),
        *,
        interspersed: bool = True,
    ) -> None:
        self.name = name
        self.help = help
        self.options = options
        self.args = args
        # False: options end at the first positional, the rest is passed on
        # verbatim (``launcher run busybox ls -l`` gives ``-l`` to ls).
        self.interspersed = interspersed
        self.long = {n: o for o in options for n in o.names if n.startswith("--")}
        self.short = {n[1]: o for o in options for n in o.names if len(n) == 2}

    def arity_error(self) -> UsageError:
        fixed = sum(1 for a in self.args if not a.rest)
        plural = "" if fixed == 1 else "s"
        how = "at least" if any(a.rest for a in self.args) else "exactly"
        return UsageError(f'"{self.name}" requires {how} {fixed} argument{plural}')


def convert_values(spec: CommandSpec, raw: dict[str, object]) -> dict[str, object]:
    """Raw parsed values → checked values, in table order (so errors come in that order)."""
    out: dict[str, object] = {}
    for opt in spec.options:
        value = raw[opt.dest]
        if opt.convert is not None:
            if isinstance(value, list):
                value = [_convert(opt, str(v)) for v in value]
            elif isinstance(value, str):
                value = _convert(opt, value)
        out[opt.dest] = value
    return out


def _convert(opt: Opt, text: str) -> object:
    assert opt.convert is not None
    try:
        return opt.convert(text)
    except ValueError as exc:
        msg = f'invalid argument "{text}" for "{opt.label}" flag: {exc}'
        raise UsageError(msg) from None
