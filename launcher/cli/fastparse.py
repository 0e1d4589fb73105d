"""A getopt-style parser driven by ``optspec.CommandSpec``; no typer, no re.

It tokenizes the way click does (the parser behind the typer commands that
``app`` generates from the same table), so both paths agree on every argv:

- ``--opt value``, ``--opt=value``, ``-o value``, ``-ovalue``, clusters ``-it``
  (a value option ends a cluster: ``-itm64m``);
- ``--`` ends the options; with ``interspersed=False`` so does the first
  positional, and everything after it is passed on verbatim (``--`` included);
- a value option takes the next word whatever it looks like (``-e --help``);
- ``--help`` (and ``-h`` where the command has no ``-h``) asks for help, which
  is left to the typer app; a bad token after it is still an error.

Errors are ``UsageError`` with Docker's wording (``unknown flag: --foo``).
"""

from __future__ import annotations

import os

from launcher.cli.optspec import FLAG, HELP_NAMES, MULTI, CommandSpec, Opt
from launcher.errors import UsageError


class Parsed:
    """What the parser saw: raw option values by ``dest`` and the positionals."""

    __slots__ = ("args", "help", "values")

    def __init__(self, values: dict[str, object], args: list[str], help: bool = False) -> None:
        self.values = values  # FLAG: bool, VALUE: str | None, MULTI: list[str]
        self.args = args
        self.help = help

    def positionals(self, spec: CommandSpec) -> dict[str, object]:
        """``args`` by the spec's positional names; raises the arity error."""
        fixed = [a for a in spec.args if not a.rest]
        rest = [a for a in spec.args if a.rest]
        if len(self.args) < len(fixed) or (not rest and len(self.args) > len(fixed)):
            raise spec.arity_error()
        out: dict[str, object] = {a.dest: v for a, v in zip(fixed, self.args, strict=False)}
        for a in rest:
            out[a.dest] = self.args[len(fixed) :]
        return out


def parse(spec: CommandSpec, argv: list[str]) -> Parsed:
    values = {o.dest: o.initial() for o in spec.options}
    result = Parsed(values, [])
    i, n = 0, len(argv)
    while i < n:
        arg = argv[i]
        i += 1
        if arg == "--":
            result.args.extend(argv[i:])
            break
        if arg.startswith("--"):
            i = _long(spec, result, arg, argv, i)
        elif arg.startswith("-") and len(arg) > 1:
            i = _short_cluster(spec, result, arg, argv, i)
        else:
            result.args.append(arg)
            if not spec.interspersed:
                result.args.extend(argv[i:])
                break
    _fill_from_env(spec, values)
    return result


def _long(spec: CommandSpec, result: Parsed, arg: str, argv: list[str], i: int) -> int:
    name, eq, inline = arg.partition("=")
    opt = spec.long.get(name)
    if opt is None:
        if name not in HELP_NAMES:
            raise UsageError(f"unknown flag: {name}")
        if eq:
            raise UsageError(f"flag does not take a value: {name}")
        result.help = True
        return i
    if opt.kind == FLAG:
        if eq:
            raise UsageError(f"flag does not take a value: {name}")
        result.values[opt.dest] = True
        return i
    if eq:
        _store(result, opt, inline)
        return i
    if i >= len(argv):
        raise UsageError(f"flag needs an argument: {name}")
    _store(result, opt, argv[i])
    return i + 1


def _short_cluster(spec: CommandSpec, result: Parsed, arg: str, argv: list[str], i: int) -> int:
    for pos in range(1, len(arg)):
        ch = arg[pos]
        opt = spec.short.get(ch)
        if opt is None:
            if "-" + ch in HELP_NAMES:
                result.help = True
                continue
            raise UsageError(f"unknown shorthand flag: '{ch}'")
        if opt.kind == FLAG:
            result.values[opt.dest] = True
            continue
        if pos + 1 < len(arg):  # -m64m: the rest of the word is the value
            _store(result, opt, arg[pos + 1 :])
            return i
        if i >= len(argv):
            raise UsageError(f"flag needs an argument: -{ch}")
        _store(result, opt, argv[i])
        return i + 1
    return i


def _store(result: Parsed, opt: Opt, value: str) -> None:
    if opt.kind == MULTI:
        held = result.values[opt.dest]
        assert isinstance(held, list)
        held.append(value)
    else:
        result.values[opt.dest] = value


def _fill_from_env(spec: CommandSpec, values: dict[str, object]) -> None:
    for opt in spec.options:
        if opt.env and values[opt.dest] is None:
            values[opt.dest] = os.environ.get(opt.env) or None
