"""Media types of the OCI image spec and Docker's image manifest v2, schema 2."""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"

MANIFEST_TYPES: tuple[str, ...] = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES: tuple[str, ...] = (OCI_INDEX, DOCKER_MANIFEST_LIST)

# Every type we can use, in one header. Without the OCI types distribution 2.8
# answers 404 for OCI manifests; without the Docker ones it downgrades Docker
# manifests to schema 1, which launcher refuses.
ACCEPT = ", ".join(INDEX_TYPES + MANIFEST_TYPES)
