"""launcher as if on macOS or Windows, in a fresh interpreter on this host.

``sys.platform`` is switched before launcher is imported, and launcher's own
imports of what that platform lacks fail: pyroute2 on macOS; fcntl, termios,
resource, ctypes and pyroute2 on Windows, where the POSIX-only ``os.O_*``
open flags are gone too.
Third-party libraries are left to import as they would on that platform,
except on "win32", where typer/rich are loaded before the switch (their
Windows console layer needs kernel32, which this host cannot provide), and
platformdirs resolves folders from the environment (its own fallback there:
no shell folder API or registry here).

:func:`simulate` runs the CLI; :func:`run` runs a snippet that calls
``emit(value)`` and returns the value.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))))

PRELUDE = r"""
import importlib.abc
import sys
import sysconfig

sysconfig.get_config_vars()  # cache now: its lookup is keyed by sys.platform
platform = sys.argv.pop(1)
if platform == "win32":
    import pydantic, rich.console, typer, typer.main, typer.rich_utils  # noqa: E401
    import ssl  # its Windows branch needs _ssl's Windows functions
# Windows has none of these; macOS has all but pyroute2 (Linux's netlink)
BLOCKED = ({"fcntl", "termios", "resource", "ctypes", "_ctypes", "pyroute2"}
           if platform == "win32" else {"pyroute2"})


def importer():
    frame = sys._getframe(2)
    while frame is not None and "importlib" in frame.f_code.co_filename:
        frame = frame.f_back
    return frame.f_globals.get("__name__", "") if frame is not None else ""


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED and importer().split(".")[0] == "launcher":
            raise ModuleNotFoundError(f"No module named {name!r} on {platform}", name=name)
        return None


for loaded in [m for m in sys.modules if m.split(".")[0] in BLOCKED]:
    del sys.modules[loaded]
sys.meta_path.insert(0, Blocker())
if platform == "darwin":  # urllib asks macOS's SystemConfiguration for proxies
    import types
    sys.modules["_scproxy"] = types.SimpleNamespace(
        _get_proxy_settings=lambda: {"exclude_simple": False, "exceptions": ()},
        _get_proxies=lambda: {})
sys.platform = platform
if platform == "win32":  # imported after the switch: platformdirs picks its Windows class
    import platformdirs.windows as _w
    _w._RESOLVE_WIN_FOLDER = _w.get_win_folder_from_env_vars
    import os as _os
    for _flag in ("O_CLOEXEC", "O_NOCTTY", "O_NONBLOCK", "O_NOFOLLOW", "O_DIRECTORY", "O_PATH"):
        if hasattr(_os, _flag):  # Windows' os module has none of these open() flags
            delattr(_os, _flag)
"""

CLI = PRELUDE + r"""
if sys.argv[1:] == ["--selfcheck"]:  # does the blocker bite launcher's imports?
    try:
        exec("import pyroute2", {"__name__": "launcher.selfcheck"})
    except ModuleNotFoundError:
        sys.exit(0)
    sys.exit(1)

import launcher
from launcher.cli.main import run_cli

sys.exit(run_cli(sys.argv[1:]))
"""

SNIPPET = PRELUDE + r"""
import json


def emit(value):
    print("RESULT " + json.dumps(value))


exec(sys.argv[1], {"emit": emit, "__name__": "__snippet__"})
"""


WINDOWS_FOLDERS = {"LOCALAPPDATA": "C:\\Users\\me\\AppData\\Local",
                   "APPDATA": "C:\\Users\\me\\AppData\\Roaming",
                   "USERPROFILE": "C:\\Users\\me"}


def _env(platform: str, extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAUNCHER_", "_LAUNCHER"))}
    if platform == "win32":
        env.update(WINDOWS_FOLDERS)
    env["COLUMNS"] = "200"
    env["PYTHONPATH"] = REPO
    env.update(extra or {})
    return env


def simulate(platform: str, *argv: str, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    """``launcher ARGV`` on ``platform``."""
    return subprocess.run([sys.executable, "-c", CLI, platform, *argv], cwd=REPO,
                          env=_env(platform, env), capture_output=True, text=True, timeout=120,
                          check=False)


def run(platform: str, code: str, env: dict[str, str] | None = None) -> Any:
    """Run ``code`` (which calls ``emit(value)`` once) on ``platform``; the value."""
    res = subprocess.run([sys.executable, "-c", SNIPPET, platform, code], cwd=REPO,
                         env=_env(platform, env), capture_output=True, text=True, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, res.stdout + res.stderr
    return json.loads(lines[-1][len("RESULT "):])
