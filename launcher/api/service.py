"""What the Python API asks of a backend: ``Service``, through launcher's commands.

``Service`` reaches any backend through launcher's own commands run in a child
interpreter (launcher.api.command): the VM and ``ssh://`` backends always go
that way — it is how the CLI forwards to a machine, host agent and port
forwards included. ``launcher.api.local.LocalService``, for the native
backend, overrides what can run in the caller's process.
"""

from __future__ import annotations

import os

from launcher import fastjson
from launcher.api.command import Command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from typing import Any


class ExecResult:
    """What ``Container.exec`` returns: the exit code and both streams."""

    __slots__ = ("exit_code", "stderr", "stdout")

    def __init__(self, exit_code: int, stdout: bytes, stderr: bytes) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr

    @property
    def output(self) -> bytes:
        """stdout then stderr (docker-py's ``output`` without demux)."""
        return self.stdout + self.stderr

    def __iter__(self) -> Iterator[Any]:  # exit_code, output = container.exec(...)
        return iter((self.exit_code, self.output))

    def __repr__(self) -> str:
        return f"ExecResult(exit_code={self.exit_code}, output={self.output[:60]!r})"


class Service:
    """A backend reached through ``launcher`` commands (VM, ``ssh://``)."""

    def __init__(self, command: Command, name: str) -> None:
        self.command = command
        self.name = name

    # Containers
    def run(self, argv: Sequence[str]) -> str:
        """``launcher run -d ARGV``: the new container's id."""
        out = self.command.check(["run", *argv]).decode(errors="replace").split()
        return out[-1] if out else ""

    def exec(self, ref: str, command: Sequence[str], *, env: Sequence[str] = (),
             workdir: str | None = None, user: str | None = None,
             detach: bool = False, timeout: float | None = None) -> ExecResult:
        args = ["exec", *(["-d"] if detach else [])]
        for entry in env:
            args += ["-e", entry]
        args += [*(["-w", workdir] if workdir else []), *(["-u", user] if user else [])]
        done = self.command.run([*args, "--", ref, *command], timeout=timeout)
        if done.returncode == 125 and done.stderr.startswith(b"launcher: "):
            from launcher.api.command import error_from

            raise error_from(done.returncode, done.stderr)
        return ExecResult(done.returncode, done.stdout, done.stderr)

    def inspect(self, ref: str) -> dict[str, Any]:
        doc = fastjson.loads(self.command.check(["container", "inspect", ref]))
        return doc[0] if isinstance(doc, list) and doc else {}

    def ids(self, *, all_: bool, filters: Sequence[str] = ()) -> list[str]:
        args = ["ps", "-q", "--no-trunc", *(["-a"] if all_ else [])]
        for f in filters:
            args += ["--filter", f]
        return self.command.check(args).decode().split()

    def logs(self, ref: str, *, tail: int | None = None, timestamps: bool = False
             ) -> tuple[bytes, bytes]:
        done = self.command.run(["logs", *log_args(tail, timestamps), ref])
        if done.returncode != 0:
            from launcher.api.command import error_from

            raise error_from(done.returncode, done.stderr)
        return done.stdout, done.stderr

    def follow_logs(self, ref: str, *, tail: int | None = None, timestamps: bool = False
                    ) -> Iterator[bytes]:
        """Output as it comes (stdout and stderr as one stream) until the container stops."""
        proc = self.command.start(["logs", "-f", *log_args(tail, timestamps), ref])
        assert proc.stdout is not None and proc.stderr is not None
        try:
            yield from iter(lambda: os.read(proc.stdout.fileno(), 65536), b"")  # type: ignore[union-attr]
            if proc.wait() != 0:
                from launcher.api.command import error_from

                raise error_from(proc.returncode, proc.stderr.read())
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()

    def wait(self, ref: str, timeout: float | None = None) -> int:
        """The exit code; TimeoutError if still running after ``timeout`` s."""
        out = self.command.check(["wait", ref], timeout=timeout).decode().split()
        return int(out[-1]) if out and out[-1].lstrip("-").isdigit() else 255

    def stop(self, ref: str, timeout: int | None = None) -> None:
        self.command.check(["stop", *(["-t", str(timeout)] if timeout is not None else []), ref])

    def kill(self, ref: str, signal: str | int = "KILL") -> None:
        self.command.check(["kill", "-s", str(signal), ref])

    def remove(self, ref: str, *, force: bool = False) -> None:
        self.command.check(["rm", *(["-f"] if force else []), ref])

    def pause(self, ref: str, freeze: bool = True) -> None:
        self.command.check(["pause" if freeze else "unpause", ref])

    def rename(self, ref: str, new: str) -> None:
        self.command.check(["rename", ref, new])

    def top(self, ref: str) -> list[dict[str, str]]:
        rows = self.command.check(["top", "--format", "json", ref]).splitlines()
        return [dict(fastjson.loads(r)) for r in rows if r.strip()]

    def stats(self, ref: str) -> dict[str, str]:
        """One sample: ``stats --no-stream --format json``'s row."""
        rows = self.command.check(["stats", "--no-stream", "--format", "json", ref]).splitlines()
        return dict(fastjson.loads(rows[0])) if rows else {}

    def get_archive(self, ref: str, path: str) -> bytes:
        """``cp REF:PATH -``: a tar of the path."""
        return self.command.check(["cp", f"{ref}:{path}", "-"])

    def put_archive(self, ref: str, path: str, data: bytes) -> None:
        """``cp - REF:PATH``: a tar unpacked into the directory ``path``."""
        self.command.check(["cp", "-", f"{ref}:{path}"], stdin=data)

    def prune_containers(self) -> list[str]:
        return _listed(self.command.check(["container", "prune", "-f"]), "Deleted Containers:")

    def info(self) -> dict[str, Any]:
        return dict(fastjson.loads(self.command.check(["system", "info", "--format", "json"])))

    def login(self, server: str, username: str, password: str) -> None:
        self.command.check(["login", "-u", username, "--password-stdin", "--", server],
                           stdin=password.encode())

    def logout(self, server: str) -> None:
        self.command.check(["logout", "--", server])

    # Networks and volumes
    def prune_networks(self) -> list[str]:
        return _listed(self.command.check(["network", "prune", "-f"]), "Deleted Networks:")

    def network_create(self, name: str, *, subnet: str | None = None,
                       gateway: str | None = None, internal: bool = False,
                       labels: Mapping[str, str] | None = None) -> str:
        args = ["network", "create", *(["--subnet", subnet] if subnet else []),
                *(["--gateway", gateway] if gateway else []),
                *(["--internal"] if internal else [])]
        for key, value in (labels or {}).items():
            args += ["--label", f"{key}={value}"]
        return self.command.check([*args, "--", name]).decode().strip()

    def network_inspect(self, ref: str) -> dict[str, Any]:
        doc = fastjson.loads(self.command.check(["network", "inspect", ref]))
        return doc[0] if isinstance(doc, list) and doc else {}

    def network_ids(self) -> list[str]:
        return self.command.check(["network", "ls", "-q", "--no-trunc"]).decode().split()

    def network_remove(self, ref: str) -> None:
        self.command.check(["network", "rm", ref])

    def network_connect(self, network: str, ref: str, *, connect: bool = True) -> None:
        """Connect (or disconnect) a container; a running one's namespace is
        entered, which a process with threads must not do: always the child."""
        self.command.check(["network", "connect" if connect else "disconnect", network, ref])

    def volume_create(self, name: str | None = None,
                      labels: Mapping[str, str] | None = None) -> str:
        args = ["volume", "create"]
        for key, value in (labels or {}).items():
            args += ["--label", f"{key}={value}"]
        return self.command.check([*args, *(["--", name] if name else [])]).decode().strip()

    def volume_inspect(self, name: str) -> dict[str, Any]:
        doc = fastjson.loads(self.command.check(["volume", "inspect", name]))
        return doc[0] if isinstance(doc, list) and doc else {}

    def volume_names(self) -> list[str]:
        return self.command.check(["volume", "ls", "-q"]).decode().split()

    def volume_remove(self, name: str) -> None:
        self.command.check(["volume", "rm", name])

    # Images
    def pull(self, ref: str, *, platform: str | None = None) -> dict[str, Any]:
        self.command.check(["pull", "-q", *(["--platform", platform] if platform else []), ref])
        return self.image_inspect(ref)

    def image_inspect(self, ref: str) -> dict[str, Any]:
        doc = fastjson.loads(self.command.check(["image", "inspect", ref]))
        return doc[0] if isinstance(doc, list) and doc else {}

    def image_ids(self) -> list[str]:
        return unique(self.command.check(["images", "-q", "--no-trunc"]).decode().split())

    def push(self, ref: str, destination: str | None = None) -> str:
        """``push -q``: what it printed (the reference pushed)."""
        out = self.command.check(["push", "-q", "--", ref, *([destination] if destination
                                                             else [])])
        return out.decode().strip()

    def tag(self, source: str, target: str) -> None:
        self.command.check(["tag", "--", source, target])

    def save(self, refs: Sequence[str], path: str, fmt: str) -> None:
        self.command.check(["save", "-o", path, "--format", fmt, "--", *refs])

    def load(self, path: str) -> list[str]:
        """``load -i``: the images loaded (references, or ids of untagged ones)."""
        lines = self.command.check(["load", "-i", path]).decode().splitlines()
        return [line.split(": ", 1)[1] for line in lines if line.startswith("Loaded image")]

    def prune_images(self, *, all_images: bool = False) -> list[str]:
        """``image prune -f``: ``untagged: REF`` / ``deleted: ID`` lines."""
        out = self.command.check(["image", "prune", "-f", *(["-a"] if all_images else [])])
        return _listed(out, "Deleted Images:")

    def remove_image(self, ref: str, *, force: bool = False) -> None:
        self.command.check(["rmi", *(["-f"] if force else []), ref])

    def import_image(self, source: str, ref: str) -> str:
        """``launcher import`` of a rootfs tar (a host path): the image's id."""
        return self.command.check(["import", source, ref]).decode().strip()


def log_args(tail: int | None, timestamps: bool) -> list[str]:
    return [*(["--tail", str(tail)] if tail is not None else []), *(["-t"] if timestamps else [])]


def _listed(out: bytes, heading: str) -> list[str]:
    """The lines under ``heading`` in a prune report, up to the blank line."""
    lines = out.decode(errors="replace").splitlines()
    if heading not in lines:
        return []
    found = lines[lines.index(heading) + 1:]
    return found[:found.index("")] if "" in found else found


def unique(items: Iterator[str] | list[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item and item not in seen:
            seen.append(item)
    return seen
