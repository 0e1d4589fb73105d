"""The table itself: well-formed, and in step with RunRequest."""

from __future__ import annotations

import pytest

from launcher.cli import options
from launcher.cli.optspec import FLAG, MULTI, VALUE, CommandSpec, convert_values
from launcher.spec.request import RunRequest

SPECS = [options.GLOBAL, *options.HOT.values()]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_names_are_unique_and_well_formed(spec: CommandSpec) -> None:
    names = [n for o in spec.options for n in o.names]
    assert len(names) == len(set(names))
    for name in names:
        assert (len(name) == 2 and name[0] == "-" and name[1] != "-") or (
            name.startswith("--") and len(name) > 3
        ), name
    assert "--help" not in names  # help belongs to HELP_NAMES
    for opt in spec.options:
        assert opt.kind in (FLAG, VALUE, MULTI)
        assert opt.help
        assert bool(opt.metavar) == (opt.kind != FLAG), opt.dest
    rest = [a for a in spec.args if a.rest]
    assert len(rest) <= 1 and (not rest or spec.args[-1] is rest[0])


def test_run_dests_are_request_slots_with_the_same_defaults() -> None:
    """run.build_request sets each dest on RunRequest: names and defaults must agree."""
    blank = RunRequest("img")
    raw = {o.dest: o.initial() for o in options.RUN.options}
    for dest, value in convert_values(options.RUN, raw).items():
        assert dest in RunRequest.__slots__, dest
        assert getattr(blank, dest) == value, dest
    positional = {a.dest for a in options.RUN.args}
    assert positional == {"image", "command"}


def test_run_looks_options_up_by_short_and_long_name() -> None:
    assert options.RUN.long["--memory"].dest == "memory"
    assert options.RUN.long["--net"].dest == "network"
    assert options.RUN.short["h"].dest == "hostname"


def test_options_module_imports_no_typer() -> None:
    import ast
    import inspect

    for mod in ("options", "optspec", "netopts", "fastparse", "convert", "run", "image", "main",
                "state"):
        source = inspect.getsource(__import__(f"launcher.cli.{mod}", fromlist=["x"]))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
                assert not any(n.split(".")[0] in ("typer", "click", "rich") for n in names), mod
