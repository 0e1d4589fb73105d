"""Running one ``launcher`` command in a child interpreter, for the Python API.

Why a child: the native backend forks the process that runs a container (its
monitor, ``exec``'s process), and a library's caller may have threads — a fork
then copies locks held by threads that do not exist in the child. A fresh
interpreter (``python -m launcher``) forks nothing of the caller's, and for
the VM and ``ssh://`` backends it is the very path the CLI takes (host agent,
port forwards, shares), so behaviour is identical.

The child's failure comes back as the error class it would have raised in
process, read from its one-line ``launcher: MESSAGE`` and exit code.
"""

from __future__ import annotations

import os
import subprocess
import sys

from launcher import errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

CALL_TIMEOUT = 600.0  # pulls through a machine that boots first take minutes under TCG
KIND_ENV = "LAUNCHER_ERROR_KIND"  # launcher.cli.main: name the error's class too


class Command:
    """How to start launcher with this client's global options."""

    __slots__ = ("env", "global_args")

    def __init__(self, global_args: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.global_args = list(global_args)
        self.env = env

    def argv(self, args: Sequence[str]) -> list[str]:
        return [sys.executable, "-m", "launcher", *self.global_args, *args]

    def _env(self) -> dict[str, str]:
        return {**os.environ, **(self.env or {}), KIND_ENV: "1"}

    def run(self, args: Sequence[str], *, stdin: bytes | None = None,
            timeout: float | None = CALL_TIMEOUT) -> subprocess.CompletedProcess[bytes]:
        """Run ``launcher ARGS``; its result, whatever the exit code."""
        env = self._env()
        try:
            return subprocess.run(self.argv(args), input=stdin, capture_output=True,
                                  env=env, timeout=timeout,
                                  stdin=None if stdin is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired:  # the child is killed by subprocess.run
            raise TimeoutError(f"launcher {' '.join(args[:1])}: no answer after "
                               f"{timeout:g} s") from None

    def check(self, args: Sequence[str], *, stdin: bytes | None = None,
              timeout: float | None = CALL_TIMEOUT) -> bytes:
        """Run ``launcher ARGS``; its stdout, or its error raised here."""
        done = self.run(args, stdin=stdin, timeout=timeout)
        if done.returncode != 0:
            raise error_from(done.returncode, done.stderr)
        return done.stdout

    def start(self, args: Sequence[str]) -> subprocess.Popen[bytes]:
        """``launcher ARGS`` running, its stdout and stderr piped (``logs -f``)."""
        env = self._env()
        return subprocess.Popen(self.argv(args), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


_KIND = "error kind: "


def _named(name: str) -> type[errors.LauncherError]:
    """The class the child named (a launcher that names none: LauncherError)."""
    found = getattr(errors, name, None)
    return found if isinstance(found, type) and issubclass(found, errors.LauncherError) \
        else errors.LauncherError


def _guessed(message: str) -> type[errors.LauncherError]:
    """From the message: a child that does not name the class (a guest's
    launcher behind the VM backend's agent)."""
    lowered = message.lower()
    for needles, kind in _KINDS:
        if any(n in lowered for n in needles):
            return kind
    return errors.LauncherError


# The phrasings of launcher's own errors, to raise the class the child raised.
_KINDS: tuple[tuple[tuple[str, ...], type[errors.LauncherError]], ...] = (
    (("no such ", "not found", "does not exist"), errors.NotFoundError),
    (("already in use", "is not running", "conflict", "is running", "is paused"),
     errors.ConflictError),
    (("unknown flag", "invalid ", "requires ", "unknown backend", "conflicting options",
      "bad "), errors.UsageError),
    (("registry", "manifest", "unauthorized"), errors.RegistryError),
    (("needs a linux kernel", "not supported", "unsupported"), errors.UnsupportedError),
)


def error_from(code: int, stderr: bytes) -> errors.LauncherError:
    """The error a failed ``launcher`` child reported (its last ``launcher:`` line)."""
    text = stderr.decode(errors="replace")
    lines = [line[len("launcher: "):] for line in text.splitlines()
             if line.startswith("launcher: ") and not line.startswith("launcher: debug:")]
    kinds = [line[len(_KIND):] for line in lines if line.startswith(_KIND)]
    lines = [line for line in lines if not line.startswith(_KIND)]
    message = lines[-1] if lines else (text.strip().splitlines() or [""])[-1]
    message = message or f"launcher exited with {code}"
    cls = _named(kinds[-1]) if kinds else _guessed(message)
    err = cls.__new__(cls)  # ConfigError's __init__ wants its problems: the message is whole
    errors.LauncherError.__init__(err, message)
    if code != 125:
        err.exit_code = code
    return err
