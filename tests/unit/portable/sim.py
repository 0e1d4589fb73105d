"""Run Python as if on macOS or Windows: ``sys.platform`` set, and the
POSIX-only modules Windows lacks made unimportable (``fcntl``, ``termios``,
``pwd``, ``grp``, ``resource``, ``posix``-only bits), in a fresh interpreter so
every launcher module is imported under the simulation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))))
WINDOWS_MISSING = ("fcntl", "termios", "pwd", "grp", "resource", "tty", "pty")

BOOT = """
import sys
sys.platform = {platform!r}
for name in {missing!r}:
    sys.modules[name] = None  # `import name` raises ImportError, as on Windows
if {windows!r}:
    # No shell folder API or registry here: platformdirs' environment-variable
    # resolver (its own fallback on Windows) stands in for them.
    import platformdirs.windows as _w
    _w._RESOLVE_WIN_FOLDER = _w.get_win_folder_from_env_vars
import json
def emit(value):
    print("RESULT " + json.dumps(value))
"""


def run(platform: str, code: str, env: dict[str, str] | None = None) -> Any:
    """Run ``code`` (which calls ``emit(value)`` once) as ``platform``; the value."""
    missing = WINDOWS_MISSING if platform == "win32" else ()
    src = BOOT.format(platform=platform, missing=missing, windows=platform == "win32") + code
    full_env = {**os.environ, "PYTHONPATH": REPO, **(env or {})}
    res = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True,
                         timeout=120, check=False, env=full_env, cwd=REPO)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, res.stdout + res.stderr
    return json.loads(lines[-1][len("RESULT "):])
