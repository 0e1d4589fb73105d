"""The plain subset of TOML that launcher's settings files are written in, parsed
without ``tomllib``.

Why: ``import tomllib`` costs 10-15 ms (it brings ``re``, ``typing``, ``enum``
and ``datetime``), most of a ~20 ms ``launcher run``, and every run with a
launcher.toml would pay it. ``loads`` accepts only lines of these shapes::

    # a comment                 (and blank lines)
    [table]                     a bare name, once, optionally "# comment" after
    key = "text"                a bare key; a basic string without backslashes
    key = 'text'                a literal string
    key = 12                    a non-negative decimal integer

and returns None for anything else (escapes, dotted or quoted keys, arrays,
floats, booleans, a repeated key or table, control characters...), which the
caller then hands to ``tomllib``: the full parser stays the authority, and on
what this subset accepts it returns the same dict (a fuzz test holds them equal).
"""

from __future__ import annotations

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_DIGITS = frozenset("0123456789")
# TOML forbids these everywhere, comments included (tab and newline aside).
_CONTROL = frozenset([*map(chr, range(0x20)), "\x7f"]) - {"\t", "\n"}


def loads(text: str) -> dict[str, object] | None:
    """The document, or None where it leaves the subset (see the module docstring)."""
    text = text.replace("\r\n", "\n")
    if not _CONTROL.isdisjoint(text):
        return None
    doc: dict[str, object] = {}
    table = doc
    for raw in text.split("\n"):
        line = raw.strip(" \t")
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            name, ok = _header(line)
            if not ok or name in doc:
                return None
            table = doc[name] = {}
            continue
        key, eq, rest = line.partition("=")
        key = key.strip(" \t")
        if not eq or not _is_bare(key) or key in table:
            return None
        value = _value(rest.strip(" \t"))
        if value is None:
            return None
        table[key] = value
    return doc


def _is_bare(name: str) -> bool:
    return bool(name) and _BARE.issuperset(name)


def _header(line: str) -> tuple[str, bool]:
    end = line.find("]")
    if line.startswith("[[") or end < 0:
        return "", False
    name = line[1:end].strip(" \t")
    return name, _is_bare(name) and _comment_or_nothing(line[end + 1:])


def _value(text: str) -> str | int | None:
    if text[:1] in ('"', "'"):
        quote = text[0]
        end = text.find(quote, 1)
        inner = text[1:end]
        if end < 0 or (quote == '"' and "\\" in inner) or not _comment_or_nothing(
                text[end + 1:]):
            return None  # unterminated, an escape, multi-line ("""), or trailing text
        return inner
    token = text.partition("#")[0].strip(" \t")
    if not token or not _DIGITS.issuperset(token) or (len(token) > 1 and token[0] == "0"):
        return None
    return int(token)


def _comment_or_nothing(text: str) -> bool:
    rest = text.strip(" \t")
    return not rest or rest.startswith("#")
