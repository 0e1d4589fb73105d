"""``LocalService``: the native backend, the core called in this process.

It calls the same core the CLI calls (containerlife, containerops, imageops,
network.manage, the volume store) for everything that neither forks nor
enters a namespace, and keeps ``Service``'s child interpreter for what does:
``run`` hands the container to a forked monitor, ``exec`` forks the process
it joins to the container, ``network connect`` enters the container's network
namespace — and the caller may have threads.
"""

from __future__ import annotations

from launcher.api.service import Service, unique

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from typing import Any

    from launcher.api.command import Command
    from launcher.paths import Paths


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

        return unique(str(s.id) for s in imageops.summaries(self.paths))

    def remove_image(self, ref: str, *, force: bool = False) -> None:
        from launcher import imageops

        imageops.remove(self.paths, [ref], force=force)

    def import_image(self, source: str, ref: str) -> str:
        from launcher import engine

        return engine.import_image(self.paths, source, ref)


    def pause(self, ref: str, freeze: bool = True) -> None:
        from launcher import containerlife

        containerlife.pause(self.paths, ref, freeze)

    def rename(self, ref: str, new: str) -> None:
        from launcher import containerlife

        containerlife.rename(self.paths, ref, new)

    def top(self, ref: str) -> list[dict[str, str]]:
        from launcher import containerlife
        from launcher.backend.linux.top import TOP_TITLES

        return [dict(zip(TOP_TITLES, row, strict=True))
                for row in containerlife.top(self.paths, ref)]

    def prune_containers(self) -> list[str]:
        from launcher import containerops

        return containerops.prune(self.paths)

    def info(self) -> dict[str, Any]:
        from launcher import engine

        return engine.system_info(self.paths)

    def tag(self, source: str, target: str) -> None:
        from launcher import imageops

        imageops.tag(self.paths, source, target)

    def prune_networks(self) -> list[str]:
        from launcher.network.manage import prune

        return prune(self.paths)

    def network_create(self, name: str, *, subnet: str | None = None,
                       gateway: str | None = None, internal: bool = False,
                       labels: Mapping[str, str] | None = None) -> str:
        from launcher.network.manage import store

        return str(store(self.paths).create(name, subnet, gateway, internal,
                                            dict(labels or {})).id)

    def network_inspect(self, ref: str) -> dict[str, Any]:
        from launcher.network.manage import inspect

        return inspect(self.paths, ref)

    def network_ids(self) -> list[str]:
        from launcher.network.manage import store

        return [str(n.id) for n in store(self.paths).list()]

    def network_remove(self, ref: str) -> None:
        from launcher.network.manage import remove

        remove(self.paths, ref)

    def _volumes(self) -> Any:
        from launcher.backend.linux.volstore import VolumeStore
        from launcher.backend.select import require_native

        require_native()
        return VolumeStore(self.paths)

    def volume_create(self, name: str | None = None,
                      labels: Mapping[str, str] | None = None) -> str:
        return str(self._volumes().create(name, dict(labels or {}))[0])

    def volume_inspect(self, name: str) -> dict[str, Any]:
        return dict(self._volumes().inspect(name))

    def volume_names(self) -> list[str]:
        return [str(n) for n in self._volumes().names()]

    def volume_remove(self, name: str) -> None:
        self._volumes().remove(name)


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
