"""Run options that need more than a one-line check: ``--env-file``, ``-v``,
``--restart``, ``--label``, ``--stop-signal``, ``--stop-timeout``.

Like ``launcher.cli.convert``, every parser takes the flag's text and raises
``ValueError(reason)``; the option table turns that into Docker's
``invalid argument "x" for "--flag" flag: reason``. This runs on every
``launcher run``, so: no ``re``, ``typing`` or ``json`` here, and ``signal``
only inside the one function that needs it. ``os``, ``stat`` and
``posixpath`` are already loaded by the interpreter's start-up.
"""

from __future__ import annotations

import os
import posixpath
import stat

from launcher import osflags

_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_ENV_FILE_MAX = 16 << 20  # an env file is text a person wrote; refuse a stray disk image
_MAX_INT32 = 2**31 - 1


# --env-file ---------------------------------------------------------------


def env_file(path: str) -> list[str]:
    """Docker's ``--env-file``: one ``KEY=VALUE`` or bare ``KEY`` per line.

    The value is kept verbatim (no quote or escape processing, trailing blanks
    kept); a bare ``KEY`` is returned as ``"KEY"`` so the caller's environment
    fills it in at use, as for ``-e KEY``. Blank lines and lines whose first
    non-blank character is ``#`` are skipped; leading whitespace is trimmed;
    CRLF line ends and a UTF-8 byte-order mark are tolerated.
    """
    text = _read_text(path, _ENV_FILE_MAX).removeprefix("\ufeff")
    entries: list[str] = []
    # split("\n"), not splitlines(): that would also break on \x0b, \x1c, U+2028...
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.removesuffix("\r").lstrip()
        if not line or line.startswith("#"):
            continue
        key, eq, value = line.partition("=")
        where = f"{path}, line {number}"
        if not key:
            raise ValueError(f"{where}: no variable name before '='")
        if _has_space(key):
            raise ValueError(f"{where}: variable name {key.rstrip()!r} contains whitespace")
        if "\0" in line:
            raise ValueError(f"{where}: contains a NUL character")
        entries.append(key + eq + value)
    return entries


def _read_text(path: str, limit: int) -> str:
    """The UTF-8 text of a regular file of at most ``limit`` bytes."""
    try:
        # O_NONBLOCK: opening a FIFO must not hang; we refuse it after fstat.
        fd = os.open(path, osflags.READ | osflags.NONBLOCK | osflags.NOCTTY)
    except OSError as exc:
        raise ValueError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{path} is not a regular file")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ValueError(f"{path} is larger than {limit >> 20} MiB")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    data = b"".join(chunks)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(f"{path}, line {line}: not valid UTF-8") from exc


def _has_space(text: str) -> bool:
    return any(c.isspace() for c in text)


# -v / --volume ------------------------------------------------------------

_PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")
# Each group allows one member per -v. z/Z (SELinux relabel) are accepted and
# ignored: launcher does not set SELinux labels. consistent/cached/delegated
# are Docker Desktop's sharing hints, accepted and ignored by Docker on Linux.
_OPTION_GROUPS = {
    "ro": "rw",
    "rw": "rw",
    "z": "label",
    "Z": "label",
    "nocopy": "copy",
    "consistent": "consistency",
    "cached": "consistency",
    "delegated": "consistency",
    **{p: "propagation" for p in _PROPAGATIONS},
}


class VolumeSpec:
    """One ``-v [SRC:]DST[:OPTS]``.

    ``kind`` is ``"bind"`` (``source`` is a host path: absolute POSIX, or a
    Windows path ``X:\\...`` kept verbatim for the VM backend to translate),
    ``"volume"`` (``source`` is a volume name) or ``"anonymous"`` (``source``
    is ``""``; a fresh volume is made). ``no_copy`` turns off copying the
    image's files into an empty volume.
    """

    __slots__ = ("destination", "kind", "no_copy", "propagation", "read_only", "source")

    def __init__(
        self,
        kind: str,
        source: str,
        destination: str,
        *,
        read_only: bool = False,
        propagation: str = "rprivate",
        no_copy: bool = False,
    ) -> None:
        self.kind = kind
        self.source = source
        self.destination = destination
        self.read_only = read_only
        self.propagation = propagation
        self.no_copy = no_copy

    @property
    def options(self) -> list[str]:
        """``options`` of the OCI mount (type ``bind``) once the source is a directory."""
        return ["rbind", "ro" if self.read_only else "rw", self.propagation]

    def _fields(self) -> tuple[str, str, str, bool, str, bool]:
        return (
            self.kind,
            self.source,
            self.destination,
            self.read_only,
            self.propagation,
            self.no_copy,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VolumeSpec) and self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable: _apply_options fills it in

    def __repr__(self) -> str:
        kind, source, dst, read_only, propagation, no_copy = self._fields()
        return (
            f"VolumeSpec({kind!r}, {source!r}, {dst!r}, read_only={read_only}, "
            f"propagation={propagation!r}, no_copy={no_copy})"
        )


def volume_spec(text: str) -> VolumeSpec:
    """Parse ``-v``: ``DST``, ``DST:OPTS``, ``SRC:DST`` or ``SRC:DST:OPTS``.

    OPTS is a comma list of ro, rw, nocopy (volumes only), one propagation mode
    (binds only; default rprivate), z/Z and consistent/cached/delegated (both
    ignored). ``DST:OPTS`` is chosen over ``SRC:DST`` only when every item of
    the second part is a known option, as Docker does.
    """
    if not text:
        raise ValueError("empty volume specification")
    if "\0" in text:
        raise ValueError("contains a NUL character")
    parts = _split_volume(text)
    if len(parts) > 3:
        raise ValueError("too many ':' (expected [SRC:]DST[:OPTS])")
    if len(parts) == 1:
        source, destination, opts = "", parts[0], None
    elif len(parts) == 2 and not _is_drive(parts[0]) and _all_options(parts[1]):
        source, destination, opts = "", parts[0], parts[1]
    else:
        source, destination = parts[0], parts[1]
        if not source:
            raise ValueError("empty source before ':'")
        opts = parts[2] if len(parts) == 3 else None
    kind, source = _volume_source(source)
    spec = VolumeSpec(kind, source, _volume_destination(destination))
    if opts is not None:
        _apply_options(spec, opts)
    return spec


def _split_volume(text: str) -> list[str]:
    """Split on ':', keeping a leading Windows drive (``C:\\`` or ``C:/``) whole.

    ``X:\\`` is always a drive (no volume name holds a backslash). ``X:/`` is a
    drive only when a destination follows: ``c:/data`` and ``c:/data:ro`` stay
    volume ``c`` on ``/data``, as Docker on Linux reads them.
    """
    if _is_drive(text):
        rest = text[2:].split(":")
        if text[2] == "\\" or (len(rest) > 1 and rest[1].startswith("/")):
            if len(rest) == 1:
                raise ValueError(f"{text!r}: a host path needs a destination (SRC:DST)")
            rest[0] = text[:2] + rest[0]
            return rest
    return text.split(":")


def _is_drive(text: str) -> bool:
    return len(text) >= 3 and text[0] in _LETTERS and text[1:3] in (":\\", ":/")


def _all_options(text: str) -> bool:
    return all(item in _OPTION_GROUPS for item in text.split(","))


def _volume_source(source: str) -> tuple[str, str]:
    if not source:
        return "anonymous", ""
    if _is_drive(source):
        return "bind", source
    if source.startswith("/"):
        return "bind", _clean(source)
    if source[0].isalnum() and source.isascii() and _NAME_CHARS.issuperset(source):
        if ".." in source:
            raise ValueError(f"volume name {source!r} must not contain '..'")
        return "volume", source
    raise ValueError(
        f"{source!r} is neither an absolute host path nor a volume name "
        "([A-Za-z0-9][A-Za-z0-9_.-]*); give a host directory as an absolute path"
    )


def _volume_destination(destination: str) -> str:
    if not destination:
        raise ValueError("empty destination")
    if not destination.startswith("/"):
        raise ValueError(f"destination {destination!r} must be an absolute path")
    if ".." in destination.split("/"):
        raise ValueError(f"destination {destination!r} must not contain '..'")
    destination = _clean(destination)
    if destination == "/":
        raise ValueError("destination cannot be '/'")
    return destination


def _clean(path: str) -> str:
    """Lexically clean an absolute path: no '.', '//' or trailing '/'."""
    # normpath keeps a leading '//' (POSIX leaves its meaning open): fold it.
    return "/" + posixpath.normpath(path).lstrip("/")


def _apply_options(spec: VolumeSpec, opts: str) -> None:
    seen: dict[str, str] = {}
    for item in opts.split(","):
        group = _OPTION_GROUPS.get(item)
        if not item:
            raise ValueError("empty volume option")
        if group is None:
            raise ValueError(f"unknown volume option {item!r}")
        if group in seen:
            first = seen[group]
            raise ValueError(
                f"option {item!r} given twice"
                if first == item
                else f"option {item!r} conflicts with {first!r}"
            )
        seen[group] = item
    if "copy" in seen and spec.kind == "bind":
        raise ValueError("option 'nocopy' applies only to volumes, not to host paths")
    if "propagation" in seen and spec.kind != "bind":
        raise ValueError(f"option {seen['propagation']!r} applies only to host paths")
    spec.read_only = seen.get("rw") == "ro"
    spec.propagation = seen.get("propagation", "rprivate")
    spec.no_copy = "copy" in seen


# --restart ----------------------------------------------------------------

RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
BACKOFF_FIRST = 0.1  # seconds before the first restart, as Docker
BACKOFF_MAX = 60.0  # the delay stops doubling here, as Docker's restart manager
BACKOFF_RESET_AFTER = 10.0  # a run this long (seconds) resets the delay, as Docker


class RestartPolicy:
    """``--restart``: when the monitor starts an exited container again.

    ``max_retries`` counts for ``on-failure`` only; 0 means no limit.
    """

    __slots__ = ("max_retries", "name")

    def __init__(self, name: str = "no", max_retries: int = 0) -> None:
        self.name = name
        self.max_retries = max_retries

    def should_restart(self, exit_code: int, restart_count: int, stopped_by_user: bool) -> bool:
        """Restart after this exit? ``restart_count`` is the restarts done so far.

        As Docker: a stop, kill or rm by the user is never undone, whatever the
        policy; ``always`` and ``unless-stopped`` then differ only at host boot
        (``restart_on_boot``). ``on-failure`` restarts on a non-zero exit while
        fewer than ``max_retries`` restarts were made.
        """
        if stopped_by_user or self.name == "no":
            return False
        if self.name == "on-failure":
            under_limit = self.max_retries == 0 or restart_count < self.max_retries
            return exit_code != 0 and under_limit
        return True

    def restart_on_boot(self, stopped_by_user: bool) -> bool:
        """Start this container when the host boots? (Docker: when dockerd starts.)"""
        return self.name == "always" or (self.name == "unless-stopped" and not stopped_by_user)

    def __str__(self) -> str:
        if self.name == "on-failure" and self.max_retries:
            return f"on-failure:{self.max_retries}"
        return self.name

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, RestartPolicy)
            and self.name == other.name
            and self.max_retries == other.max_retries
        )

    def __hash__(self) -> int:
        return hash((self.name, self.max_retries))

    def __repr__(self) -> str:
        return f"RestartPolicy({self.name!r}, {self.max_retries})"


def restart_policy(text: str) -> RestartPolicy:
    """``no``, ``always``, ``unless-stopped``, ``on-failure[:N]`` (N >= 0; 0 = no limit).

    An empty value means ``no``, as Docker.
    """
    name, colon, count = text.partition(":")
    if name == "" and not colon:
        return RestartPolicy("no")
    if name not in RESTART_POLICIES:
        raise ValueError("must be one of: no, always, unless-stopped, on-failure[:N]")
    if not colon:
        return RestartPolicy(name)
    if name != "on-failure":
        raise ValueError(f"a maximum retry count cannot be used with {name!r}")
    if not _is_digits(count):
        raise ValueError("the retry count must be a non-negative integer")
    retries = int(count)
    if retries > _MAX_INT32:
        raise ValueError("the retry count is too large")
    return RestartPolicy(name, retries)


def backoff(restart_count: int) -> float:
    """Seconds to wait before a restart, after ``restart_count`` quick ones.

    Docker's restart manager: 100 ms, doubling for each restart, held at 1 min.
    ``restart_count`` counts only the consecutive restarts whose run was shorter
    than ``BACKOFF_RESET_AFTER`` seconds: the monitor resets it to 0 after a
    longer run (unlike the total that ``on-failure:N`` counts, which never resets).
    """
    if restart_count < 0:
        raise ValueError("restart count must be >= 0")
    # min(..., 20): 2**20 * 0.1 is far past the cap, and keeps the float finite.
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2.0 ** min(restart_count, 20))


# --label, --stop-signal, --stop-timeout -----------------------------------


def label(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` → ``(KEY, VALUE)``; ``KEY`` alone → ``(KEY, "")``."""
    key, _, value = text.partition("=")
    if not key:
        raise ValueError("empty label name")
    if _has_space(key):
        raise ValueError(f"label name {key!r} contains whitespace")
    if "\0" in text:
        raise ValueError("contains a NUL character")
    return key, value


_SIGRTMIN = 34  # the kernel's SIGRTMIN (32) + the 2 glibc keeps; Docker's numbers
_SIGRTMAX = 64


def stop_signal(text: str) -> int:
    """``TERM``, ``SIGTERM``, ``sigterm``, ``15``, ``RTMIN+3``, ``RTMAX-2`` → number.

    Numbers 1-64. Real-time names count from 34 (glibc's SIGRTMIN) as Docker
    does, whatever the host's libc, since the number goes to the container.
    """
    if _is_digits(text):
        number = int(text)
        if not 1 <= number <= _SIGRTMAX:
            raise ValueError(f"signal number must be 1-{_SIGRTMAX}")
        return number
    name = text.upper().removeprefix("SIG")
    base, sign, offset = name[:5], name[5:6], name[6:]
    if base in ("RTMIN", "RTMAX") and (name == base or (sign in "+-" and _is_digits(offset))):
        first = _SIGRTMIN if base == "RTMIN" else _SIGRTMAX
        number = first + (int(offset) if sign == "+" else -int(offset) if sign else 0)
        if not _SIGRTMIN <= number <= _SIGRTMAX:
            raise ValueError(f"real-time signal out of range ({name})")
        return number
    import signal  # ~5 ms: only when --stop-signal names a signal

    try:
        return int(signal.Signals["SIG" + name])
    except KeyError:
        raise ValueError(f"unknown signal {text!r}") from None


def stop_timeout(text: str) -> int:
    """Seconds between the stop signal and SIGKILL; -1 waits forever."""
    digits = text.removeprefix("-")
    if not _is_digits(digits):
        raise ValueError("expected an integer")
    value = int(text)
    if value < -1:
        raise ValueError("must be >= 0, or -1 to wait forever")
    if value > _MAX_INT32:
        raise ValueError("too large")
    return value


def _is_digits(text: str) -> bool:
    """ASCII digits only: ``int()`` would also take ' 5', '+5', '5_0' and non-ASCII digits."""
    return text.isdigit() and text.isascii()
