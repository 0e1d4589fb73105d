"""quicktoml: where it answers, it answers as tomllib does; elsewhere it declines (None)."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from launcher import quicktoml

from .fuzz import fuzz_settings


def same_as_tomllib(text: str) -> object:
    """quicktoml's answer, checked against tomllib's wherever it gives one."""
    got = quicktoml.loads(text)
    if got is not None:
        assert got == tomllib.loads(text), text
    return got


@pytest.mark.parametrize(("text", "doc"), [
    ("", {}),
    ("# only a comment\n\n", {}),
    ('a = "x"\nb = 12\nc = \'lit\\eral\'\n', {"a": "x", "b": 12, "c": "lit\\eral"}),
    ('a="x"#c\n b = 0 # zero\r\n', {"a": "x", "b": 0}),
    ('a = "# not a comment"\n', {"a": "# not a comment"}),
    ('top = 1\n[ machine ] # c\ncpus = 4\nmemory = "2g"\n[other]\ncpus = 1\n',
     {"top": 1, "machine": {"cpus": 4, "memory": "2g"}, "other": {"cpus": 1}}),
    ('name = "ünïcode ✓"\n', {"name": "ünïcode ✓"}),
])
def test_the_plain_subset(text: str, doc: dict[str, object]) -> None:
    assert same_as_tomllib(text) == doc


@pytest.mark.parametrize("text", [
    'a = "tab\\tescape"\n',      # escapes: tomllib decodes them
    'a = """multi"""\n',
    "a = '''multi'''\n",
    "a = 1_000\n", "a = -1\n", "a = 0x10\n", "a = 1.5\n", "a = true\n", "a = [1]\n",
    "a = {b = 1}\n", "a.b = 1\n", '"a" = 1\n', "[a.b]\n", "[[a]]\n",
    "a = 1\na = 2\n", "[t]\n[t]\n", "t = 1\n[t]\n",  # repeats: tomllib's error to give
    "a = 01\n", "a = \n", "a = 'x' y\n", "[t] x\n", "a\n", "= 1\n",
    "# nul \x00\n", "a = 'x\x01'\n", "a = 1\rb = 2\n",
])
def test_everything_else_is_left_to_tomllib(text: str) -> None:
    assert quicktoml.loads(text) is None


FRAGMENTS = ["a", "b", "machine", "=", " ", "\t", "\n", "\r\n", "#", "[", "]", '"', "'",
             "\\", "0", "1", "12", "_", "-", ".", "x y", "✓", "\x00", "\x7f", "true", "[["]


@fuzz_settings(500)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join))
def test_fuzz_never_disagrees_with_tomllib(text: str) -> None:
    same_as_tomllib(text)


LINES = st.one_of(
    st.sampled_from(["", "# c", "[machine]", "[ t ] # c", "[t]x"]),
    st.builds(lambda k, v: f"{k} = {v}", st.sampled_from(["a", "b", "cpus", "a b", ""]),
              st.one_of(st.integers(0, 10**6).map(str), st.text(max_size=8).map(repr),
                        st.text(max_size=8).map(lambda s: f'"{s}"'))),
)


@fuzz_settings(500)
@given(st.lists(LINES, max_size=8).map("\n".join))
def test_fuzz_line_shaped_documents(text: str) -> None:
    same_as_tomllib(text)
