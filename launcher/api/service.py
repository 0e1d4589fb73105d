"""What the Python API asks of a backend, and the two ways of asking.

``Service`` reaches any backend through launcher's own commands run in a child
interpreter (launcher.api.command): the VM and ``ssh://`` backends always go
that way — it is how the CLI forwards to a machine, host agent and port
forwards included. ``LocalService``, for the native backend, calls the same
core the CLI calls (containerlife, containerops, imageops) in this process
for everything that does not fork, and keeps the child for the two verbs
that do (``run`` hands the container to a forked monitor, ``exec`` forks the
process it joins to the container), because the caller may have threads.
"""

from __future__ import annotations

import os

from launcher import fastjson
from launcher.api.command import Command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import Any

    from launcher.paths import Paths


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
        done = self.command.run(["logs", *_log_args(tail, timestamps), ref])
        if done.returncode != 0:
            from launcher.api.command import error_from

            raise error_from(done.returncode, done.stderr)
        return done.stdout, done.stderr

    def follow_logs(self, ref: str, *, tail: int | None = None, timestamps: bool = False
                    ) -> Iterator[bytes]:
        """Output as it comes (stdout and stderr as one stream) until the container stops."""
        proc = self.command.start(["logs", "-f", *_log_args(tail, timestamps), ref])
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

    # Images
    def pull(self, ref: str, *, platform: str | None = None) -> dict[str, Any]:
        self.command.check(["pull", "-q", *(["--platform", platform] if platform else []), ref])
        return self.image_inspect(ref)

    def image_inspect(self, ref: str) -> dict[str, Any]:
        doc = fastjson.loads(self.command.check(["image", "inspect", ref]))
        return doc[0] if isinstance(doc, list) and doc else {}

    def image_ids(self) -> list[str]:
        return _unique(self.command.check(["images", "-q", "--no-trunc"]).decode().split())

    def remove_image(self, ref: str, *, force: bool = False) -> None:
        self.command.check(["rmi", *(["-f"] if force else []), ref])

    def import_image(self, source: str, ref: str) -> str:
        """``launcher import`` of a rootfs tar (a host path): the image's id."""
        return self.command.check(["import", source, ref]).decode().strip()


class LocalService(Service):
    """The native backend: the core in this process, a child only for what forks."""

    def __init__(self, command: Command, paths: Paths) -> None:
        super().__init__(command, "native")
        self.paths = paths

    def inspect(self, ref: str) -> dict[str, Any]:
        from launcher import containerlife

        return containerlife.inspect(self.paths, ref)

    def ids(self, *, all_: bool, filters: Sequence[str] = ()) -> list[str]:
        from launcher import containerops

        return [c.id for c in containerops.list_containers(self.paths, all_=all_,
                                                           filters=list(filters))[0]]

    def logs(self, ref: str, *, tail: int | None = None, timestamps: bool = False
             ) -> tuple[bytes, bytes]:
        from launcher import containerops

        out: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
        for stream, data in containerops.logs(self.paths, ref, follow=False, tail=tail,
                                              timestamps=timestamps):
            out["stderr" if stream == "stderr" else "stdout"].append(data)
        return b"".join(out["stdout"]), b"".join(out["stderr"])

    def follow_logs(self, ref: str, *, tail: int | None = None, timestamps: bool = False
                    ) -> Iterator[bytes]:
        from launcher import containerops

        for _, data in containerops.logs(self.paths, ref, follow=True, tail=tail,
                                         timestamps=timestamps):
            yield data

    def wait(self, ref: str, timeout: float | None = None) -> int:
        from launcher import containerlife

        if timeout is not None:
            _wait_not_running(self.paths, ref, timeout)
        return containerlife.wait(self.paths, ref)

    def stop(self, ref: str, timeout: int | None = None) -> None:
        from launcher import containerlife

        containerlife.stop(self.paths, ref, timeout)

    def kill(self, ref: str, signal: str | int = "KILL") -> None:
        from launcher import containerlife
        from launcher.errors import UsageError
        from launcher.runopts import stop_signal

        try:
            number = signal if isinstance(signal, int) else stop_signal(signal)
        except ValueError as exc:
            raise UsageError(f"invalid signal {signal!r}: {exc}") from None
        containerlife.kill(self.paths, ref, number)

    def remove(self, ref: str, *, force: bool = False) -> None:
        from launcher import containerops

        _, errors = containerops.remove(self.paths, [ref], force=force)
        if errors:  # the core reports per ref (rm takes many): raise this one's
            from launcher.api.command import error_from

            raise error_from(125, f"launcher: {errors[0]}".encode())

    def pull(self, ref: str, *, platform: str | None = None) -> dict[str, Any]:
        from launcher import imageops
        from launcher.image import platform as plat

        result = imageops.pull(self.paths, ref, platform=plat.parse(platform) if platform
                               else None)
        return imageops.inspect(self.paths, result.image.id)

    def image_inspect(self, ref: str) -> dict[str, Any]:
        from launcher import imageops

        return imageops.inspect(self.paths, ref)

    def image_ids(self) -> list[str]:
        from launcher import imageops

        return _unique(str(s.id) for s in imageops.summaries(self.paths))

    def remove_image(self, ref: str, *, force: bool = False) -> None:
        from launcher import imageops

        imageops.remove(self.paths, [ref], force=force)

    def import_image(self, source: str, ref: str) -> str:
        from launcher import engine

        return engine.import_image(self.paths, source, ref)


def _wait_not_running(paths: Paths, ref: str, timeout: float) -> None:
    """Poll until the container is not running; TimeoutError after ``timeout`` s."""
    import time

    from launcher.backend.linux import containers
    from launcher.containerlife import POLL
    from launcher.errors import NotFoundError

    deadline = time.monotonic() + timeout
    c = containers.find(paths, ref)
    while c.running:
        if time.monotonic() >= deadline:
            raise TimeoutError(f"container {ref} still running after {timeout:g} s")
        time.sleep(POLL)
        try:
            c = containers.load(paths, c.id)
        except NotFoundError:
            return  # removed once it ended (--rm)


def _log_args(tail: int | None, timestamps: bool) -> list[str]:
    return [*(["--tail", str(tail)] if tail is not None else []), *(["-t"] if timestamps else [])]


def _unique(items: Iterator[str] | list[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item and item not in seen:
            seen.append(item)
    return seen
