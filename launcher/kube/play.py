"""``kube play`` and ``kube down``: a checked ``Pod`` → launcher containers, and back.

A pod is an infra container (``<pod>-infra``: the pause image, ``catatonit -P``)
that owns the network namespace, hostname and /etc files and publishes every
``hostPort``, plus one container per manifest entry (``<pod>-<name>``) joined
to it with ``--network container:<pod>-infra`` — what podman does. Each
container is described as the ``launcher run`` command line it amounts to and
goes through the same parser and checks as one typed by hand; every request is
built before anything is created, so a bad value creates nothing.

Play is atomic: a failure removes what it had started (containers, then the
volumes it created) and reports one error. Every container and emptyDir volume
is labelled ``io.launcher.kube.pod=<pod>``, which is how ``down`` finds them.
"""

from __future__ import annotations

import os

from launcher.errors import ConflictError, LauncherError, UsageError
from launcher.kube.model import CONTAINER_LABEL, INFRA, POD_LABEL, VOLUME_LABEL

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.kube.model import Container, Pod, Volume
    from launcher.kube.podops import PodOps
    from launcher.spec.request import RunRequest


def infra_argv(pod: Pod, image: str) -> list[str]:
    """``run`` arguments of the pod's infra container."""
    from launcher.kube.pause import ENTRYPOINT, PAUSE_ARGS

    argv = ["--name", pod.infra_name, "--label", f"{POD_LABEL}={pod.name}",
            "--label", f"{CONTAINER_LABEL}={INFRA}", "--pull", "never"]
    if pod.host_network:
        argv += ["--network", "host"]  # ports are the host's own: nothing to publish
    else:
        # The pod's name, as podman sets it (a subdomain: a valid host name once cut)
        argv += ["--hostname", pod.hostname or pod.name[:63].rstrip("-.")]
        for port in pod.published():
            argv += ["-p", port.publish()]
    for server in pod.dns:
        argv += ["--dns", server]
    for domain in pod.dns_search:
        argv += ["--dns-search", domain]
    for option in pod.dns_options:
        argv += ["--dns-option", option]
    for host, ip in pod.host_aliases:
        argv += ["--add-host", f"{host}:{ip}"]
    return [*argv, "--entrypoint", ENTRYPOINT, image, *PAUSE_ARGS]


def container_argv(pod: Pod, c: Container) -> list[str]:
    """``run`` arguments of one manifest container, joined to the pod's infra."""
    argv = ["--name", pod.container_name(c.name), "--network", f"container:{pod.infra_name}",
            "--restart", pod.restart, "--pull", c.pull]
    for key, value in pod.labels.items():
        argv += ["--label", f"{key}={value}"]
    # After the manifest's labels: a later --label wins, and down finds the pod by these.
    argv += ["--label", f"{POD_LABEL}={pod.name}", "--label", f"{CONTAINER_LABEL}={c.name}"]
    for key, value in c.env:
        argv += ["-e", f"{key}={value}"]
    if c.workdir:
        argv += ["-w", c.workdir]
    for mount in c.mounts:
        argv += ["-v", _volume_arg(pod.volume(mount.volume), mount.path, mount.read_only)]
    if c.memory is not None:
        argv += ["--memory", str(c.memory)]
    if c.cpus is not None:
        argv += ["--cpus", repr(c.cpus)]
    if c.user is not None:
        argv += ["--user", c.user]
    argv += ["--privileged"] if c.privileged else []
    argv += ["--read-only"] if c.read_only else []
    for cap in c.cap_add:
        argv += ["--cap-add", cap]
    for cap in c.cap_drop:
        argv += ["--cap-drop", cap]
    argv += ["--security-opt", "no-new-privileges"] if c.no_new_privs else []
    argv += ["--security-opt", "seccomp=unconfined"] if c.seccomp_unconfined else []
    argv += ["--tty"] if c.tty else []
    argv += ["--interactive"] if c.stdin else []
    # Kubernetes: command replaces the image's Entrypoint (and with it its Cmd),
    # args replaces its Cmd. --entrypoint takes one word; the rest of command
    # goes before args, so the process is command + args either way.
    if c.command:
        argv += ["--entrypoint", c.command[0], "--", c.image, *c.command[1:], *c.args]
    else:
        argv += ["--", c.image, *c.args]
    return argv


def _volume_arg(volume: Volume, path: str, read_only: bool) -> str:
    # An emptyDir is empty, as Kubernetes makes it: not seeded from the image.
    opts = ["nocopy"] if volume.kind == "emptyDir" else []
    if read_only or volume.read_only:
        opts.append("ro")
    return f"{volume.source}:{path}" + (f":{','.join(opts)}" if opts else "")


def request(argv: list[str], where: str) -> RunRequest:
    """``argv`` through ``launcher run``'s parser and checks; UsageError names ``where``."""
    from launcher.cli import fastparse
    from launcher.cli.options import RUN
    from launcher.cli.run import build_request

    try:
        req = build_request(fastparse.parse(RUN, ["--detach", *argv]))
    except UsageError as exc:
        raise UsageError(f"kube play: {where}: {exc}") from None
    return req


def plan(pod: Pod, image: str) -> list[tuple[str, RunRequest]]:
    """(what, request) for the infra then each container, all checked now."""
    out = [(f"pod {pod.name}: infra container", request(infra_argv(pod, image),
                                                        f"pod {pod.name}"))]
    for c in pod.containers:
        where = f"pod {pod.name}: container {c.name}"
        out.append((where, request(container_argv(pod, c), where)))
    return out


class Played:
    """What ``play`` started for one pod (printed as podman prints it)."""

    __slots__ = ("containers", "infra", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.infra = ""
        self.containers: list[str] = []


def play(ops: PodOps, pods: list[Pod], *, replace: bool = False) -> list[Played]:
    """Start every pod, or nothing: on any failure what was made is removed."""
    from launcher.kube.pause import PAUSE_IMAGE

    plans = [plan(pod, PAUSE_IMAGE) for pod in pods]  # every check before any change
    if replace:
        down(ops, pods)
    for pod in pods:
        _check_free(ops, pod)
        for volume in pod.volumes:
            _check_host_path(volume)
    ops.pause_image()
    undo: list[tuple[str, str]] = []  # ("container" | "volume", id or name), in order made
    played: list[Played] = []
    what = ""
    try:
        for pod, steps in zip(pods, plans, strict=True):
            done = Played(pod.name)
            what = f"pod {pod.name}"
            _make_volumes(ops, pod, undo)
            for step, req in steps:
                what = step  # for the error message
                cid = ops.start(req)
                undo.append(("container", cid))
                done.containers.append(cid)
            done.infra = done.containers.pop(0)
            played.append(done)
    except BaseException as exc:
        left = _rollback(ops, undo)
        if not isinstance(exc, LauncherError):
            raise
        cleanup = ("everything it had started was removed" if not left
                   else "could not remove " + "; ".join(left))
        raise LauncherError(f"kube play: {what}: {' '.join(str(exc).split())} "
                            f"({cleanup})") from None
    return played


def _check_free(ops: PodOps, pod: Pod) -> None:
    if ops.pod_containers(pod.name):
        raise ConflictError(f'kube play: pod "{pod.name}" already exists: remove it with '
                            "`launcher kube down FILE`, or play with --replace")
    for volume in pod.volumes:
        if volume.kind == "emptyDir" and ops.volume_labels(volume.source) is not None:
            raise ConflictError(f'kube play: pod "{pod.name}": volume {volume.source} '
                                "already exists (remove it with `launcher volume rm`)")


def _make_volumes(ops: PodOps, pod: Pod, undo: list[tuple[str, str]]) -> None:
    """emptyDir volumes (labelled: down removes them), claims that do not exist yet,
    host paths of the ``...OrCreate`` types."""
    for volume in pod.volumes:
        if volume.kind == "hostPath":
            _make_host_path(volume)
            continue
        labels = {POD_LABEL: pod.name, VOLUME_LABEL: volume.name} \
            if volume.kind == "emptyDir" else {}
        if ops.create_volume(volume.source, labels):
            undo.append(("volume", volume.source))


def _check_host_path(volume: Volume) -> None:
    """Kubernetes' hostPath type checks (``Directory``: it must be one, …)."""
    if volume.kind == "hostPath" and volume.host_type not in ("", "DirectoryOrCreate",
                                                              "FileOrCreate"):
        _check_type(volume, volume.host_type)


def _check_type(volume: Volume, kind: str) -> None:
    import stat

    tests = {"Directory": stat.S_ISDIR, "File": stat.S_ISREG, "Socket": stat.S_ISSOCK,
             "CharDevice": stat.S_ISCHR, "BlockDevice": stat.S_ISBLK}
    try:
        mode = os.stat(volume.source).st_mode
    except OSError as exc:
        raise UsageError(f"kube play: hostPath {volume.source}: {exc.strerror}") from None
    if not tests[kind](mode):
        raise UsageError(f"kube play: hostPath {volume.source} is not a {kind} "
                         f"(volume {volume.name})")


def _make_host_path(volume: Volume) -> None:
    """``DirectoryOrCreate`` (0755, parents too) and ``FileOrCreate`` (0644); left in
    place at down, as the kubelet leaves them."""
    try:
        if volume.host_type == "DirectoryOrCreate":
            try:
                os.makedirs(volume.source, 0o755, exist_ok=True)
            except FileExistsError:
                pass  # not a directory: the check below says so
        elif volume.host_type == "FileOrCreate":
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                os.close(os.open(volume.source, flags, 0o644))
            except FileExistsError:
                pass
    except OSError as exc:
        raise UsageError(f"kube play: hostPath {volume.source}: {exc.strerror}") from None
    if volume.host_type in ("DirectoryOrCreate", "FileOrCreate"):
        _check_type(volume, volume.host_type.removesuffix("OrCreate"))


def _rollback(ops: PodOps, undo: list[tuple[str, str]]) -> list[str]:
    """Remove what play made, newest first (containers before their volumes, the
    infra after the containers that joined it); a failing step is retried, then
    reported, and does not stop the others. What could not be removed."""
    import time

    left: list[str] = []
    for kind, ref in reversed(undo):
        for attempt in range(ROLLBACK_TRIES):
            try:
                if kind == "container":
                    ops.remove_container(ref)
                else:
                    ops.remove_volume(ref)
                break
            except LauncherError as exc:
                if attempt == ROLLBACK_TRIES - 1:
                    left.append(f"{kind} {ref[:12]}: {' '.join(str(exc).split())}")
                else:
                    time.sleep(0.2)  # e.g. its monitor was still settling
    return left


ROLLBACK_TRIES = 3


class Removed:
    __slots__ = ("pods", "volumes")

    def __init__(self) -> None:
        self.pods: list[str] = []
        self.volumes: list[str] = []


def down(ops: PodOps, pods: list[Pod], *, force: bool = False) -> Removed:
    """Remove each pod's containers (the infra last) and emptyDir volumes; with
    ``force`` its claims' volumes too. A pod that is not there is skipped."""
    removed = Removed()
    errors: list[str] = []
    for pod in pods:
        found = ops.pod_containers(pod.name)
        for cid, _ in sorted(found, key=lambda item: item[1] == INFRA):
            try:
                ops.remove_container(cid)
            except LauncherError as exc:
                errors.append(str(exc))
        if found:
            removed.pods.append(pod.name)
        for volume in pod.volumes:
            if not _ours(ops, pod, volume, force):
                continue
            try:
                ops.remove_volume(volume.source)
                removed.volumes.append(volume.source)
            except LauncherError as exc:
                errors.append(str(exc))
    if errors:
        raise LauncherError("kube down: " + "; ".join(errors))
    return removed


def _ours(ops: PodOps, pod: Pod, volume: Volume, force: bool) -> bool:
    if volume.kind == "hostPath":
        return False
    labels = ops.volume_labels(volume.source)
    if labels is None:
        return False
    if volume.kind == "emptyDir":
        return labels.get(POD_LABEL) == pod.name
    return force
