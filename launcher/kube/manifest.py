"""Kubernetes YAML → checked ``model.Pod`` plans for ``kube play`` / ``kube down``.

Read: ``kind: Pod`` (``apiVersion: v1``) and ``kind: Deployment`` (``apps/v1``:
its template, one replica, pod ``<name>-pod`` as podman names it), several per
file (``---``). Mapped: image, command/args, env, workingDir, ports, resource
limits (memory, cpu), volumeMounts of hostPath / emptyDir / persistentVolumeClaim
volumes, securityContext (privileged, runAsUser/Group, capabilities,
readOnlyRootFilesystem, allowPrivilegeEscalation, seccompProfile), tty, stdin,
imagePullPolicy, restartPolicy, hostNetwork, hostname, dnsConfig, hostAliases,
labels. Fields that only steer a cluster's scheduler are ignored (the
``*_IGNORED`` lists here and in container.py); any other field is refused with
its path, before anything is created.
"""

from __future__ import annotations

from launcher.errors import UsageError
from launcher.kube import container
from launcher.kube.container import MAX_ID, MAX_ITEMS, host_path
from launcher.kube.fields import Fields, bad, is_dns_label, is_dns_subdomain
from launcher.kube.model import Pod, Volume

MAX_BYTES = 4 << 20  # a manifest is text a person wrote
MAX_DOCS = 64
MAX_CONTAINERS = 64

_META_IGNORED = ("namespace", "annotations", "creationTimestamp", "uid", "resourceVersion",
                 "generation")
_POD_SPEC = ("containers", "volumes", "restartPolicy", "hostNetwork", "hostname",
             "dnsConfig", "hostAliases", "securityContext")
_POD_SPEC_IGNORED = ("terminationGracePeriodSeconds", "dnsPolicy", "enableServiceLinks",
                     "schedulerName", "serviceAccountName", "serviceAccount",
                     "automountServiceAccountToken", "nodeSelector", "nodeName", "tolerations",
                     "affinity", "priority", "priorityClassName", "preemptionPolicy")
_RESTART = {"Always": "always", "OnFailure": "on-failure", "Never": "no"}
_HOST_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket",
               "CharDevice", "BlockDevice")


def read_source(path: str) -> str:
    """The manifest's text: a file, or ``-`` for stdin (as the VM backend forwards it)."""
    import sys

    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        from launcher.errors import NotFoundError

        raise NotFoundError(f"kube: {path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"kube: cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise UsageError(f"kube: {path} is larger than {MAX_BYTES >> 20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"kube: {path} is not UTF-8 text") from None


def load(text: str) -> list[Pod]:
    """Every Pod the YAML describes, checked; UsageError (one line) otherwise."""
    docs = _documents(text)
    pods: list[Pod] = []
    for number, doc in enumerate(docs, 1):
        kind = doc.get("kind") if type(doc) is dict else None
        try:
            if kind == "Pod":
                pod = _pod(doc)
            elif kind == "Deployment":
                pod = _deployment(doc)
            else:
                shown = f"kind {kind!r}" if isinstance(kind, str) else "a document without a kind"
                raise UsageError(f"kube: {shown} is not supported (launcher plays Pod and "
                                 "Deployment)")
        except UsageError as exc:
            if len(docs) == 1:
                raise
            raise UsageError(str(exc).replace("kube: ", f"kube: document {number}: ", 1)
                             ) from None
        if any(p.name == pod.name for p in pods):
            raise UsageError(f"kube: pod {pod.name!r} is described twice")
        pods.append(pod)
    if not pods:
        raise UsageError("kube: the YAML describes no Pod or Deployment")
    return pods


def _documents(text: str) -> list[object]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it
    docs: list[object] = []
    try:
        for doc in yaml.load_all(text, Loader=loader):
            if doc is not None:
                docs.append(doc)
            if len(docs) > MAX_DOCS:
                raise UsageError(f"kube: more than {MAX_DOCS} YAML documents")
    except yaml.YAMLError as exc:
        raise UsageError(f"kube: invalid YAML: {_yaml_problem(exc)}") from None
    return docs


def _yaml_problem(exc: Exception) -> str:
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return " ".join(str(problem).split()) + where


def _in_pod(name: str, exc: UsageError) -> UsageError:
    return UsageError(str(exc).replace("kube: ", f"kube: pod {name!r}: ", 1))


def _named(doc: object, api: str, spec_known: tuple[str, ...],
           spec_ignored: tuple[str, ...]) -> tuple[str, Fields, Fields]:
    """``metadata.name``, ``metadata`` and ``spec`` of a document of ``api``."""
    top = Fields(doc, "", ("apiVersion", "kind", "metadata", "spec"), ("status",))
    if top.data.get("apiVersion") != api:
        raise bad(top.at("apiVersion"), f"expected {api} for kind {top.data.get('kind')}")
    meta = top.fields("metadata", ("name", "labels"), _META_IGNORED, required=True)
    assert meta is not None
    name = meta.text("name", required=True)
    assert name is not None
    if not is_dns_subdomain(name):
        raise bad(meta.at("name"), "must be lowercase letters, digits, '-' and '.' "
                  "(a DNS-1123 subdomain)")
    spec = top.fields("spec", spec_known, spec_ignored, required=True)
    assert spec is not None
    return name, meta, spec


def _pod(doc: object) -> Pod:
    name, meta, spec = _named(doc, "v1", _POD_SPEC, _POD_SPEC_IGNORED)
    try:
        return _pod_spec(Pod(name), spec, meta.string_map("labels"))
    except UsageError as exc:
        raise _in_pod(name, exc) from None


def _deployment(doc: object) -> Pod:
    name, meta, spec = _named(doc, "apps/v1", ("replicas", "template", "selector"),
                              ("strategy", "revisionHistoryLimit", "minReadySeconds",
                               "progressDeadlineSeconds", "paused"))
    replicas = spec.integer("replicas", 0, 2**31 - 1)
    if replicas is not None and replicas > 1:
        from launcher import log

        log.warning(f"kube: deployment {name}: playing 1 replica of {replicas} "
                    "(launcher runs one pod per Deployment, as podman does)")
    template = spec.fields("template", ("metadata", "spec"), required=True)
    assert template is not None
    tmeta = template.fields("metadata", ("labels",), (*_META_IGNORED, "name"))
    pod_spec = template.fields("spec", _POD_SPEC, _POD_SPEC_IGNORED, required=True)
    assert pod_spec is not None
    labels = {**meta.string_map("labels"), **(tmeta.string_map("labels") if tmeta else {})}
    pod_name = f"{name}-pod"
    try:
        return _pod_spec(Pod(pod_name), pod_spec, labels)
    except UsageError as exc:
        raise _in_pod(pod_name, exc) from None


def _pod_spec(pod: Pod, spec: Fields, labels: dict[str, str]) -> Pod:
    container.check_name(pod.infra_name, "metadata.name")
    pod.labels = labels
    restart = spec.choice("restartPolicy", _RESTART)
    pod.restart = _RESTART[restart or "Always"]
    pod.host_network = bool(spec.flag("hostNetwork"))
    pod.hostname = spec.text("hostname")
    if pod.hostname is not None and not is_dns_label(pod.hostname):
        raise bad(spec.at("hostname"), "must be a DNS-1123 label")
    _dns(pod, spec)
    for i, item in enumerate(spec.items("hostAliases", MAX_ITEMS)):
        alias = Fields(item, f"{spec.at('hostAliases')}[{i}]", ("ip", "hostnames"))
        ip = alias.text("ip", required=True)
        assert ip is not None
        pod.host_aliases += [(host, ip) for host in alias.strings("hostnames", MAX_ITEMS)]
    for i, item in enumerate(spec.items("volumes", MAX_ITEMS)):
        volume = _volume(pod.name, Fields(item, f"{spec.at('volumes')}[{i}]",
                                          ("name", "hostPath", "emptyDir",
                                           "persistentVolumeClaim")))
        if any(v.name == volume.name for v in pod.volumes):
            raise bad(f"{spec.at('volumes')}[{i}].name", f"{volume.name!r} is used twice")
        pod.volumes.append(volume)
    defaults = _pod_security(spec)
    items = spec.items("containers", MAX_CONTAINERS)
    if not items:
        raise bad(spec.at("containers"), "required (at least one container)")
    for i, item in enumerate(items):
        c = container.parse(pod, item, f"{spec.at('containers')}[{i}]", defaults)
        if any(other.name == c.name for other in pod.containers):
            raise bad(f"{spec.at('containers')}[{i}].name", f"{c.name!r} is used twice")
        pod.containers.append(c)
    _check_ports(pod, spec.at("containers"))
    return pod


def _dns(pod: Pod, spec: Fields) -> None:
    dns = spec.fields("dnsConfig", ("nameservers", "searches", "options"))
    if dns is None:
        return
    pod.dns = dns.strings("nameservers", MAX_ITEMS)
    pod.dns_search = dns.strings("searches", MAX_ITEMS)
    for i, item in enumerate(dns.items("options", MAX_ITEMS)):
        option = Fields(item, f"{dns.at('options')}[{i}]", ("name", "value"))
        name, value = option.text("name", required=True), option.text("value")
        pod.dns_options.append(f"{name}:{value}" if value else str(name))


def _volume(pod: str, v: Fields) -> Volume:
    name = v.text("name", required=True)
    assert name is not None
    if not is_dns_label(name):
        raise bad(v.at("name"), "must be a DNS-1123 label")
    kinds = [k for k in ("hostPath", "emptyDir", "persistentVolumeClaim") if k in v.data]
    if len(kinds) != 1:
        raise bad(v.where, "needs exactly one of hostPath, emptyDir, persistentVolumeClaim "
                  "(other volume types are not supported)")
    if kinds[0] == "hostPath":
        host = v.fields("hostPath", ("path", "type"), required=True)
        assert host is not None
        path = host_path(host, "path")
        return Volume(name, "hostPath", path, host.choice("type", _HOST_TYPES) or "")
    if kinds[0] == "emptyDir":
        empty = Fields(v.data["emptyDir"] or {}, v.at("emptyDir"), ("medium",), ("sizeLimit",))
        if empty.text("medium"):
            raise bad(empty.at("medium"), "not supported (only the default, a directory)")
        return Volume(name, "emptyDir", _volume_name(v, f"{pod}-{name}"))
    claim = v.fields("persistentVolumeClaim", ("claimName", "readOnly"), required=True)
    assert claim is not None
    source = claim.text("claimName", required=True)
    assert source is not None
    return Volume(name, "persistentVolumeClaim", _volume_name(claim, source),
                  read_only=bool(claim.flag("readOnly")))


def _volume_name(v: Fields, name: str) -> str:
    from launcher.backend.linux.volstore import check_name

    try:
        return check_name(name)
    except UsageError as exc:
        raise bad(v.where, str(exc)) from None


def _pod_security(spec: Fields) -> tuple[int | None, int | None]:
    """Pod-level runAsUser / runAsGroup: the containers' defaults."""
    sec = spec.fields("securityContext", ("runAsUser", "runAsGroup", "runAsNonRoot"),
                      ("fsGroup", "fsGroupChangePolicy", "seLinuxOptions", "seccompProfile"))
    if sec is None:
        return None, None
    uid, gid = sec.integer("runAsUser", 0, MAX_ID), sec.integer("runAsGroup", 0, MAX_ID)
    if sec.flag("runAsNonRoot") and not uid:
        raise bad(sec.at("runAsNonRoot"), "needs a non-zero runAsUser (launcher does not "
                  "check the image's user)")
    return uid, gid


def _check_ports(pod: Pod, where: str) -> None:
    seen: set[tuple[str, int, str]] = set()
    for port in pod.published():
        key = (port.host_ip, port.host_port, port.protocol)
        if key in seen:
            raise bad(where, f"hostPort {port.host_port}/{port.protocol.upper()} is "
                      "published twice")
        seen.add(key)
