"""Record: a typed JSON object with an exact round-trip, without dataclasses.

A subclass lists its JSON keys in spec order, each with a *kind*, in ``FIELDS``,
and declares ``__slots__`` with one attribute per key (sorted, as ruff likes). An
attribute is the snake_case of its key (``ociVersion`` → ``oci_version``,
``containerID`` → ``container_id``, ``throttleReadIOPSDevice`` →
``throttle_read_iops_device``) unless the class's ``RENAMES`` map says otherwise
(``class`` → ``class_``). A mismatch fails at import, so the two lists can't drift.

Kinds: ``STR``, ``BOOL``, ``INT``, ``STRS`` (list of strings), ``INTS``,
``STRMAP`` (string → string), ``RAW`` (any JSON, kept as is), a Record subclass,
``ListOf(Cls)`` and ``MapOf(Cls)``.

Round-trip rules: an absent key is ``None`` and stays absent; ``[]`` and ``{}``
stay; unknown keys go to ``extra`` and are written back after the known ones;
known keys are written in ``FIELDS`` order. Like Go's encoding/json, a JSON
``null`` reads as absent. ``from_json`` checks types only (a wrong type raises
``ConfigError`` naming the JSON path, e.g. ``linux.namespaces[2].type: expected
a string``); meaning is checked by :mod:`launcher.spec.validate`.
"""

from __future__ import annotations

from launcher.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar, Self, TypeAlias

    Parse: TypeAlias = Callable[[Any], Any]
    Emit: TypeAlias = Callable[[Any], Any] | None
    Kind: TypeAlias = "tuple[Parse, Emit] | type[Record]"


class _Shape(Exception):
    """A type mismatch; ``rpath`` collects the JSON path innermost-first."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected
        self.rpath: list[str | int] = []

    def describe(self, where: str = "") -> str:
        text = where
        for part in reversed(self.rpath):
            if isinstance(part, int):
                text += f"[{part}]"
            else:
                text = f"{text}.{part}" if text else part
        return f"{text or '(top level)'}: expected {self.expected}"


def _str(v: Any) -> Any:
    if type(v) is str:
        return v
    raise _Shape("a string")


def _bool(v: Any) -> Any:
    if v is True or v is False:
        return v
    raise _Shape("a boolean")


def _int(v: Any) -> Any:
    if type(v) is int:  # not bool, not float: ints stay ints
        return v
    raise _Shape("an integer")


def _scalar_list(check: Parse, what: str) -> Parse:
    def parse(v: Any) -> Any:
        if type(v) is not list:
            raise _Shape(f"a list of {what}")
        for i, item in enumerate(v):
            try:
                check(item)
            except _Shape as exc:
                exc.rpath.append(i)
                raise
        return list(v)

    return parse


def _strmap(v: Any) -> Any:
    if type(v) is not dict:
        raise _Shape("an object of strings")
    for key, item in v.items():
        if type(item) is not str:
            exc = _Shape("a string")
            exc.rpath.append(key)
            raise exc
    return dict(v)


def clone(v: Any) -> Any:
    """A deep copy of a JSON value (dicts and lists copied, scalars shared)."""
    t = type(v)
    if t is dict:
        return {k: clone(x) for k, x in v.items()}
    if t is list:
        return [clone(x) for x in v]
    return v


STR: tuple[Parse, Emit] = (_str, None)
BOOL: tuple[Parse, Emit] = (_bool, None)
INT: tuple[Parse, Emit] = (_int, None)
STRS: tuple[Parse, Emit] = (_scalar_list(_str, "strings"), list)
INTS: tuple[Parse, Emit] = (_scalar_list(_int, "integers"), list)
STRMAP: tuple[Parse, Emit] = (_strmap, dict)
RAW: tuple[Parse, Emit] = (clone, clone)


def ListOf(cls: type[Record]) -> tuple[Parse, Emit]:
    """Kind: a JSON list of ``cls`` objects."""
    item = cls._parse

    def parse(v: Any) -> Any:
        if type(v) is not list:
            raise _Shape("a list")
        out = []
        for i, x in enumerate(v):
            try:
                out.append(item(x))
            except _Shape as exc:
                exc.rpath.append(i)
                raise
        return out

    return parse, lambda v: [x.to_json() for x in v]


def MapOf(cls: type[Record]) -> tuple[Parse, Emit]:
    """Kind: a JSON object whose values are ``cls`` objects."""
    item = cls._parse

    def parse(v: Any) -> Any:
        if type(v) is not dict:
            raise _Shape("an object")
        out = {}
        for k, x in v.items():
            try:
                out[k] = item(x)
            except _Shape as exc:
                exc.rpath.append(k)
                raise
        return out

    return parse, lambda v: {k: x.to_json() for k, x in v.items()}


def snake_case(key: str) -> str:
    """``ociVersion`` → ``oci_version``; a run of capitals is one word (``IOPS``)."""
    if key.islower():  # most keys: nothing to do (and import time matters)
        return key
    out = []
    n = len(key)
    for i, c in enumerate(key):
        if c.isupper():
            prev_lower = i > 0 and not key[i - 1].isupper()
            next_lower = i + 1 < n and key[i + 1].islower()
            if i > 0 and (prev_lower or (next_lower and key[i - 1].isupper())):
                out.append("_")
            out.append(c.lower())
        else:
            out.append(c)
    return "".join(out)


def _emit_record(v: Record) -> Any:
    return v.to_json()


class Record:
    """Base of every typed JSON record; see the module docstring."""

    __slots__ = ("extra",)
    FIELDS: ClassVar[tuple[tuple[str, Kind], ...]] = ()
    RENAMES: ClassVar[dict[str, str]] = {}
    _attrs: ClassVar[tuple[str, ...]] = ()
    _in: ClassVar[dict[str, tuple[str, Parse]]] = {}
    _out: ClassVar[tuple[tuple[str, str, Emit], ...]] = ()

    extra: dict[str, Any] | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        attrs = tuple(cls.RENAMES.get(key) or snake_case(key) for key, _ in cls.FIELDS)
        slots = cls.__dict__.get("__slots__", ())
        if sorted(attrs) != sorted(slots):
            raise TypeError(f"{cls.__name__}.__slots__ must hold {sorted(attrs)}")
        cls._attrs = attrs
        cls._in = {}
        out = []
        parse: Parse
        emit: Emit
        for attr, (key, kind) in zip(attrs, cls.FIELDS, strict=True):
            if isinstance(kind, type):
                parse, emit = kind._parse, _emit_record
            else:
                parse, emit = kind
            cls._in[key] = (attr, parse)
            out.append((attr, key, emit))
        cls._out = tuple(out)

    def __init__(self, *, extra: dict[str, Any] | None = None, **values: Any) -> None:
        for attr in self._attrs:
            setattr(self, attr, None)
        self.extra = extra
        for attr, value in values.items():
            if attr not in self._attrs:
                raise TypeError(f"{type(self).__name__} has no field {attr!r}")
            setattr(self, attr, value)

    @classmethod
    def _parse(cls, obj: Any) -> Self:
        if type(obj) is not dict:
            raise _Shape("an object")
        self = cls.__new__(cls)
        for attr in cls._attrs:
            setattr(self, attr, None)
        fields = cls._in
        extra = None
        for key, value in obj.items():
            field = fields.get(key)
            try:
                if field is None:
                    if extra is None:
                        extra = {}
                    extra[key] = clone(value)
                elif value is not None:
                    setattr(self, field[0], field[1](value))
            except _Shape as exc:
                exc.rpath.append(key)
                raise
            except RecursionError:  # an unknown key or RAW value nested ~1000 deep
                deep = _Shape("JSON nested less deeply")
                deep.rpath.append(key)
                raise deep from None
        self.extra = extra
        return self

    @classmethod
    def from_json(cls, obj: Any, where: str = "") -> Self:
        """Parse a decoded JSON object; ``where`` prefixes the path in errors."""
        try:
            return cls._parse(obj)
        except _Shape as exc:
            raise ConfigError(exc.describe(where)) from None

    def to_json(self, without: str = "") -> dict[str, Any]:
        """A fresh JSON-ready dict: known keys in spec order, then ``extra``;
        ``without`` names an attribute to leave out."""
        out: dict[str, Any] = {}
        for attr, key, emit in self._out:
            value = getattr(self, attr)
            if value is not None and attr != without:
                out[key] = value if emit is None else emit(value)
        if self.extra:
            for key, value in self.extra.items():
                out[key] = clone(value)
        return out

    def copy(self) -> Self:
        """A deep copy."""
        return self.from_json(self.to_json())

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        for attr in self._attrs:
            if getattr(self, attr) != getattr(other, attr):
                return False
        return (self.extra or None) == (other.extra or None)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        parts = [f"{a}={getattr(self, a)!r}" for a in self._attrs if getattr(self, a) is not None]
        if self.extra:
            parts.append(f"extra={self.extra!r}")
        return f"{type(self).__name__}({', '.join(parts)})"
