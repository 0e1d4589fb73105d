"""``launcher.conf``: the settings that change launcher's defaults.

The file is ``CONFIG/launcher.conf`` (``Paths.settings_file``: ``/etc/launcher``
for root, the user's config dir otherwise, ``DIR/config`` under ``--root DIR``).
One ``key = value`` a line; blank lines and lines starting with ``#`` are
skipped; values are taken as written (no quotes). Keys::

    default_network = bridge      the network ``run`` uses without --network:
                                  bridge (Docker's default), none, host, or the
                                  name of a network made with ``network create``;
                                  rootless: slirp4netns where it is installed,
                                  else none (bridges need root)

Precedence, lowest first: built-in default < launcher.conf < environment
(``LAUNCHER_DEFAULT_NETWORK``) < the command line flag. An unknown key or a
malformed line is a ConfigError naming the file and line: a typo must not be
silently ignored. The file is read only when a setting is needed and the
environment does not already decide it (one ``open`` on ``run``).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.paths import Paths

DEFAULT_NETWORK = "bridge"
DEFAULT_NETWORK_ENV = "LAUNCHER_DEFAULT_NETWORK"
KEYS = ("default_network",)
_MAX_SIZE = 64 << 10


def read_settings(path: str) -> dict[str, tuple[str, int]]:
    """``key -> (value, line number)`` of the file; {} when it does not exist."""
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
    found: dict[str, tuple[str, int]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, eq, value = stripped.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            raise ConfigError(f"{path}:{number}: expected 'key = value', got {stripped!r}")
        if key not in KEYS:
            raise ConfigError(f"{path}:{number}: unknown setting {key!r} "
                              f"(known: {', '.join(KEYS)})")
        found[key] = (value, number)
    return found


def default_network(paths: Paths) -> str:
    """The network of a ``run`` without ``--network`` (see the module docstring)."""
    from launcher.errors import ConfigError
    from launcher.network.runconfig import check_mode

    env = os.environ.get(DEFAULT_NETWORK_ENV)
    if env:
        try:
            return check_mode(env)
        except ValueError as exc:
            raise ConfigError(f"{DEFAULT_NETWORK_ENV}={env!r}: {exc}") from None
    path = paths.settings_file
    value = read_settings(path).get("default_network")
    if value is None:
        return DEFAULT_NETWORK if os.geteuid() == 0 else _rootless_default()
    try:
        return check_mode(value[0])
    except ValueError as exc:
        raise ConfigError(f"{path}:{value[1]}: default_network {value[0]!r}: {exc}") from None


def _rootless_default() -> str:
    import shutil

    return "slirp4netns" if shutil.which("slirp4netns") else "none"
