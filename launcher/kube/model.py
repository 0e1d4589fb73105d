"""What ``kube play`` and ``kube down`` act on: a checked Pod, read from a manifest
by ``manifest.py``. Plain records (``__slots__``); every value is already valid."""

from __future__ import annotations

POD_LABEL = "io.launcher.kube.pod"  # on every container and emptyDir volume of a pod
CONTAINER_LABEL = "io.launcher.kube.container"  # the container's name in the manifest
VOLUME_LABEL = "io.launcher.kube.volume"  # an emptyDir volume's name in the manifest
INFRA = "infra"  # CONTAINER_LABEL of the pod's infra container, which owns the network


class Port:
    __slots__ = ("container_port", "host_ip", "host_port", "protocol")

    def __init__(self, container_port: int, host_port: int = 0, host_ip: str = "",
                 protocol: str = "tcp") -> None:
        self.container_port = container_port
        self.host_port = host_port  # 0: not published (as in Kubernetes)
        self.host_ip = host_ip  # "": every address
        self.protocol = protocol  # tcp | udp | sctp

    def publish(self) -> str:
        """As ``-p``: ``[IP:]HOST:CONTAINER/PROTO``."""
        ip = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        head = f"{ip}:" if ip else ""
        return f"{head}{self.host_port}:{self.container_port}/{self.protocol}"


class Volume:
    """``kind``: ``hostPath`` (``source`` a host path, ``host_type`` Kubernetes'
    check), ``emptyDir`` (``source`` the volume launcher makes: ``<pod>-<name>``)
    or ``persistentVolumeClaim`` (``source`` the named volume, kept at down)."""

    __slots__ = ("host_type", "kind", "name", "read_only", "source")

    def __init__(self, name: str, kind: str, source: str, host_type: str = "",
                 read_only: bool = False) -> None:
        self.name = name
        self.kind = kind
        self.source = source
        self.host_type = host_type
        self.read_only = read_only


class Mount:
    __slots__ = ("path", "read_only", "volume")

    def __init__(self, volume: str, path: str, read_only: bool = False) -> None:
        self.volume = volume
        self.path = path
        self.read_only = read_only


class Container:
    """One entry of ``spec.containers``, in launcher's terms (``run`` flags)."""

    __slots__ = ("args", "cap_add", "cap_drop", "command", "cpus", "env", "image", "memory",
                 "mounts", "name", "no_new_privs", "ports", "privileged", "pull", "read_only",
                 "seccomp_unconfined", "stdin", "tty", "user", "workdir")

    def __init__(self, name: str, image: str) -> None:
        self.name = name
        self.image = image
        self.command: list[str] = []  # replaces the image's Entrypoint (and Cmd)
        self.args: list[str] = []  # replaces the image's Cmd
        self.env: list[tuple[str, str]] = []
        self.workdir: str | None = None
        self.ports: list[Port] = []
        self.mounts: list[Mount] = []
        self.memory: int | None = None  # bytes
        self.cpus: float | None = None
        self.pull = "missing"  # imagePullPolicy as --pull
        self.user: str | None = None  # "uid[:gid]"
        self.privileged = False
        self.cap_add: list[str] = []
        self.cap_drop: list[str] = []
        self.read_only = False
        self.no_new_privs = False
        self.seccomp_unconfined = False
        self.tty = False
        self.stdin = False


class Pod:
    """A Pod (or a Deployment's template): its containers share the network
    namespace of the infra container, which publishes every ``hostPort``."""

    __slots__ = ("containers", "dns", "dns_options", "dns_search", "host_aliases",
                 "host_network", "hostname", "labels", "name", "restart", "volumes")

    def __init__(self, name: str) -> None:
        self.name = name
        self.labels: dict[str, str] = {}
        self.containers: list[Container] = []
        self.volumes: list[Volume] = []
        self.restart = "always"  # restartPolicy as --restart (Kubernetes' default: Always)
        self.host_network = False
        self.hostname: str | None = None
        self.dns: list[str] = []
        self.dns_search: list[str] = []
        self.dns_options: list[str] = []
        self.host_aliases: list[tuple[str, str]] = []  # (hostname, ip)

    def container_name(self, container: str) -> str:
        """The launcher container's name, as podman names them: ``<pod>-<container>``."""
        return f"{self.name}-{container}"

    @property
    def infra_name(self) -> str:
        return self.container_name(INFRA)

    def published(self) -> list[Port]:
        """Every port of every container that has a hostPort: the infra publishes them."""
        return [p for c in self.containers for p in c.ports if p.host_port]

    def volume(self, name: str) -> Volume:
        return next(v for v in self.volumes if v.name == name)
