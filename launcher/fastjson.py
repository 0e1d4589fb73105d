"""JSON without importing :mod:`json`.

``import json`` pulls in :mod:`re` and :mod:`enum` (about 9 ms here); the
container start path reads and writes config.json and state.json on every
run, so it uses the C accelerator ``_json`` directly — the very functions
:mod:`json` itself delegates to.  Output is identical to ``json.dumps`` with
the same separators.  Falls back to :mod:`json` where ``_json`` is missing.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

try:
    import _json
except ImportError:  # pragma: no cover - CPython always has it
    _json = None  # type: ignore[assignment]


class _Context:
    """The attributes ``_json.make_scanner`` reads from a JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict[str, str] = {}  # noqa: RUF012 - shape required by _json

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


class JSONDecodeError(ValueError):
    pass


def loads(text: str | bytes) -> Any:
    if isinstance(text, bytes | bytearray):
        text = text.decode("utf-8")
    if _json is None:  # pragma: no cover
        import json

        return json.loads(text)
    scan = _json.make_scanner(_Context())  # type: ignore[arg-type]
    n = len(text)
    i = _skip_ws(text, 0)
    try:
        value, end = scan(text, i)
    except StopIteration as exc:
        raise JSONDecodeError(f"expecting a JSON value at char {exc.value}") from None
    except Exception:
        # The C scanner builds its error from json.decoder, which it cannot
        # always import from inside a scan; the error path may pay for json.
        import json

        return json.loads(text)
    end = _skip_ws(text, end)
    if end != n:
        raise JSONDecodeError(f"extra data at char {end}")
    return value


def _skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in " \t\n\r":
        i += 1
    return i


def _default(obj: Any) -> Any:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def dumps(obj: Any, indent: int | None = None, sort_keys: bool = False,
          compact: bool = False) -> str:
    """``json.dumps``; ``compact`` drops the spaces after ``,`` and ``:`` (as Go does)."""
    key_sep, item_sep = (":", ",") if compact else (": ", ", ")
    if _json is None or indent is not None:
        import json

        seps = (item_sep, key_sep) if indent is None else (",", key_sep)
        return json.dumps(obj, indent=indent, sort_keys=sort_keys, separators=seps)
    encoder = _json.make_encoder(
        None, _default, _json.encode_basestring_ascii, None, key_sep, item_sep, sort_keys, False,
        True,
    )
    return "".join(encoder(obj, 0))
