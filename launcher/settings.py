"""``launcher.toml``: the settings that change launcher's defaults.

The file is ``CONFIG/launcher.toml`` (``Paths.settings_file``: ``/etc/launcher``
for root, platformdirs' user config dir otherwise, ``DIR/config`` under
``--root DIR``). Every key, with its built-in default — this is the text
``defaults_toml()`` returns, and a test holds the two equal::

    # launcher.toml: launcher's settings, shown with their built-in defaults.
    # Precedence, lowest first: built-in default < this file < environment < flag.

    # The network `run` uses without --network: bridge, none, host, slirp4netns
    # or a network made with `network create`. "": bridge for root; rootless:
    # slirp4netns where it is installed, else none (bridges need root).
    # Environment: LAUNCHER_DEFAULT_NETWORK. Flag: run --network.
    default_network = ""

    # Which messages go to stderr: debug, info, warning or error.
    # Environment: LAUNCHER_LOG_LEVEL. Flag: --log-level (--debug: debug).
    log_level = "warning"

    # native (this Linux kernel) or vm (a launcher machine). "": native on
    # Linux, vm elsewhere.
    # Environment: LAUNCHER_BACKEND. Flag: --backend.
    backend = ""

    # Run every command on this Linux host instead: ssh://[USER@]HOST[:PORT].
    # "": this host (or its machine).
    # Environment: LAUNCHER_HOST. Flag: -H, --host.
    host = ""

    # The defaults of `launcher machine init`.
    [machine]
    # Virtual CPUs. Flag: machine init --cpus.
    cpus = 2
    # Memory, like 2g or 512m. Flag: machine init --memory.
    memory = "2g"
    # Disk size, like 10g. Flag: machine init --disk-size.
    disk_size = "10g"

Precedence, lowest first: built-in default < launcher.toml < environment < the
command line flag; an empty environment variable counts as unset. An unknown
key, a value of the wrong type or an invalid value is a ConfigError naming the
file and the key: a typo must not be silently ignored. The file is read at most
once per process (cached by path), and only when a setting is needed that the
flag and the environment do not already decide: a ``run`` without the file pays
one failed ``open``. A file in plain TOML (``key = "text"`` / ``key = 12`` lines,
``[table]`` headers, comments: what ``defaults_toml()`` writes) is read by
``quicktoml``; ``tomllib``, whose import costs 10-15 ms, only reads the rest.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from launcher.paths import Paths

DEFAULT_NETWORK = "bridge"  # root's default; "" in the file means this (or rootless's)
DEFAULT_NETWORK_ENV = "LAUNCHER_DEFAULT_NETWORK"
LOG_LEVEL_ENV = "LAUNCHER_LOG_LEVEL"
_MAX_SIZE = 64 << 10
_DIGITS = frozenset("0123456789")
_HEADER = (
    "# launcher.toml: launcher's settings, shown with their built-in defaults.\n"
    "# Precedence, lowest first: built-in default < this file < environment < flag.\n"
)


class Setting:
    """One key: its default (whose type is the key's type), where else it may be
    set, what it means (comment lines) and its check (value → canonical value,
    ValueError(reason))."""

    __slots__ = ("check", "default", "env", "flag", "help", "key")

    def __init__(self, key: str, default: str | int, help: tuple[str, ...], *,
                 env: str | None = None, flag: str | None = None,
                 check: Callable[[str | int], str | int] | None = None) -> None:
        self.key = key  # dotted for a table's key: "machine.cpus"
        self.default = default
        self.help = help
        self.env = env
        self.flag = flag
        self.check = check


def _network(value: str | int) -> str | int:
    from launcher.network.runconfig import check_mode

    return check_mode(str(value)) if value else ""


def _level(value: str | int) -> str | int:
    from launcher.log import parse_level

    parse_level(str(value))
    return str(value).strip().lower()


def _backend(value: str | int) -> str | int:
    if value not in ("", "native", "vm"):
        raise ValueError('expected "native", "vm" or "" (native on Linux, vm elsewhere)')
    return value


def _host(value: str | int) -> str | int:
    if value and not str(value).startswith("ssh://"):
        raise ValueError('expected ssh://[USER@]HOST[:PORT] or ""')
    return value


def _positive(value: str | int) -> str | int:
    if int(value) < 1:
        raise ValueError("expected a whole number of at least 1")
    return value


def _size(value: str | int) -> str | int:
    # The spelling `machine init` accepts (vm.ops.parse_size): 2g, 512m, 2048 (MiB).
    text = str(value).strip().lower().removesuffix("b").removesuffix("i")
    number = text[:-1] if text[-1:] in ("k", "m", "g", "t") else text
    digits = number.replace(".", "", 1)  # plain decimals only: no inf, nan or 1e3
    if not digits or not _DIGITS.issuperset(digits) or float(number) <= 0:
        raise ValueError("expected a size like 2g or 512m")
    return value


SETTINGS = (
    Setting("default_network", "", (
        "The network `run` uses without --network: bridge, none, host, slirp4netns",
        "or a network made with `network create`. \"\": bridge for root; rootless:",
        "slirp4netns where it is installed, else none (bridges need root).",
    ), env=DEFAULT_NETWORK_ENV, flag="run --network", check=_network),
    Setting("log_level", "warning", (
        "Which messages go to stderr: debug, info, warning or error.",
    ), env=LOG_LEVEL_ENV, flag="--log-level (--debug: debug)", check=_level),
    Setting("backend", "", (
        "native (this Linux kernel) or vm (a launcher machine). \"\": native on",
        "Linux, vm elsewhere.",
    ), env="LAUNCHER_BACKEND", flag="--backend", check=_backend),
    Setting("host", "", (
        "Run every command on this Linux host instead: ssh://[USER@]HOST[:PORT].",
        "\"\": this host (or its machine).",
    ), env="LAUNCHER_HOST", flag="-H, --host", check=_host),
    Setting("machine.cpus", 2, ("Virtual CPUs.",),
            flag="machine init --cpus", check=_positive),
    Setting("machine.memory", "2g", ("Memory, like 2g or 512m.",),
            flag="machine init --memory", check=_size),
    Setting("machine.disk_size", "10g", ("Disk size, like 10g.",),
            flag="machine init --disk-size", check=_size),
)
BY_KEY = {s.key: s for s in SETTINGS}
TABLES = {"machine": "The defaults of `launcher machine init`."}

_CACHE: dict[str, dict[str, str | int]] = {}


def value(paths: Paths, key: str) -> str | int:
    """A setting as environment, else file, else default decide (flags are the caller's)."""
    return lookup(paths, key)[0]


def lookup(paths: Paths, key: str) -> tuple[str | int, str]:
    """``(value, source)``; source is ``env``, ``file`` or ``default``."""
    from launcher.errors import ConfigError

    setting = BY_KEY[key]
    env = os.environ.get(setting.env) if setting.env else None
    if env:
        try:
            return _checked(setting, env), "env"
        except ValueError as exc:
            raise ConfigError(f"{setting.env}={env!r}: {exc}") from None
    found = load(paths.settings_file)
    if key in found:
        return found[key], "file"
    return setting.default, "default"


def effective(paths: Paths, flags: dict[str, object] | None = None) -> dict[str, object]:
    """Every setting as ``{"value": ..., "source": "default"|"file"|"env"|"flag"}``
    (for ``system info``). ``flags``: the values the command line gave, by key
    (None: not given); without them no source is ``flag``."""
    out: dict[str, object] = {}
    for setting in SETTINGS:
        given = (flags or {}).get(setting.key)
        if given is not None:
            out[setting.key] = {"value": given, "source": "flag"}
        else:
            got, source = lookup(paths, setting.key)
            out[setting.key] = {"value": got, "source": source}
    return out


def default_network(paths: Paths) -> str:
    """The network of a ``run`` without ``--network`` (see the module docstring)."""
    mode = str(value(paths, "default_network"))
    if mode:
        return mode
    return DEFAULT_NETWORK if os.geteuid() == 0 else _rootless_default()


def log_level(paths: Paths) -> str:
    """The log level the environment or the file name (the caller has the flag)."""
    return str(value(paths, "log_level"))


def machine_defaults(paths: Paths) -> dict[str, str | int]:
    """``machine init``'s defaults: ``{"cpus": 2, "memory": "2g", "disk_size": "10g"}``
    as launcher.toml's ``[machine]`` table changes them (its flags win over these)."""
    return {key.partition(".")[2]: value(paths, key)
            for key in BY_KEY if key.startswith("machine.")}


def load(path: str) -> dict[str, str | int]:
    """The file's settings, checked, by dotted key; {} when it does not exist.
    Read once per process per path."""
    found = _CACHE.get(path)
    if found is None:
        found = _CACHE[path] = _read(path)
    return found


def reset_cache() -> None:
    """Forget what was read (tests; a long-lived process that must see edits)."""
    _CACHE.clear()


def _read(path: str) -> dict[str, str | int]:
    from launcher.errors import ConfigError

    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_SIZE + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    if len(data) > _MAX_SIZE:
        raise ConfigError(f"{path}: larger than {_MAX_SIZE} bytes")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    from launcher import quicktoml

    doc = quicktoml.loads(text)
    if doc is None:  # beyond the plain subset: the real parser (10-15 ms to import)
        import tomllib

        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    found: dict[str, str | int] = {}
    _take(path, doc, "", found)
    return found


def _take(path: str, table: dict[str, object], prefix: str, found: dict[str, str | int]) -> None:
    """Check ``table``'s keys (under ``prefix``) into ``found``; ConfigError naming the key."""
    from launcher.errors import ConfigError

    for name, raw in table.items():
        key = prefix + name
        if not prefix and name in TABLES:
            if not isinstance(raw, dict):
                raise ConfigError(f"{path}: {key}: expected a table ([{key}])")
            _take(path, raw, key + ".", found)
            continue
        setting = BY_KEY.get(key)
        if setting is None:
            raise ConfigError(f"{path}: unknown setting {key!r} (known: {', '.join(BY_KEY)})")
        want = type(setting.default)
        if type(raw) is not want:  # not isinstance: TOML's true is no number of CPUs
            raise ConfigError(f"{path}: {key}: expected {_TYPE_NAMES[want]}, "
                              f"got {type(raw).__name__} {raw!r}")
        assert isinstance(raw, str | int)
        try:
            found[key] = _checked(setting, raw)
        except ValueError as exc:
            raise ConfigError(f"{path}: {key} = {raw!r}: {exc}") from None


_TYPE_NAMES: dict[type, str] = {str: "a string", int: "an integer"}


def _checked(setting: Setting, raw: str | int) -> str | int:
    if isinstance(setting.default, int) and isinstance(raw, str):  # from the environment
        try:
            raw = int(raw)
        except ValueError:
            raise ValueError("expected an integer") from None
    return setting.check(raw) if setting.check is not None else raw


def defaults() -> dict[str, object]:
    """The built-in defaults, shaped as the file is (tables as dicts)."""
    out: dict[str, object] = {}
    for setting in SETTINGS:
        table, dot, name = setting.key.rpartition(".")
        if dot:
            sub = out.setdefault(table, {})
            assert isinstance(sub, dict)
            sub[name] = setting.default
        else:
            out[name] = setting.default
    return out


def defaults_toml() -> str:
    """A commented launcher.toml holding every built-in default (the docstring's text)."""
    lines = [_HEADER]
    table = ""
    for setting in SETTINGS:
        prefix, dot, name = setting.key.rpartition(".")
        if prefix != table:
            table = prefix
            lines.append(f"\n# {TABLES[table]}\n[{table}]\n")
        elif not dot:
            lines.append("\n")
        comment = list(setting.help)
        where = [f"Environment: {setting.env}." if setting.env else "",
                 f"Flag: {setting.flag}." if setting.flag else ""]
        where_text = " ".join(w for w in where if w)
        if dot:  # a table's keys: the where on the help's last line, kept short
            comment[-1] = f"{comment[-1]} {where_text}".rstrip()
        elif where_text:
            comment.append(where_text)
        lines.extend(f"# {line}\n" for line in comment)
        lines.append(f"{name} = {_toml_value(setting.default)}\n")
    return "".join(lines)


def _toml_value(value: str | int) -> str:
    if isinstance(value, int):
        return str(value)
    assert '"' not in value and "\\" not in value  # defaults are plain words
    return f'"{value}"'


def _rootless_default() -> str:
    import shutil

    return "slirp4netns" if shutil.which("slirp4netns") else "none"
