"""The one error tree of launcher.

    LauncherError                 any failure of launcher itself (CLI exit 125)
     ├── UsageError               bad flags or arguments given by the user
     ├── ConfigError              an invalid OCI config.json / spec (list of problems)
     ├── NotFoundError            no such container, image, bundle or file
     ├── ConflictError            a name/id already taken, or a verb not allowed in a state
     ├── StateError               a corrupt or unreadable state file (names the file)
     ├── ImageError               image store, import or layer unpacking failures
     │    └── RegistryError       a registry answered badly, or could not be reached
     │         └── AuthError      the registry refused the credentials (or wants some)
     ├── UnsupportedError         a feature this host or backend does not have
     └── RuntimeFailure           a syscall/kernel step of creating or running a container
          └── ExecFailure         the container process could not be executed
                                  (exit 126: cannot invoke, 127: not found)

Lower layers wrap ``OSError`` and library errors where they call them
(``raise X(...) from exc``) with the path or operation in the message; the CLI
prints ``str(err)`` once, on one line, and exits with ``err.exit_code``.
"""

from __future__ import annotations


class LauncherError(Exception):
    """Base of every error launcher raises on purpose."""

    exit_code = 125


class UsageError(LauncherError):
    pass


class ConfigError(LauncherError):
    def __init__(self, problems: list[str] | str) -> None:
        if isinstance(problems, str):
            problems = [problems]
        self.problems = problems
        super().__init__("invalid config: " + "; ".join(problems))


class NotFoundError(LauncherError):
    pass


class ConflictError(LauncherError):
    pass


class StateError(LauncherError):
    pass


class ImageError(LauncherError):
    pass


class RegistryError(ImageError):
    """A registry request failed; the message names the registry and what was asked."""


class AuthError(RegistryError):
    pass


class UnsupportedError(LauncherError):
    pass


class RuntimeFailure(LauncherError):
    pass


def from_os_error(exc: OSError) -> LauncherError:
    """The last-resort translation of an OSError nobody wrapped: one line,
    naming the file (the CLIs use it so that no traceback reaches a user)."""
    where = f"{exc.filename}: " if exc.filename else ""
    err = RuntimeFailure(f"{where}{exc.strerror or exc}")
    err.__cause__ = exc
    return err


class ExecFailure(RuntimeFailure):
    """The container's process could not be started (Docker: 126 or 127)."""

    def __init__(self, message: str, exit_code: int = 126) -> None:
        super().__init__(message)
        self.exit_code = exit_code
