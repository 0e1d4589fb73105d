"""Shared hypothesis settings and JSON strategies for the fuzz tests (issue 7).

CI runs each property over a fixed, small, derandomized set of examples, so a
run is quick and repeatable. ``LAUNCHER_FUZZ_EXAMPLES=N`` runs N examples
from a random seed instead, for long local fuzzing:

    LAUNCHER_FUZZ_EXAMPLES=5000 .venv/bin/pytest -q tests/unit -k fuzz

A failure prints the shrunk example and a ``@reproduce_failure`` blob.
"""

from __future__ import annotations

import copy
import math
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

LONG_RUN = int(os.environ.get("LAUNCHER_FUZZ_EXAMPLES") or 0)


def fuzz_settings(examples: int) -> settings:
    """``examples`` in CI; LAUNCHER_FUZZ_EXAMPLES overrides it (and the seed)."""
    return settings(
        max_examples=LONG_RUN or examples,
        deadline=None,
        derandomize=not LONG_RUN,
        database=None,  # nothing written beside the tests
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,  # fixtures here are reused safely
        ],
    )


# -- JSON documents: arbitrary, and valid ones mutated ----------------------------------


def deep(depth: int) -> Any:
    """``[[[...]]]`` ``depth`` levels deep, built without recursion."""
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def deep_object(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth):
        value = {"linux": value}
    return value


HOSTILE_INTS = [2**64, 2**64 - 1, 2**63, -(2**63) - 1, 2**32, 2**32 - 1, 2**31, -1, 0, 1,
                10**30, -(10**30)]  # fmt: skip
HOSTILE_STRS = ["NaN", "Infinity", "", "\0", "a\0b", "../../etc", "/", "/proc/self/fd/3",
                "\udcff", "-1", "1.", "1.x", "SCMP_ACT_ALLOW", "CAP_SYS_ADMIN",
                "net.x"]  # fmt: skip
HOSTILE_OTHER = [1.5, -0.0, 1e308, math.inf, -math.inf, math.nan, True, False, None]


def _container(i: int) -> Any:
    """A fresh one on every draw: mutations change containers in place."""
    return [[], {}, [None], {"": None}][i]


hostile_containers = st.integers(0, 3).map(_container)
hostile_ints = st.sampled_from(HOSTILE_INTS) | st.integers()
hostile_strs = (
    st.sampled_from(HOSTILE_STRS)
    | st.text(max_size=12)
    | st.sampled_from([4096, 100_000]).map(lambda n: "x" * n)
)
hostile_scalars = hostile_ints | hostile_strs | st.sampled_from(HOSTILE_OTHER) | st.floats()
hostile_values = hostile_scalars | hostile_containers
scalars = st.none() | st.booleans() | hostile_scalars


def json_values(keys: list[str]) -> st.SearchStrategy[Any]:
    """Any JSON value; object keys mostly from ``keys`` so parsing goes deep."""
    key = st.sampled_from(keys) | st.text(max_size=6)
    return st.recursive(
        scalars,
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(key, kids, max_size=6),
        max_leaves=40,
    )


def garbage(keys: list[str]) -> st.SearchStrategy[Any]:
    return (
        hostile_values
        | json_values(keys)
        | st.sampled_from([200, 3000]).map(deep)
        | st.sampled_from([200, 3000]).map(deep_object)
    )


def tweak(value: Any, keys: list[str]) -> st.SearchStrategy[Any]:
    """A hostile value of the same JSON type, so the parser takes it to the validator."""
    if type(value) is bool:
        return st.booleans()
    if type(value) is int:
        return hostile_ints
    if type(value) is str:  # often the value itself, made hostile: keeps its meaning nearby
        near = [value + "\0", value[:1] + "\0" + value[1:], value + "/..", "../" + value,
                value + "\n", " " + value, value.upper(), value * 100, value[:-1]]  # fmt: skip
        return hostile_strs | st.sampled_from(near)
    if type(value) is list and value and type(value[0]) in (bool, int, str):
        return st.lists(tweak(value[0], keys), max_size=4)
    return garbage(keys)


def _children(v: Any) -> list[tuple[Any, Any]]:
    if type(v) is dict:
        return [(v, k) for k in v]
    return [(v, i) for i in range(len(v))] if type(v) is list else []


def _slots(doc: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) in a JSON document; a loop, as documents
    may be nested deeper than the recursion limit."""
    out, todo = [], _children(doc)
    while todo:
        container, key = todo.pop()
        out.append((container, key))
        todo.extend(_children(container[key]))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: Any, keys: list[str]) -> Any:
    """``base`` with 1-4 mutations: delete, replace, wrap in a list, add a key."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        slots = _slots(doc)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        how = draw(st.sampled_from(["tweak"] * 4 + ["delete", "replace", "wrap", "add"]))
        if how == "delete":
            del container[key]
        elif how == "tweak":
            container[key] = draw(tweak(container[key], keys))
        elif how == "replace":
            container[key] = draw(garbage(keys))
        elif how == "wrap":
            container[key] = [container[key]]
        elif type(container) is dict:
            container[draw(st.sampled_from(keys))] = draw(garbage(keys))
        else:
            container.append(draw(garbage(keys)))
    return doc


def has_null_or_nan(doc: Any) -> bool:
    values = [doc] + [c[k] for c, k in _slots(doc)]
    return any(v is None or (type(v) is float and math.isnan(v)) for v in values)
