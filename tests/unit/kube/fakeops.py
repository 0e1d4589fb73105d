"""A fake ``PodOps`` for kube play/down tests: the host as dictionaries."""

from __future__ import annotations

from launcher.errors import LauncherError, NotFoundError
from launcher.kube.pause import PAUSE_IMAGE
from launcher.spec.request import RunRequest


class FakeOps:
    """PodOps' methods, on dictionaries; ``fail_on``: the container name whose start fails."""

    def __init__(self) -> None:
        self.started: list[RunRequest] = []
        self.containers: dict[str, tuple[str, dict[str, str]]] = {}  # id -> (name, labels)
        self.volumes: dict[str, dict[str, str]] = {}
        self.removed: list[str] = []
        self.pause_built = 0
        self.fail_on: str | None = None
        self.interrupt = False

    def pause_image(self) -> str:
        self.pause_built += 1
        return PAUSE_IMAGE

    def start(self, req: RunRequest) -> str:
        if req.name == self.fail_on:
            if self.interrupt:
                raise KeyboardInterrupt
            err = LauncherError(f"exec: {req.command[0] if req.command else 'x'}: not found")
            err.exit_code = 127
            raise err
        cid = f"{len(self.containers) + 1:064x}"
        self.started.append(req)
        self.containers[cid] = (req.name or "", dict(req.labels))
        return cid

    def pod_containers(self, pod: str) -> list[tuple[str, str]]:
        return [(cid, labels.get("io.launcher.kube.container", ""))
                for cid, (_, labels) in self.containers.items()
                if labels.get("io.launcher.kube.pod") == pod]

    def remove_container(self, cid: str) -> None:
        self.removed.append(self.containers.pop(cid)[0])

    def volume_labels(self, name: str) -> dict[str, str] | None:
        return self.volumes.get(name)

    def create_volume(self, name: str, labels: dict[str, str]) -> bool:
        if name in self.volumes:
            return False
        self.volumes[name] = dict(labels)
        return True

    def remove_volume(self, name: str) -> None:
        if name not in self.volumes:
            raise NotFoundError(f"no such volume: {name}")
        del self.volumes[name]
        self.removed.append(f"volume {name}")
