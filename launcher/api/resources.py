"""``client.networks`` and ``client.volumes``: the bridge networks and named
volumes containers use (``network …``, ``volume …`` commands)."""

from __future__ import annotations

from launcher.api.models import Handle

TYPE_CHECKING = False
_List = list  # the collections' own ``list`` methods shadow the builtin in their bodies
if TYPE_CHECKING:
    from collections.abc import Mapping

    from launcher.api.client import Client
    from launcher.api.models import Container
    from launcher.api.service import Service


class Network(Handle):
    """A network; containers on it reach each other by name."""

    @property
    def id(self) -> str:
        return str(self.attrs.get("Id", ""))

    @property
    def name(self) -> str:
        return str(self.attrs.get("Name", ""))

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.attrs.get("Labels") or {})

    def reload(self) -> Network:
        self.attrs = self._service.network_inspect(self.id)
        return self

    def connect(self, container: Container | str) -> None:
        """Attach a container (running or not) to this network."""
        self._service.network_connect(self.id, _ref(container))

    def disconnect(self, container: Container | str) -> None:
        self._service.network_connect(self.id, _ref(container), connect=False)

    def remove(self) -> None:
        """Remove it (refused while containers are attached)."""
        self._service.network_remove(self.id)

    def __repr__(self) -> str:
        return f"<Network {self.id[:12]} {self.name}>"


class Volume(Handle):
    """A named volume."""

    @property
    def name(self) -> str:
        return str(self.attrs.get("Name", ""))

    id = name  # docker-py: a volume's id is its name

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.attrs.get("Labels") or {})

    def reload(self) -> Volume:
        self.attrs = self._service.volume_inspect(self.name)
        return self

    def remove(self) -> None:
        """Remove it (refused while a container uses it)."""
        self._service.volume_remove(self.name)

    def _key(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Volume {self.name}>"


def _ref(container: Container | str) -> str:
    return container if isinstance(container, str) else container.id


class NetworkCollection:
    """``client.networks``: create, get, list networks."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @property
    def _service(self) -> Service:
        return self._client.service

    def create(self, name: str, *, subnet: str | None = None, gateway: str | None = None,
               internal: bool = False, labels: Mapping[str, str] | None = None) -> Network:
        """A bridge network (``network create``)."""
        nid = self._service.network_create(name, subnet=subnet, gateway=gateway,
                                           internal=internal, labels=labels)
        return Network(self._service, self._service.network_inspect(nid or name))

    def get(self, ref: str) -> Network:
        return Network(self._service, self._service.network_inspect(ref))

    def list(self) -> list[Network]:
        return [self.get(nid) for nid in self._service.network_ids()]

    def prune(self) -> _List[str]:
        """Remove every user-defined network no container is attached to."""
        return self._service.prune_networks()


class VolumeCollection:
    """``client.volumes``: create, get, list volumes."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @property
    def _service(self) -> Service:
        return self._client.service

    def create(self, name: str | None = None, *,
               labels: Mapping[str, str] | None = None) -> Volume:
        """A named volume (a random name when none is given)."""
        made = self._service.volume_create(name, labels)
        return Volume(self._service, self._service.volume_inspect(made))

    def get(self, name: str) -> Volume:
        return Volume(self._service, self._service.volume_inspect(name))

    def list(self) -> list[Volume]:
        return [self.get(n) for n in self._service.volume_names()]
