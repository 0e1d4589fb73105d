"""What ``kube play`` and ``kube down`` do to this host, behind one small seam.

``play.py`` decides (order, rollback, output); ``PodOps`` acts: run a container
as ``run -d`` does, find a pod's containers by label, remove containers and
volumes, build the pause image. Unit tests hand ``play`` a fake with the same
methods.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.paths import Paths
    from launcher.spec.request import RunRequest

_HEX = frozenset("0123456789abcdef")


class PodOps:
    __slots__ = ("paths",)

    def __init__(self, paths: Paths) -> None:
        from launcher.backend.select import require_native

        require_native()  # containers live with the native backend: say so clearly
        self.paths = paths

    def pause_image(self) -> str:
        from launcher.kube.pause import ensure_image

        return ensure_image(self.paths)

    def start(self, req: RunRequest) -> str:
        """Run ``req`` (detached) and return the new container's id.

        ``run -d`` prints the id on stdout; ``kube play`` prints its own report,
        so the id is taken from a private ``sys.stdout`` for the call. Nothing
        else writes to stdout there (pull progress and warnings go to stderr),
        and the monitor fork gets its own stdio.
        """
        import io
        import sys

        from launcher import engine

        req.detach = True
        sys.stdout.flush()
        saved, sys.stdout = sys.stdout, io.StringIO()
        try:
            engine.run_container(self.paths, req)
            printed = sys.stdout.getvalue().strip()
        finally:
            sys.stdout = saved
        if len(printed) == 64 and _HEX.issuperset(printed):
            return printed
        from launcher.backend.linux import containers

        assert req.name is not None  # kube play names every container
        return containers.find(self.paths, req.name).id

    def pod_containers(self, pod: str) -> list[tuple[str, str]]:
        """(id, name in the manifest) of each container labelled as ``pod``'s."""
        from launcher.containerops import list_containers
        from launcher.kube.model import CONTAINER_LABEL, POD_LABEL

        found, _ = list_containers(self.paths, all_=True)
        return [(c.id, c.record.labels.get(CONTAINER_LABEL, "")) for c in found
                if c.record.labels.get(POD_LABEL) == pod]

    def remove_container(self, cid: str) -> None:
        """``rm -f``: kill it and remove everything it has; gone already is fine."""
        from launcher.backend.linux import containers
        from launcher.errors import NotFoundError

        try:
            c = containers.load(self.paths, cid, tolerant=True)
        except NotFoundError:
            return
        containers.remove(self.paths, c, force=True)

    def volume_labels(self, name: str) -> dict[str, str] | None:
        """The labels of volume ``name``; None when there is no such volume."""
        from launcher.backend.linux.volstore import VolumeStore
        from launcher.errors import NotFoundError

        try:
            labels = VolumeStore(self.paths).inspect(name)["Labels"]
        except NotFoundError:
            return None
        return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}

    def create_volume(self, name: str, labels: dict[str, str]) -> bool:
        """Make volume ``name`` unless it exists; whether it was made now."""
        from launcher.backend.linux.volstore import VolumeStore

        return VolumeStore(self.paths).create(name, labels)[1]

    def remove_volume(self, name: str) -> None:
        from launcher.backend.linux.volstore import VolumeStore

        VolumeStore(self.paths).remove(name)
