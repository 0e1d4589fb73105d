"""launcher's Python API: containers and images as objects, on every backend.

``Client`` picks the backend as the CLI does (native on Linux, a launcher
machine elsewhere, ``ssh://`` hosts); errors are launcher's own tree
(``launcher.errors``), re-exported here.
"""

from launcher.api.client import Client, ContainerCollection, ImageCollection
from launcher.api.kube import Kube
from launcher.api.models import Container, Image
from launcher.api.resources import Network, NetworkCollection, Volume, VolumeCollection
from launcher.api.service import ExecResult
from launcher.errors import (
    ConflictError,
    ImageError,
    LauncherError,
    NotFoundError,
    RegistryError,
    UnsupportedError,
    UsageError,
)

__all__ = [
    "Client",
    "ConflictError",
    "Container",
    "ContainerCollection",
    "ExecResult",
    "Image",
    "ImageCollection",
    "ImageError",
    "Kube",
    "LauncherError",
    "Network",
    "NetworkCollection",
    "NotFoundError",
    "RegistryError",
    "UnsupportedError",
    "UsageError",
    "Volume",
    "VolumeCollection",
]
