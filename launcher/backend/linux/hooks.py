"""OCI hooks: run a program with the container state on stdin.

Only loaded when a spec has hooks (``subprocess`` is not cheap to import).
Failures of prestart/createRuntime/createContainer/startContainer abort the
create or start; poststart/poststop failures are logged, as the spec says.
"""

from __future__ import annotations

from launcher import fastjson
from launcher.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from launcher.spec.model import Hook

FATAL = frozenset({"prestart", "createRuntime", "createContainer", "startContainer"})


def run_hooks(hooks: list[Hook] | None, state: dict[str, Any] | None, phase: str) -> list[str]:
    """Run each hook in order; returns warnings for non-fatal phases."""
    import subprocess

    warnings: list[str] = []
    payload = fastjson.dumps(state or {}).encode()
    for hook in hooks or ():
        path = hook.path or ""
        args = list(hook.args or [path])
        env = dict(e.partition("=")[::2] for e in hook.env or ())
        try:
            res = subprocess.run(
                args, executable=path, input=payload, env=env, capture_output=True,
                timeout=hook.timeout or None, check=False, close_fds=True,
            )
            err = None if res.returncode == 0 else (
                f"exit status {res.returncode}: {res.stderr.decode(errors='replace').strip()}"
            )
        except subprocess.TimeoutExpired:
            err = f"timed out after {hook.timeout}s"
        except OSError as exc:
            err = exc.strerror or str(exc)
        if err is None:
            continue
        msg = f"{phase} hook {hook.path} failed: {err}"
        if phase in FATAL:
            raise RuntimeFailure(msg)
        warnings.append(msg)
    return warnings
