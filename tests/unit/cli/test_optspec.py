"""The table machinery: labels, arity messages, and checking parsed strings."""

from __future__ import annotations

import pytest

from launcher.cli import options
from launcher.cli.optspec import FLAG, MULTI, VALUE, Arg, CommandSpec, Opt, convert_values
from launcher.errors import UsageError


def _positive(text: str) -> int:
    if not text.isdigit():
        raise ValueError("must be a number")
    return int(text)


SPEC = CommandSpec(
    "demo",
    "A demo command.",
    (
        Opt(("-q", "--quiet"), "quiet", FLAG, "Say less"),
        Opt(("-n", "--count"), "count", VALUE, "How many", metavar="N", convert=_positive),
        Opt(("--tag",), "tags", MULTI, "A tag", metavar="T", convert=str.upper),
        Opt(("--name",), "name", VALUE, "A name", metavar="NAME", default="x"),
    ),
    (Arg("first", "A", "One"),),
)


def test_label_is_short_then_long() -> None:
    assert SPEC.long["--count"].label == "-n, --count"
    assert options.RUN.long["--net"].label == "--network, --net"


def test_lookups_by_short_and_long_name() -> None:
    assert SPEC.short["q"].dest == "quiet" and SPEC.long["--quiet"] is SPEC.short["q"]
    assert "--tag" in SPEC.long and "t" not in SPEC.short


def test_initial_values_by_kind() -> None:
    assert [o.initial() for o in SPEC.options] == [False, None, [], "x"]


def test_arity_messages() -> None:
    assert str(SPEC.arity_error()) == '"demo" requires exactly 1 argument'
    assert str(options.RUN.arity_error()) == '"run" requires at least 1 argument'
    assert str(options.IMPORT.arity_error()) == '"import" requires exactly 2 arguments'


def test_convert_values_converts_each_occurrence() -> None:
    raw: dict[str, object] = {"quiet": True, "count": "3", "tags": ["a", "b"], "name": "y"}
    assert convert_values(SPEC, raw) == {
        "quiet": True, "count": 3, "tags": ["A", "B"], "name": "y",
    }  # fmt: skip
    unset: dict[str, object] = {o.dest: o.initial() for o in SPEC.options}
    assert convert_values(SPEC, unset) == unset


def test_a_bad_value_is_a_usage_error_naming_the_flag() -> None:
    raw: dict[str, object] = {"quiet": False, "count": "many", "tags": [], "name": None}
    with pytest.raises(UsageError) as info:
        convert_values(SPEC, raw)
    assert str(info.value) == 'invalid argument "many" for "-n, --count" flag: must be a number'
