"""``Client``: launcher as a Python library, on the CLI's backends.

    from launcher import Client

    with Client() as client:                       # native on Linux, a VM elsewhere
        client.images.pull("busybox")
        with client.containers.run("busybox", ["sleep", "60"], detach=True,
                                   ports={8080: None}) as c:
            print(c.host_port(8080), c.exec("echo hi").output)

The backend is chosen as the CLI chooses it (launcher.backend.select): the
arguments, else ``LAUNCHER_HOST``/``LAUNCHER_BACKEND``, else launcher.toml,
else native on Linux and the default machine elsewhere.
"""

from __future__ import annotations

import os

from launcher.api.models import Container, Image

TYPE_CHECKING = False
_List = list  # the collections' own ``list`` methods shadow the builtin in their bodies
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import TracebackType
    from typing import Any

    from launcher.api.runargs import Env, Ports, Volumes
    from launcher.api.service import Service


class Client:
    """One backend's containers and images.

    ``backend``: ``"native"`` or ``"vm"``; ``host``: ``ssh://user@host[:port]``
    (any Linux machine with launcher installed); ``machine``: the VM backend's
    machine (default ``default``); ``root``: a private launcher root (storage,
    state and config under it, as ``--root``). Leaving ``with`` removes the
    containers this client started that are still there.
    """

    def __init__(self, *, backend: str | None = None, host: str | None = None,
                 machine: str | None = None, root: str | os.PathLike[str] | None = None) -> None:
        from launcher.api.command import Command
        from launcher.backend.select import target, use_vm
        from launcher.paths import Paths

        root_text = os.fspath(root) if root is not None else None
        self.paths = Paths.from_root(root_text)
        chosen: tuple[object, object] = (
            host if host is not None else (os.environ.get("LAUNCHER_HOST") or None),
            backend if backend is not None else (os.environ.get("LAUNCHER_BACKEND") or None))
        if None in chosen:
            chosen = target(self.paths, *chosen)
        host, backend = (str(v) if v else None for v in chosen)
        remote = bool(host) or use_vm(backend)
        global_args = [*(["--root", os.path.abspath(root_text)] if root_text else []),
                       *(["--host", str(host)] if host else []),
                       *(["--backend", str(backend)] if backend and not host else [])]
        env = {"LAUNCHER_MACHINE": machine} if machine else None
        command = Command(global_args, env)
        self.service: Service
        if remote:
            from launcher.api.service import Service

            self.service = Service(command, str(host) if host else "vm")
        else:
            from launcher.api.local import LocalService

            self.service = LocalService(command, self.paths)
        self.started: list[str] = []  # ids of the containers run through this client
        self.containers = ContainerCollection(self)
        self.images = ImageCollection(self)
        from launcher.api.resources import NetworkCollection, VolumeCollection

        self.networks = NetworkCollection(self)
        self.volumes = VolumeCollection(self)
        from launcher.api.kube import Kube

        self.kube = Kube(self)

    @property
    def backend(self) -> str:
        """``native``, ``vm`` or the ``ssh://`` host."""
        return self.service.name

    def version(self) -> dict[str, Any]:
        """launcher's ``version --format json`` report for this backend."""
        from launcher import fastjson

        return dict(fastjson.loads(self.service.command.check(["version", "--format", "json"])))

    def info(self) -> dict[str, Any]:
        """``system info``: the host, the backend, the paths and the settings."""
        return self.service.info()

    def login(self, server: str, username: str, password: str) -> None:
        """Check and store registry credentials (``login``; auth.json, 0600)."""
        self.service.login(server, username, password)

    def logout(self, server: str) -> None:
        self.service.logout(server)

    def close(self) -> None:
        """Remove the containers this client started that are still there."""
        from launcher.errors import NotFoundError

        problems: list[str] = []
        while self.started:
            cid = self.started.pop()
            try:
                self.service.remove(cid, force=True)
            except NotFoundError:
                pass
            except Exception as exc:  # one failure must not leave the rest behind
                problems.append(f"{cid[:12]}: {exc}")
        if problems:
            from launcher.errors import LauncherError

            raise LauncherError("could not remove " + "; ".join(problems))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client backend={self.backend}>"


class ContainerCollection:
    """``client.containers``: run, get and list containers."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def run(self, image: str, command: str | Sequence[str] | None = None, *,
            detach: bool = False, name: str | None = None, ports: Ports | None = None,
            volumes: Volumes | None = None, environment: Env | None = None,
            env: Env | None = None, entrypoint: str | None = None,
            working_dir: str | None = None, user: str | None = None,
            network: str | None = None, labels: Mapping[str, str] | None = None,
            auto_remove: bool = False, mem_limit: str | int | None = None,
            cpus: float | None = None, pull: str | None = None,
            extra_args: Sequence[str] = (), **more: Any) -> Container:
        """Start a container (``launcher run``). ``detach=False`` waits for it to
        exit; either way the ``Container`` is returned (``logs()``, ``exit_code``).

        ``ports``: ``{5432: None}`` (a free host port), ``{"53/udp": 5353}``,
        ``{80: ("127.0.0.1", 8080)}``; ``volumes``: ``{"/host": "/data"}``,
        ``{"/host": {"bind": "/data", "mode": "ro"}}`` or ``["/host:/data:ro"]``;
        ``environment``/``env``: a mapping or ``KEY=VALUE`` strings. Other run
        flags: keywords of docker-py's names (``hostname``, ``init``,
        ``privileged``, ``read_only``, ``restart``, ``stop_signal``, ``tty``…),
        or ``extra_args`` as ``launcher run`` flags.
        """
        from launcher.api.runargs import _BOOL_FLAGS, _VALUE_FLAGS, run_argv
        from launcher.errors import UsageError

        known = {k for k, _ in _VALUE_FLAGS} | {k for k, _ in _BOOL_FLAGS} | {"extra_hosts"}
        unknown = sorted(set(more) - known)
        if unknown:
            raise UsageError(f"containers.run: unknown keyword {unknown[0]!r}")
        if environment is not None and env is not None:
            raise UsageError("containers.run: give environment= or env=, not both")
        opts: dict[str, Any] = {
            **more, "name": name, "ports": ports, "volumes": volumes,
            "environment": environment if environment is not None else env,
            "entrypoint": entrypoint, "working_dir": working_dir, "user": user,
            "network": network, "labels": labels, "auto_remove": auto_remove,
            "mem_limit": mem_limit, "cpus": cpus, "pull": pull, "extra_args": extra_args}
        # Attached with auto_remove: removed here once its code and output are
        # read (the backend's --rm may remove it before a wait could read them).
        removes_itself = auto_remove and detach
        opts["auto_remove"] = removes_itself
        service = self._client.service
        cid = service.run(run_argv(image, command, opts))
        self._client.started.append(cid)
        container = Container(service, cid)
        if not detach:
            container.wait()
            container.reload()
            if auto_remove:
                container.keep_output(*service.logs(cid))
                container.remove(force=True)
        return container

    def get(self, ref: str) -> Container:
        """The container of that name or id (prefix); NotFoundError if none."""
        attrs = self._client.service.inspect(ref)
        return Container(self._client.service, str(attrs.get("Id", ref)), attrs)

    def list(self, *, all: bool = False, filters: Mapping[str, str | Sequence[str]] | None = None
             ) -> list[Container]:
        """Running containers (every one with ``all=True``), newest first;
        ``filters`` as ``ps --filter``: ``{"label": "app=web", "status": "exited"}``."""
        flat = [f"{key}={v}" for key, values in (filters or {}).items()
                for v in ([values] if isinstance(values, str) else values)]
        service = self._client.service
        return [Container(service, cid) for cid in service.ids(all_=all, filters=flat)]

    def prune(self) -> _List[str]:
        """Remove every container that is not running; their ids."""
        return self._client.service.prune_containers()


class ImageCollection:
    """``client.images``: pull, get, list, import and remove images."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def pull(self, ref: str, *, platform: str | None = None) -> Image:
        """Download ``ref`` from its registry (``launcher pull``)."""
        service = self._client.service
        return Image(service, service.pull(ref, platform=platform))

    def get(self, ref: str) -> Image:
        service = self._client.service
        return Image(service, service.image_inspect(ref))

    def list(self) -> list[Image]:
        service = self._client.service
        return [Image(service, service.image_inspect(i)) for i in service.image_ids()]

    def import_rootfs(self, source: str | os.PathLike[str], ref: str) -> Image:
        """A root filesystem tar on this host as image ``ref`` (``launcher import``)."""
        service = self._client.service
        return Image(service, service.image_inspect(service.import_image(os.fspath(source), ref)))

    def remove(self, ref: str, *, force: bool = False) -> None:
        self._client.service.remove_image(ref, force=force)

    def push(self, ref: str, destination: str | None = None) -> str:
        """Upload ``ref`` (to ``destination``, another reference, if given)."""
        return self._client.service.push(ref, destination)

    def save(self, refs: str | Sequence[str], path: str | os.PathLike[str], *,
             format: str = "docker-archive") -> None:
        """Write images to an archive on this host: ``docker-archive``,
        ``oci-archive`` or ``oci-dir``."""
        names = [refs] if isinstance(refs, str) else list(refs)
        self._client.service.save(names, os.path.abspath(os.fspath(path)), format)

    def load(self, path: str | os.PathLike[str]) -> _List[Image]:
        """Read images from an archive on this host (docker, OCI; gzip/zstd)."""
        service = self._client.service
        return [Image(service, service.image_inspect(ref))
                for ref in service.load(os.path.abspath(os.fspath(path)))]

    def prune(self, *, all: bool = False) -> _List[str]:
        """Remove dangling images (every unused one with ``all=True``):
        ``untagged: REF`` and ``deleted: ID`` lines."""
        return self._client.service.prune_images(all_images=all)
