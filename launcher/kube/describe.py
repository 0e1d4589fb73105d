"""The containers ``kube generate`` names, as ``generate.Source`` objects.

Docker's inspect object (``containerlife.inspect``) plus what Docker's has and
launcher's does not show yet, read from the container's bundle spec:
``HostConfig.Memory/NanoCpus/CapAdd/CapDrop/Privileged/ReadonlyRootfs``, every
volume and bind mount in ``Mounts``, ``Config.OpenStdin``; and the image's
config. A name that is no container but a played pod (``kube play``) stands
for that pod's containers, its infra container giving the ports.
"""

from __future__ import annotations

import os

from launcher.errors import LauncherError, NotFoundError
from launcher.kube.generate import INIT_PATH, Source
from launcher.kube.model import CONTAINER_LABEL, INFRA, POD_LABEL

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from launcher.backend.linux.containers import Container
    from launcher.paths import Paths


def collect(paths: Paths, refs: list[str]) -> tuple[str, list[Source], Source | None]:
    """(pod name, the containers' sources in order, the played pod's infra or None)."""
    from launcher.backend.linux import containers
    from launcher.backend.select import require_native

    require_native()
    chosen: list[Container] = []
    infra: Container | None = None
    pod_name = ""
    for ref in refs:
        try:
            found = [containers.find(paths, ref)]
        except NotFoundError:
            found, pod_infra = _pod_members(paths, ref)
            if not found and pod_infra is None:
                raise NotFoundError(f"kube generate: no such container or pod: {ref}") from None
            pod_name = pod_name or ref
            infra = infra or pod_infra
        chosen += [c for c in found if all(c.id != o.id for o in chosen)]
    if not chosen:
        raise NotFoundError(f"kube generate: pod {pod_name} has no containers")
    if not pod_name:
        first = chosen[0].record
        pod_name = f"{first.name or first.id[:12]}-pod"  # podman's name for it
    sources = [describe(paths, c) for c in chosen]
    return pod_name, sources, describe(paths, infra) if infra is not None else None


def _pod_members(paths: Paths, pod: str) -> tuple[list[Container], Container | None]:
    from launcher.backend.linux import containers

    found, _ = containers.list_all(paths)
    members = [c for c in reversed(found) if c.record.labels.get(POD_LABEL) == pod]  # oldest first
    infra = next((c for c in members if c.record.labels.get(CONTAINER_LABEL) == INFRA), None)
    return [c for c in members if c is not infra], infra


def describe(paths: Paths, c: Container) -> Source:
    from launcher import containerlife

    doc = containerlife.inspect(paths, c.id)
    spec = _spec(c.record.bundle)
    host, cfg = doc["HostConfig"], doc["Config"]
    linux = spec.get("linux") or {}
    resources = linux.get("resources") or {}
    host["Memory"] = int((resources.get("memory") or {}).get("limit") or 0)
    cpu = resources.get("cpu") or {}
    quota, period = int(cpu.get("quota") or 0), int(cpu.get("period") or 0)
    host["NanoCpus"] = quota * 10**9 // period if quota > 0 and period > 0 else 0
    host["Privileged"] = not linux.get("maskedPaths") and not linux.get("seccomp")
    host["CapAdd"], host["CapDrop"] = _caps(spec)
    host["ReadonlyRootfs"] = bool((spec.get("root") or {}).get("readonly"))
    cfg["OpenStdin"] = bool(c.record.open_stdin)
    doc["Mounts"] = _mounts(paths, spec)
    names = [str(m["Name"]) for m in doc["Mounts"] if m.get("Name")]
    return Source(doc, _image(paths, c.record.image_id), _volume_labels(paths, names))


def _spec(bundle: str) -> dict[str, Any]:
    from launcher import fastjson

    try:
        with open(os.path.join(bundle, "config.json"), "rb") as f:
            doc = fastjson.loads(f.read())
    except (OSError, ValueError):
        return {}
    return doc if type(doc) is dict else {}


def _caps(spec: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Capabilities beyond / missing from the default set (podman's eleven)."""
    from launcher.spec.caps import PODMAN_DEFAULT_CAPS

    caps = ((spec.get("process") or {}).get("capabilities") or {}).get("bounding")
    if not isinstance(caps, list):
        return [], []
    have = [str(c) for c in caps]
    return ([c for c in have if c not in PODMAN_DEFAULT_CAPS],
            [c for c in PODMAN_DEFAULT_CAPS if c not in have])


def _mounts(paths: Paths, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Docker's ``Mounts``: binds, named volumes (``Name``), anonymous ones (no
    name); not launcher's own (/etc files of the bundle, --init)."""
    from launcher.backend.linux.containers import bundles_dir
    from launcher.backend.linux.volstore import DATA, VolumeStore

    bundles = bundles_dir(paths) + os.sep
    volumes = VolumeStore(paths).root + os.sep
    out: list[dict[str, Any]] = []
    for m in spec.get("mounts") or []:
        if type(m) is not dict or m.get("type") != "bind" or m.get("destination") == INIT_PATH:
            continue
        source = str(m.get("source") or "")
        entry: dict[str, Any] = {"Source": source, "Destination": str(m.get("destination")),
                                 "RW": "ro" not in (m.get("options") or [])}
        if source.startswith(bundles):
            if "/volumes/" not in source[len(bundles):]:
                continue  # hosts, resolv.conf, hostname: launcher's, not the user's
            entry.update(Type="volume", Name="")
        elif source.startswith(volumes) and source.endswith(os.sep + DATA):
            entry.update(Type="volume", Name=source[len(volumes):].split(os.sep, 1)[0])
        else:
            entry["Type"] = "bind"
        out.append(entry)
    return out


def _image(paths: Paths, image_id: str) -> dict[str, Any] | None:
    from launcher.image.store import ImageStore

    try:
        cfg = ImageStore(paths).get(image_id).config
    except LauncherError:
        return None  # removed since: the container's own values are all there is
    return {"Entrypoint": cfg.entrypoint, "Cmd": cfg.cmd, "Env": cfg.env,
            "WorkingDir": cfg.working_dir, "User": cfg.user, "Labels": cfg.labels}


def _volume_labels(paths: Paths, names: list[str]) -> dict[str, dict[str, str]]:
    from launcher.backend.linux.volstore import VolumeStore

    store = VolumeStore(paths)
    out: dict[str, dict[str, str]] = {}
    for name in names:
        try:
            labels = store.inspect(name)["Labels"]
        except LauncherError:
            continue
        out[name] = {str(k): str(v) for k, v in labels.items()} \
            if isinstance(labels, dict) else {}
    return out
