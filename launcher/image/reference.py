"""Docker-compatible image references, parsed by hand (``re`` costs ~9 ms to import).

Grammar (distribution/reference)::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [domain "/"] path
    domain     := host [":" port]        host: dns labels joined by "." | "[" ipv6 "]"
    path       := component ("/" component)*
    component  := alnum (separator alnum)*     alnum: [a-z0-9]+
    separator  := "." | "_" | "__" | "-"+
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := "sha256:" 64 lowercase hex  (the only algorithm we store)

Normalisation as ``docker``: a first part without ``.`` or ``:`` that is not
``localhost`` (and is all lowercase) is not a domain, so ``busybox`` becomes
``docker.io/library/busybox:latest``; ``index.docker.io`` is ``docker.io``.
"""

from __future__ import annotations

from launcher.errors import UsageError
from launcher.image import digest as _digest

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255
TAG_MAX = 128

_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ALNUM = _LOWER_ALNUM | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_WORD = _ALNUM | {"_"}
_TAG_CHARS = _WORD | {".", "-"}
_LABEL_CHARS = _ALNUM | {"-"}
_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:")
_DIGITS = frozenset("0123456789")


class Reference:
    """A normalised reference: ``domain/path[:tag][@digest]``."""

    __slots__ = ("digest", "domain", "path", "tag")

    def __init__(self, domain: str, path: str, tag: str | None, digest: str | None) -> None:
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest

    @property
    def name(self) -> str:
        """Repository name with domain: ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag else ""
        return out + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name + self._suffix()

    def familiar_name(self) -> str:
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        rest = path[len(OFFICIAL_REPO_PREFIX) :]
        if path.startswith(OFFICIAL_REPO_PREFIX) and "/" not in rest:
            return rest
        return path

    def familiar(self) -> str:
        """Short form as ``docker images`` shows it: ``busybox:latest``."""
        return self.familiar_name() + self._suffix()

    def with_tag(self, tag: str) -> Reference:
        _check_tag(tag, tag)
        return Reference(self.domain, self.path, tag, None)

    def __repr__(self) -> str:
        return f"Reference({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reference) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


def _bad(text: str, why: str) -> UsageError:
    return UsageError(f"invalid reference {text!r}: {why}")


def parse(text: str, default_tag: bool = True) -> Reference:
    """Parse and normalise ``text``; ``latest`` is added when neither tag nor
    digest is given (unless ``default_tag`` is false). Raises UsageError."""
    if not isinstance(text, str) or not text:
        raise _bad(str(text), "empty")
    if len(text) > 1024:
        raise _bad(text[:64] + "...", "too long")
    if _digest.is_hex(text):
        raise _bad(text, "cannot specify 64-byte hexadecimal strings")
    name, at, dig = text.partition("@")
    if at:
        _check_digest(text, dig)
    tag: str | None = None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
        _check_tag(text, tag)
    domain, path = _split_domain(text, name)
    if len(domain) + 1 + len(path) > NAME_MAX:
        raise _bad(text, f"repository name longer than {NAME_MAX} characters")
    if tag is None and not at and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, dig if at else None)


def _split_domain(text: str, name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    is_domain = slash and (
        "." in first or ":" in first or first == "localhost" or first.lower() != first
    )
    if is_domain:
        domain, path = first, rest
        _check_domain(text, domain)
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_REPO_PREFIX + path
    _check_path(text, path)
    return domain, path


def _check_digest(text: str, dig: str) -> None:
    algo, _, hexpart = dig.partition(":")
    if algo != "sha256":
        raise _bad(text, f"unsupported digest algorithm {algo!r} (only sha256)")
    if not _digest.is_hex(hexpart):
        raise _bad(text, "digest must be sha256: followed by 64 lowercase hex digits")


def _check_tag(text: str, tag: str) -> None:
    ok = 0 < len(tag) <= TAG_MAX and tag[0] in _WORD and _TAG_CHARS.issuperset(tag)
    if not ok:
        raise _bad(text, f"invalid tag {tag!r} (want [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})")


def _check_domain(text: str, domain: str) -> None:
    host = domain
    if domain.startswith("["):
        end = domain.find("]")
        if end < 2 or not _IPV6_CHARS.issuperset(domain[1:end]):
            raise _bad(text, f"invalid IPv6 domain {domain!r}")
        port = domain[end + 1 :]
        if port and (port[0] != ":" or not _is_port(port[1:])):
            raise _bad(text, f"invalid port in {domain!r}")
        return
    host, colon, port = domain.partition(":")
    if colon and not _is_port(port):
        raise _bad(text, f"invalid port in {domain!r}")
    for label in host.split("."):
        ok = label and _LABEL_CHARS.issuperset(label) and label[0] != "-" and label[-1] != "-"
        if not ok:
            raise _bad(text, f"invalid domain {domain!r}")


def _is_port(port: str) -> bool:
    return 0 < len(port) <= 5 and _DIGITS.issuperset(port)


def _check_path(text: str, path: str) -> None:
    if path.lower() != path:
        raise _bad(text, "repository name must be lowercase")
    for comp in path.split("/"):
        if not _is_component(comp):
            raise _bad(text, f"invalid repository path component {comp!r}")


def _is_component(comp: str) -> bool:
    """alnum (separator alnum)* with separator ``.``, ``_``, ``__`` or ``-+``."""
    n = len(comp)
    if n == 0 or comp[0] not in _LOWER_ALNUM or comp[-1] not in _LOWER_ALNUM:
        return False
    i = 0
    while i < n:
        if comp[i] in _LOWER_ALNUM:
            i += 1
            continue
        j = i
        while j < n and comp[j] not in _LOWER_ALNUM:
            j += 1
        sep = comp[i:j]
        if sep not in (".", "_", "__") and sep.strip("-"):
            return False
        i = j
    return True
