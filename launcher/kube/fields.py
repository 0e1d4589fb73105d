"""Typed, checked access to one mapping of a parsed Kubernetes manifest.

Every error is a one-line ``UsageError`` that names the field by its path
(``spec.containers[0].ports[1].hostPort``). A key the caller neither maps nor
lists as ignorable is refused: a manifest that asks for something launcher
would silently not do must fail before anything is created.
"""

from __future__ import annotations

from launcher.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection

_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def bad(where: str, why: str) -> UsageError:
    return UsageError(f"kube: {where}: {why}")


def is_dns_label(text: str) -> bool:
    """RFC 1123 label, as Kubernetes checks names: ``[a-z0-9]([-a-z0-9]*[a-z0-9])?``, ≤ 63."""
    return (0 < len(text) <= 63 and _LABEL_CHARS.issuperset(text)
            and text[0] != "-" and text[-1] != "-")


def is_dns_subdomain(text: str) -> bool:
    """Dot-separated RFC 1123 labels, ≤ 253 characters (Pod and Deployment names)."""
    return 0 < len(text) <= 253 and all(is_dns_label(part) for part in text.split("."))


class Fields:
    """One mapping of the manifest (``value``) found at ``where``."""

    __slots__ = ("data", "where")

    def __init__(self, value: object, where: str, known: Collection[str],
                 ignored: Collection[str] = ()) -> None:
        if type(value) is not dict:
            raise bad(where or "document", "expected a mapping")
        for key in value:
            if key not in known and key not in ignored:
                raise bad(self._join(where, str(key)), "not supported by launcher kube play")
        self.data: dict[object, object] = value
        self.where = where

    @staticmethod
    def _join(where: str, key: str) -> str:
        return f"{where}.{key}" if where else key

    def at(self, key: str) -> str:
        return self._join(self.where, key)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise bad(self.at(key), "required")
            return None
        if type(value) is not str:
            raise bad(self.at(key), "expected a string (quote it in the YAML)")
        if "\0" in value:
            raise bad(self.at(key), "contains a NUL character")
        if required and not value:
            raise bad(self.at(key), "must not be empty")
        return value

    def integer(self, key: str, low: int, high: int) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if type(value) is not int:
            raise bad(self.at(key), "expected an integer")
        if not low <= value <= high:
            raise bad(self.at(key), f"must be between {low} and {high}")
        return value

    def flag(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is not None and type(value) is not bool:
            raise bad(self.at(key), "expected true or false")
        return value

    def choice(self, key: str, choices: Collection[str]) -> str | None:
        value = self.text(key)
        if value is not None and value not in choices:
            raise bad(self.at(key), f"expected one of {', '.join(sorted(choices))}")
        return value

    def fields(self, key: str, known: Collection[str], ignored: Collection[str] = (), *,
               required: bool = False) -> Fields | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise bad(self.at(key), "required")
            return None
        return Fields(value, self.at(key), known, ignored)

    def items(self, key: str, limit: int) -> list[object]:
        value = self.data.get(key)
        if value is None:
            return []
        if type(value) is not list:
            raise bad(self.at(key), "expected a list")
        if len(value) > limit:
            raise bad(self.at(key), f"more than {limit} entries")
        return value

    def strings(self, key: str, limit: int) -> list[str]:
        out: list[str] = []
        for i, item in enumerate(self.items(key, limit)):
            if type(item) is not str or "\0" in item:
                raise bad(f"{self.at(key)}[{i}]", "expected a string (quote it in the YAML)")
            out.append(item)
        return out

    def string_map(self, key: str, limit: int = 256) -> dict[str, str]:
        value = self.data.get(key)
        if value is None:
            return {}
        if type(value) is not dict:
            raise bad(self.at(key), "expected a mapping")
        if len(value) > limit:
            raise bad(self.at(key), f"more than {limit} entries")
        for k, v in value.items():
            if type(k) is not str or type(v) is not str or "\0" in k + v:
                raise bad(f"{self.at(key)}.{k}", "expected a string (quote it in the YAML)")
        return dict(value)
