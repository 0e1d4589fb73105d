"""``kube generate``: containers → a Kubernetes Pod (or Deployment) manifest. Pure.

Input is Docker's container inspect object (``describe.py`` fills in the parts
launcher's ``inspect`` does not show yet) and the image's config, so the same
mapping serves any source of such objects. The mapping, as podman's:

- ``image``: the reference the container was run from; ``command`` / ``args``
  only where they differ from the image's Entrypoint / Cmd (Kubernetes:
  command replaces Entrypoint, args replaces Cmd);
- ``env``: what the container has beyond the image's Env and launcher's own
  (PATH, HOSTNAME, TERM with a tty);
- ``ports``: the published ports (``hostIP`` unless all addresses);
- ``resources.limits``: memory (``256Mi``), cpu (millicores, ``500m``);
- volumes: bind mounts → ``hostPath`` (Directory/File), named volumes →
  ``persistentVolumeClaim`` (claim = volume name: ``kube play`` mounts that
  volume again), anonymous volumes and a played pod's emptyDir → ``emptyDir``;
- ``securityContext``: privileged, capabilities added/dropped from the default
  set, readOnlyRootFilesystem, runAsUser/runAsGroup when the image sets none;
- ``restartPolicy`` from the first container, ``hostNetwork`` when all use it.

Names become DNS-1123 labels (lowercase, ``_`` → ``-``).
"""

from __future__ import annotations

import os

from launcher.kube.model import CONTAINER_LABEL, POD_LABEL, VOLUME_LABEL
from launcher.spec.defaults import DEFAULT_PATH

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_LABEL_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
INIT_PATH = "/run/launcher-init"  # --init's mount point (backend/linux/backend.py)
_RESTART = {"always": "Always", "unless-stopped": "Always", "on-failure": "OnFailure",
            "no": "Never", "": "Never"}


class Source:
    """One container: ``inspect`` (Docker's inspect object), ``image`` (the image
    config's ``Entrypoint Cmd Env WorkingDir User Labels``, None when the image is
    gone), ``volume_labels`` (labels of the named volumes it mounts)."""

    __slots__ = ("image", "inspect", "volume_labels")

    def __init__(self, inspect: dict[str, Any], image: dict[str, Any] | None = None,
                 volume_labels: dict[str, dict[str, str]] | None = None) -> None:
        self.inspect = inspect
        self.image = image
        self.volume_labels = volume_labels or {}


def dns_label(text: str, fallback: str = "container") -> str:
    """``text`` as a DNS-1123 label: lowercase, other characters → ``-``, ≤ 63."""
    out: list[str] = []
    for ch in text.lower():
        ch = ch if ch in _LABEL_OK else "-"
        if not (ch == "-" and out and out[-1] == "-"):
            out.append(ch)
    label = "".join(out).strip("-")[:63].rstrip("-")
    return label or fallback


def _unique(base: str, used: set[str]) -> str:
    name, n = base, 1
    while name in used:
        n += 1
        tail = f"-{n}"
        name = base[: 63 - len(tail)].rstrip("-") + tail
    used.add(name)
    return name


def pod_manifest(name: str, sources: list[Source], *, infra: Source | None = None,
                 kind: str = "pod") -> dict[str, Any]:
    """The manifest of pod ``name`` running ``sources``; ``infra``: the pod's
    infra container when it is a played pod (its ports, network, hostname)."""
    name = dns_label(name, "pod")
    volumes = _Volumes()
    used: set[str] = set()
    containers = [_container(src, used, volumes) for src in sources]
    spec: dict[str, Any] = {"containers": containers}
    if infra is not None and containers:
        ports = _ports(infra.inspect)
        if ports:
            containers[0]["ports"] = [*containers[0].get("ports", []), *ports]
    policy = (sources[0].inspect.get("HostConfig") or {}).get("RestartPolicy") or {} \
        if sources else {}
    spec["restartPolicy"] = "Always" if kind == "deployment" else \
        _RESTART.get(str(policy.get("Name") or ""), "Never")
    owners = [infra] if infra is not None else sources  # who holds the network namespace
    if owners and all((s.inspect.get("HostConfig") or {}).get("NetworkMode") == "host"
                      for s in owners):
        spec["hostNetwork"] = True
    hostname = _hostname(name, owners)
    if hostname:
        spec["hostname"] = hostname
    if volumes.entries:
        spec["volumes"] = volumes.entries
    labels = {"app": name}
    if kind == "deployment":
        return {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": f"{name}-deployment", "labels": labels},
                "spec": {"replicas": 1, "selector": {"matchLabels": dict(labels)},
                         "template": {"metadata": {"labels": dict(labels)}, "spec": spec}}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": spec}


def _hostname(pod: str, owners: list[Source]) -> str:
    """A host name set by hand: not the pod's (a played pod's infra has that) and not
    the id prefix launcher gives by default; "" when there is none to keep."""
    if len(owners) != 1:
        return ""
    doc = owners[0].inspect
    hostname = str((doc.get("Config") or {}).get("Hostname") or "")
    if hostname in (pod[:63].rstrip("-."), str(doc.get("Id") or "")[:12]):
        return ""
    return hostname if dns_label(hostname) == hostname else ""


def to_yaml(doc: dict[str, Any]) -> str:
    import yaml

    from launcher import __version__

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    body = yaml.dump(doc, Dumper=dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True)
    return (f"# Generated by launcher {__version__} (launcher kube generate).\n"
            "# Run it with `launcher kube play FILE` or `kubectl create -f FILE`.\n"
            f"{body}")


def _container(src: Source, used: set[str], volumes: _Volumes) -> dict[str, Any]:
    doc = src.inspect
    cfg, host = doc.get("Config") or {}, doc.get("HostConfig") or {}
    labels = cfg.get("Labels") or {}
    own = labels.get(CONTAINER_LABEL) if labels.get(POD_LABEL) else None
    base = dns_label(own or str(doc.get("Name") or "").lstrip("/") or str(doc.get("Id"))[:12])
    out: dict[str, Any] = {"name": _unique(base, used), "image": str(cfg.get("Image") or "")}
    _command(out, cfg, src.image)
    env = _env(cfg, src.image)
    if env:
        out["env"] = env
    workdir = cfg.get("WorkingDir") or ""
    image_workdir = (src.image or {}).get("WorkingDir") or "/"
    if workdir and workdir != image_workdir:
        out["workingDir"] = workdir
    ports = _ports(doc)
    if ports:
        out["ports"] = ports
    limits: dict[str, str] = {}
    from launcher.kube import quantity

    if host.get("Memory"):
        limits["memory"] = quantity.format_memory(int(host["Memory"]))
    if host.get("NanoCpus"):
        limits["cpu"] = quantity.format_cpus(int(host["NanoCpus"]) / 1e9)
    if limits:
        out["resources"] = {"limits": limits}
    mounts = [volumes.mount(m, out["name"], src.volume_labels) for m in doc.get("Mounts") or []]
    if mounts:
        out["volumeMounts"] = mounts
    security = _security(cfg, host, src.image)
    if security:
        out["securityContext"] = security
    if cfg.get("Tty"):
        out["tty"] = True
    if cfg.get("OpenStdin"):
        out["stdin"] = True
    return out


def _command(out: dict[str, Any], cfg: dict[str, Any], image: dict[str, Any] | None) -> None:
    # Docker keeps Entrypoint apart from Cmd; launcher's inspect has the whole
    # process in Cmd (and no Entrypoint).
    args = [str(a) for a in [*(cfg.get("Entrypoint") or []), *(cfg.get("Cmd") or [])]]
    if args[:2] == [INIT_PATH, "--"]:  # --init runs in front of the command
        args = args[2:]
    if image is None:
        out["command"] = args
        return
    ep = list(image.get("Entrypoint") or [])
    cmd = list(image.get("Cmd") or [])
    if args == ep + cmd:
        return  # the image's own
    if ep and args[: len(ep)] == ep and len(args) > len(ep):
        out["args"] = args[len(ep):]
    else:
        out["command"] = args


def _env(cfg: dict[str, Any], image: dict[str, Any] | None) -> list[dict[str, str]]:
    inherited = set((image or {}).get("Env") or [])
    out: list[dict[str, str]] = []
    for entry in cfg.get("Env") or []:
        key, eq, value = str(entry).partition("=")
        if not eq or entry in inherited or entry == DEFAULT_PATH or key == "HOSTNAME":
            continue
        if entry == "TERM=xterm" and cfg.get("Tty"):
            continue
        out.append({"name": key, "value": value})
    return out


def _ports(doc: dict[str, Any]) -> list[dict[str, Any]]:
    bindings = (doc.get("HostConfig") or {}).get("PortBindings") or {}
    chosen = (doc.get("NetworkSettings") or {}).get("Ports") or {}
    out: list[dict[str, Any]] = []
    for key, entries in bindings.items():
        port, _, proto = str(key).partition("/")
        for i, entry in enumerate(entries or [{}]):
            host_port = str((entry or {}).get("HostPort") or "")
            if not host_port:  # a port the kernel chose: the one it has now, if running
                now = (chosen.get(key) or [])
                host_port = str((now[i] if i < len(now) else {}).get("HostPort") or "")
            item: dict[str, Any] = {"containerPort": int(port)}
            if host_port.isdigit() and int(host_port):
                item["hostPort"] = int(host_port)
            ip = str((entry or {}).get("HostIp") or "")
            if ip not in ("", "0.0.0.0", "::"):
                item["hostIP"] = ip
            if proto and proto != "tcp":
                item["protocol"] = proto.upper()
            if item not in out:
                out.append(item)
    return out


def _security(cfg: dict[str, Any], host: dict[str, Any],
              image: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if host.get("Privileged"):
        out["privileged"] = True
    caps = {key: [str(c).removeprefix("CAP_") for c in host.get(field) or []]
            for key, field in (("add", "CapAdd"), ("drop", "CapDrop"))}
    caps = {k: v for k, v in caps.items() if v}
    if caps and not host.get("Privileged"):
        out["capabilities"] = caps
    if host.get("ReadonlyRootfs"):
        out["readOnlyRootFilesystem"] = True
    user = str(cfg.get("User") or "")
    uid, _, gid = user.partition(":")
    if not (image or {}).get("User") and uid.isdigit() and (uid, gid) not in (("0", "0"),
                                                                                ("0", "")):
        out["runAsUser"] = int(uid)
        if gid.isdigit():
            out["runAsGroup"] = int(gid)
    return out


class _Volumes:
    """The pod's ``volumes``: one per host path or named volume, shared by the
    containers that mount it; one per anonymous volume."""

    __slots__ = ("by_key", "entries", "names")

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.by_key: dict[tuple[str, ...], str] = {}
        self.names: set[str] = set()

    def mount(self, m: dict[str, Any], container: str,
              volume_labels: dict[str, dict[str, str]]) -> dict[str, Any]:
        source, dest = str(m.get("Source") or ""), str(m.get("Destination") or "")
        volume_name = str(m.get("Name") or "")
        labels = volume_labels.get(volume_name, {})
        if m.get("Type") == "bind":
            key: tuple[str, ...] = ("hostPath", source)
            entry: dict[str, Any] = {"hostPath": {"path": source}}
            kind = "Directory" if os.path.isdir(source) else "File" \
                if os.path.isfile(source) else ""
            if kind:
                entry["hostPath"]["type"] = kind
            base = dns_label(source, "host") + "-host"
        elif volume_name and labels.get(POD_LABEL) and labels.get(VOLUME_LABEL):
            key, entry = ("emptyDir", volume_name), {"emptyDir": {}}
            base = dns_label(labels[VOLUME_LABEL], "volume")
        elif volume_name:
            key = ("pvc", volume_name)
            entry = {"persistentVolumeClaim": {"claimName": volume_name}}
            base = dns_label(volume_name, "volume") + "-pvc"
        else:
            key, entry = ("emptyDir", container, dest), {"emptyDir": {}}
            base = dns_label(f"{container}-{dest}", "volume")
        name = self.by_key.get(key)
        if name is None:
            name = self.by_key[key] = _unique(base[:63].rstrip("-"), self.names)
            self.entries.append({"name": name, **entry})
        out: dict[str, Any] = {"name": name, "mountPath": dest}
        if m.get("RW") is False:
            out["readOnly"] = True
        return out
