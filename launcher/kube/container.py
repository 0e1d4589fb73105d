"""One entry of a pod's ``spec.containers`` → a checked ``model.Container``.

See ``manifest.py`` for what is mapped; every error names the field's path.
"""

from __future__ import annotations

import os

from launcher.errors import UsageError
from launcher.kube.fields import Fields, bad, is_dns_label
from launcher.kube.model import INFRA, Container, Mount, Pod, Port

MAX_ITEMS = 1024  # env entries, ports, mounts, args…
MAX_ID = 2**32 - 2
_KNOWN = ("name", "image", "command", "args", "env", "workingDir", "ports", "resources",
          "volumeMounts", "securityContext", "imagePullPolicy", "tty", "stdin")
_IGNORED = ("terminationMessagePath", "terminationMessagePolicy", "livenessProbe",
            "readinessProbe", "startupProbe", "stdinOnce")
_SECURITY = ("privileged", "runAsUser", "runAsGroup", "runAsNonRoot", "capabilities",
             "readOnlyRootFilesystem", "allowPrivilegeEscalation", "seccompProfile")
_PULL = {"Always": "always", "IfNotPresent": "missing", "Never": "never"}


def parse(pod: Pod, item: object, where: str,
          defaults: tuple[int | None, int | None]) -> Container:
    """Entry ``item`` (at ``where``) of ``pod``; ``defaults``: the pod's runAsUser/Group."""
    f = Fields(item, where, _KNOWN, _IGNORED)
    name = f.text("name", required=True)
    assert name is not None
    if not is_dns_label(name):
        raise bad(f.at("name"), "must be a DNS-1123 label (lowercase letters, digits, '-')")
    if name == INFRA:
        raise bad(f.at("name"), f"{INFRA!r} is reserved for the pod's infra container")
    check_name(pod.container_name(name), f.at("name"))
    image = f.text("image", required=True)
    assert image is not None
    c = Container(name, image)
    c.command = f.strings("command", MAX_ITEMS)
    if c.command and not c.command[0]:
        raise bad(f.at("command") + "[0]", "must not be empty")
    c.args = f.strings("args", MAX_ITEMS)
    c.workdir = f.text("workingDir")
    if c.workdir is not None and not c.workdir.startswith("/"):
        raise bad(f.at("workingDir"), "must be an absolute path")
    c.pull = _PULL[f.choice("imagePullPolicy", _PULL) or "IfNotPresent"]
    c.tty, c.stdin = bool(f.flag("tty")), bool(f.flag("stdin"))
    for i, entry in enumerate(f.items("env", MAX_ITEMS)):
        env = Fields(entry, f"{f.at('env')}[{i}]", ("name", "value"))
        key = env.text("name", required=True)
        assert key is not None
        if "=" in key:
            raise bad(env.at("name"), "must not contain '='")
        c.env.append((key, env.text("value") or ""))
    for i, entry in enumerate(f.items("ports", MAX_ITEMS)):
        c.ports.append(_port(Fields(entry, f"{f.at('ports')}[{i}]",
                                    ("containerPort", "hostPort", "hostIP", "protocol"),
                                    ("name",))))
    _resources(c, f)
    for i, entry in enumerate(f.items("volumeMounts", MAX_ITEMS)):
        c.mounts.append(_mount(pod, Fields(entry, f"{f.at('volumeMounts')}[{i}]",
                                           ("name", "mountPath", "readOnly"))))
    _security(c, f, defaults)
    return c


def check_name(name: str, where: str) -> None:
    from launcher.cli.convert import container_name

    try:
        container_name(name)
    except ValueError as exc:
        raise bad(where, f"the container name {name!r} {exc}") from None


def _port(p: Fields) -> Port:
    container = p.integer("containerPort", 1, 65535)
    if container is None:
        raise bad(p.at("containerPort"), "required")
    ip = p.text("hostIP") or ""
    if ip:
        import socket

        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        try:
            ip = socket.inet_ntop(family, socket.inet_pton(family, ip))
        except (OSError, ValueError):
            raise bad(p.at("hostIP"), "not an IP address") from None
        if ip in ("0.0.0.0", "::"):
            ip = ""
    protocol = (p.choice("protocol", ("TCP", "UDP", "SCTP")) or "TCP").lower()
    return Port(container, p.integer("hostPort", 0, 65535) or 0, ip, protocol)


def _resources(c: Container, f: Fields) -> None:
    from launcher.kube import quantity

    res = f.fields("resources", ("limits", "requests"))
    if res is None:
        return
    if res.has("requests") and type(res.data["requests"]) is not dict:  # scheduling only
        raise bad(res.at("requests"), "expected a mapping")
    limits = res.fields("limits", ("memory", "cpu"), ("ephemeral-storage",))
    if limits is None:
        return
    try:
        if limits.has("memory"):
            c.memory = quantity.memory_bytes(limits.data["memory"])
    except ValueError as exc:
        raise bad(limits.at("memory"), str(exc)) from None
    try:
        if limits.has("cpu"):
            c.cpus = quantity.cpus(limits.data["cpu"])
    except ValueError as exc:
        raise bad(limits.at("cpu"), str(exc)) from None


def _mount(pod: Pod, m: Fields) -> Mount:
    name = m.text("name", required=True)
    assert name is not None
    if not any(v.name == name for v in pod.volumes):
        raise bad(m.at("name"), f"no volume {name!r} in spec.volumes")
    return Mount(name, os.path.normpath(host_path(m, "mountPath")), bool(m.flag("readOnly")))


def _security(c: Container, f: Fields, defaults: tuple[int | None, int | None]) -> None:
    uid, gid = defaults
    sec = f.fields("securityContext", _SECURITY, ("seLinuxOptions", "procMount"))
    if sec is not None:
        c.privileged = bool(sec.flag("privileged"))
        c.read_only = bool(sec.flag("readOnlyRootFilesystem"))
        c.no_new_privs = sec.flag("allowPrivilegeEscalation") is False
        own_uid = sec.integer("runAsUser", 0, MAX_ID)
        uid = own_uid if own_uid is not None else uid
        own_gid = sec.integer("runAsGroup", 0, MAX_ID)
        gid = own_gid if own_gid is not None else gid
        if sec.flag("runAsNonRoot") and not uid:
            raise bad(sec.at("runAsNonRoot"), "needs a non-zero runAsUser (launcher does "
                      "not check the image's user)")
        caps = sec.fields("capabilities", ("add", "drop"))
        if caps is not None:
            c.cap_add = [_capability(caps, "add", x) for x in caps.strings("add", 64)]
            c.cap_drop = [_capability(caps, "drop", x) for x in caps.strings("drop", 64)]
        seccomp = sec.fields("seccompProfile", ("type",))
        if seccomp is not None:
            kind = seccomp.choice("type", ("RuntimeDefault", "Unconfined"))
            c.seccomp_unconfined = kind == "Unconfined"
    if gid is not None and uid is None:
        raise bad(f.at("securityContext"), "runAsGroup needs runAsUser")
    if uid is not None:
        c.user = str(uid) if gid is None else f"{uid}:{gid}"


def _capability(caps: Fields, key: str, name: str) -> str:
    if name.upper() in ("ALL", "CAP_ALL"):
        return "ALL"
    from launcher.spec.caps import normalize_cap

    try:
        return normalize_cap(name)
    except UsageError:
        raise bad(caps.at(key), f"unknown capability {name!r}") from None


def host_path(f: Fields, key: str) -> str:
    """An absolute path usable in ``-v`` (no ':' or ',': its separators)."""
    path = f.text(key, required=True)
    assert path is not None
    if not path.startswith("/"):
        raise bad(f.at(key), "must be an absolute path")
    if ":" in path or "," in path:
        raise bad(f.at(key), "':' and ',' are not supported in paths")
    return path
