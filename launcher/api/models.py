"""``Container`` and ``Image``: handles on one object of a backend.

A handle holds the id and the last ``inspect`` (``attrs``); every property
that can change is re-read from the backend by ``reload()``, never guessed.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from types import TracebackType
    from typing import Any

    from launcher.api.service import ExecResult, Service


class Handle:
    """One object of a backend: its service, its last inspect object (``attrs``),
    equal to another handle of the same object."""

    def __init__(self, service: Service, attrs: dict[str, Any]) -> None:
        self._service = service
        self.attrs = attrs

    def _key(self) -> str:
        """What names the object in its backend (id, or a volume's name)."""
        return str(self.attrs.get("Id", ""))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._key()[:12]}>"


class Container(Handle):
    """A container of one backend. Leaving ``with`` removes it (stopped first)."""

    def __init__(self, service: Service, cid: str, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(service, attrs or {})
        self.id = cid
        self._output: tuple[bytes, bytes] | None = None  # kept when removed by run()

    def keep_output(self, stdout: bytes, stderr: bytes) -> None:
        """What ``logs()`` returns from now on (the container is about to go)."""
        self._output = (stdout, stderr)

    def _key(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return f"<Container {self.short_id} {self.name or ''}>".replace(" >", ">")

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def name(self) -> str:
        return str(self._attrs().get("Name", "")).lstrip("/")

    @property
    def status(self) -> str:
        """``created``, ``running``, ``paused``, ``restarting``, ``exited`` (as of the
        last ``reload()``)."""
        return str(self._attrs().get("State", {}).get("Status", ""))

    @property
    def exit_code(self) -> int | None:
        """The exit code once it has exited (as of the last ``reload()``), else None."""
        state = self._attrs().get("State", {})
        return None if state.get("Running") or self.status != "exited" \
            else int(state.get("ExitCode", 0))

    @property
    def image(self) -> str:
        return str(self._attrs().get("Config", {}).get("Image", ""))

    @property
    def labels(self) -> dict[str, str]:
        return dict(self._attrs().get("Config", {}).get("Labels") or {})

    @property
    def ports(self) -> dict[str, list[tuple[str, int]]]:
        """Published ports: ``{"5432/tcp": [("0.0.0.0", 49153)]}`` (as of ``reload()``)."""
        found = self._attrs().get("NetworkSettings", {}).get("Ports") or {}
        return {key: [(str(b.get("HostIp", "")), int(b.get("HostPort", 0))) for b in binds]
                for key, binds in found.items() if binds}

    def host_port(self, port: int | str, protocol: str = "tcp") -> int:
        """The host port published for the container's ``port`` (KeyError if none)."""
        key = str(port) if "/" in str(port) else f"{port}/{protocol}"
        binds = self.ports.get(key) or self.reload().ports.get(key)
        if not binds:
            raise KeyError(f"container {self.short_id} publishes no port {key}")
        return binds[0][1]

    def _attrs(self) -> dict[str, Any]:
        if not self.attrs:
            self.reload()
        return self.attrs

    def reload(self) -> Container:
        """Re-read ``attrs`` from the backend; returns self."""
        self.attrs = self._service.inspect(self.id)
        return self

    def inspect(self) -> dict[str, Any]:
        """Docker's inspect object, read now."""
        return self.reload().attrs

    def logs(self, *, stdout: bool = True, stderr: bool = True, tail: int | None = None,
             timestamps: bool = False) -> bytes:
        """The output so far (a detached container's log): stdout, then stderr."""
        if self._output is not None and tail is None and not timestamps:
            out, err = self._output
        else:
            out, err = self._service.logs(self.id, tail=tail, timestamps=timestamps)
        return (out if stdout else b"") + (err if stderr else b"")

    def stream_logs(self, *, tail: int | None = None, timestamps: bool = False
                    ) -> Iterator[bytes]:
        """Output as it comes, until the container stops (``logs -f``)."""
        return self._service.follow_logs(self.id, tail=tail, timestamps=timestamps)

    def exec(self, command: str | Sequence[str], *, environment: Mapping[str, str] | None = None,
             workdir: str | None = None, user: str | None = None, detach: bool = False,
             timeout: float | None = None) -> ExecResult:
        """Run ``command`` in the running container; its exit code and output."""
        if isinstance(command, str):
            import shlex

            command = shlex.split(command)
        env = [f"{k}={v}" for k, v in (environment or {}).items()]
        return self._service.exec(self.id, list(command), env=env, workdir=workdir, user=user,
                                  detach=detach, timeout=timeout)

    exec_run = exec  # docker-py's name

    def wait(self, timeout: float | None = None) -> int:
        """Block until it stops; its exit code (TimeoutError after ``timeout`` s)."""
        return self._service.wait(self.id, timeout)

    def stop(self, timeout: int | None = None) -> None:
        """The stop signal, then SIGKILL after ``timeout`` s (default: its own, else 10)."""
        self._service.stop(self.id, timeout)

    def kill(self, signal: str | int = "KILL") -> None:
        self._service.kill(self.id, signal)

    def remove(self, *, force: bool = False) -> None:
        """Remove it (``force``: even while running, stopping it first)."""
        self._service.remove(self.id, force=force)

    def pause(self) -> None:
        """Freeze all its processes (cgroup freezer)."""
        self._service.pause(self.id, True)

    def unpause(self) -> None:
        self._service.pause(self.id, False)

    def rename(self, name: str) -> None:
        self._service.rename(self.id, name)
        self.reload()

    def stats(self) -> dict[str, str]:
        """One usage sample, ``stats --no-stream``'s columns: ``CPUPerc``,
        ``MemUsage``, ``MemPerc``, ``PIDs``…"""
        return self._service.stats(self.id)

    def get_archive(self, path: str) -> bytes:
        """A tar of ``path`` in the container (``cp CONTAINER:PATH -``)."""
        return self._service.get_archive(self.id, path)

    def put_archive(self, path: str, data: bytes) -> None:
        """Unpack the tar ``data`` into the container's directory ``path``."""
        self._service.put_archive(self.id, path, data)

    def top(self) -> list[dict[str, str]]:
        """Its processes, one dict per process with ``ps -ef``'s column names."""
        return self._service.top(self.id)

    def __enter__(self) -> Container:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        from launcher.errors import NotFoundError

        try:
            self.remove(force=True)
        except NotFoundError:
            pass  # removed already (auto_remove, or by the block itself)


class Image(Handle):
    """An image in one backend's store."""

    @property
    def id(self) -> str:
        return str(self.attrs.get("Id", ""))

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[-1][:12]

    @property
    def tags(self) -> list[str]:
        return [str(t) for t in self.attrs.get("RepoTags") or []]

    @property
    def labels(self) -> dict[str, str]:
        return dict((self.attrs.get("Config") or {}).get("Labels") or {})

    def reload(self) -> Image:
        self.attrs = self._service.image_inspect(self.id)
        return self

    def remove(self, *, force: bool = False) -> None:
        self._service.remove_image(self.id, force=force)

    def tag(self, repository: str, tag: str | None = None) -> None:
        """Another name for this image: ``repository[:tag]``."""
        self._service.tag(self.id, f"{repository}:{tag}" if tag else repository)
        self.reload()

    def __repr__(self) -> str:
        return f"<Image {self.short_id} {', '.join(self.tags)}>"
