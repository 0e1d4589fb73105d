"""kube play / down through a fake host: the run requests, their order, the rollback,
what down selects. (tests/integration/cli/test_kube.py runs real pods.)"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from launcher.errors import ConflictError, LauncherError, UsageError
from launcher.kube import manifest, play
from launcher.kube.model import Pod
from launcher.kube.pause import PAUSE_IMAGE

from .fakeops import FakeOps

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: demo, labels: {app: demo}}
spec:
  restartPolicy: Never
  hostAliases: [{ip: 10.0.0.5, hostnames: [db]}]
  dnsConfig: {nameservers: [9.9.9.9]}
  volumes:
  - {name: shared, emptyDir: {}}
  - {name: host, hostPath: {path: HOSTDIR}}
  - {name: keep, persistentVolumeClaim: {claimName: keepvol}}
  containers:
  - name: web
    image: busybox
    command: [httpd, -f]
    args: [-p, "8080"]
    env: [{name: GREETING, value: "hello world"}]
    workingDir: /www
    ports: [{containerPort: 8080, hostPort: 18080, hostIP: 127.0.0.1}]
    resources: {limits: {memory: 64Mi, cpu: 250m}}
    volumeMounts:
    - {name: shared, mountPath: /shared}
    - {name: host, mountPath: /www, readOnly: true}
    securityContext: {runAsUser: 1000, runAsGroup: 1000, capabilities: {drop: [ALL]}}
  - name: client
    image: busybox
    args: [sleep, "3600"]
    volumeMounts: [{name: shared, mountPath: /in}, {name: keep, mountPath: /keep}]
"""


@pytest.fixture
def pod(tmp_path: Path) -> Pod:
    (tmp_path / "www").mkdir()
    return manifest.load(POD.replace("HOSTDIR", str(tmp_path / "www")))[0]


def test_infra_argv(pod: Pod) -> None:
    assert play.infra_argv(pod, PAUSE_IMAGE) == [
        "--name", "demo-infra", "--label", "io.launcher.kube.pod=demo",
        "--label", "io.launcher.kube.container=infra", "--pull", "never",
        "--hostname", "demo", "-p", "127.0.0.1:18080:8080/tcp", "--dns", "9.9.9.9",
        "--add-host", "db:10.0.0.5", "--entrypoint", "/catatonit", PAUSE_IMAGE, "-P"]


def test_container_argv(pod: Pod, tmp_path: Path) -> None:
    assert play.container_argv(pod, pod.containers[0]) == [
        "--name", "demo-web", "--network", "container:demo-infra", "--restart", "no",
        "--pull", "missing", "--label", "app=demo", "--label", "io.launcher.kube.pod=demo",
        "--label", "io.launcher.kube.container=web", "-e", "GREETING=hello world",
        "-w", "/www", "-v", "demo-shared:/shared:nocopy", "-v", f"{tmp_path}/www:/www:ro",
        "--memory", str(64 << 20), "--cpus", "0.25", "--user", "1000:1000",
        "--cap-drop", "ALL", "--entrypoint", "httpd", "--", "busybox", "-f", "-p", "8080"]
    assert play.container_argv(pod, pod.containers[1])[-4:] == [
        "--", "busybox", "sleep", "3600"]


def test_requests_are_launcher_run_requests(pod: Pod, tmp_path: Path) -> None:
    (_, infra), (_, web), (_, client) = play.plan(pod, PAUSE_IMAGE)
    assert infra.detach and infra.entrypoint == "/catatonit" and infra.command == ["-P"]
    assert infra.hostname == "demo" and infra.network is None  # the default network
    assert [(m.host_ip, m.host_port, m.container_port) for [m] in infra.publish] == [
        ("127.0.0.1", 18080, 8080)]
    assert web.detach and web.network == "container:demo-infra" and web.publish == []
    assert (web.entrypoint, web.command, web.image) == ("httpd", ["-f", "-p", "8080"], "busybox")
    assert (web.memory, web.cpus, web.user, web.restart) == (64 << 20, 0.25, "1000:1000", "no")
    assert web.env == ["GREETING=hello world"] and web.workdir == "/www"
    assert [(v.kind, v.source, v.destination, v.read_only, v.no_copy) for v in web.volumes] == [
        ("volume", "demo-shared", "/shared", False, True),
        ("bind", f"{tmp_path}/www", "/www", True, False)]
    assert dict(web.labels) == {"app": "demo", "io.launcher.kube.pod": "demo",
                                "io.launcher.kube.container": "web"}
    assert client.entrypoint is None and client.command == ["sleep", "3600"]
    assert [(v.kind, v.source, v.no_copy) for v in client.volumes] == [
        ("volume", "demo-shared", True), ("volume", "keepvol", False)]


def test_a_bad_value_is_found_before_anything_is_made(pod: Pod) -> None:
    pod.host_aliases = [("db", "not-an-ip")]
    ops = FakeOps()
    with pytest.raises(UsageError, match=r"^kube play: pod demo: invalid argument .*--add-host"):
        play.play(ops, [pod])  # type: ignore[arg-type]
    assert ops.started == [] and ops.volumes == {} and ops.pause_built == 0


def test_play_starts_the_infra_first_and_labels_everything(pod: Pod) -> None:
    ops = FakeOps()
    [done] = play.play(ops, [pod])  # type: ignore[arg-type]
    assert [r.name for r in ops.started] == ["demo-infra", "demo-web", "demo-client"]
    assert done.name == "demo" and done.infra == f"{1:064x}"
    assert done.containers == [f"{2:064x}", f"{3:064x}"]
    assert ops.volumes == {"demo-shared": {"io.launcher.kube.pod": "demo",
                                           "io.launcher.kube.volume": "shared"},
                           "keepvol": {}}
    assert ops.pause_built == 1


def test_a_failed_start_removes_everything_play_made(pod: Pod) -> None:
    ops = FakeOps()
    ops.volumes["keepvol"] = {}  # there before: not play's to remove
    ops.fail_on = "demo-client"
    with pytest.raises(LauncherError) as info:
        play.play(ops, [pod])  # type: ignore[arg-type]
    assert str(info.value) == ("kube play: pod demo: container client: exec: sleep: not found "
                               "(everything it had started was removed)")
    assert info.value.exit_code == 125
    assert ops.removed == ["demo-web", "demo-infra", "volume demo-shared"]
    assert ops.containers == {} and ops.volumes == {"keepvol": {}}


def test_a_removal_that_keeps_failing_is_retried_then_reported(
        pod: Pod, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda s: None)
    ops = FakeOps()
    ops.fail_on = "demo-client"
    real, tries = ops.remove_container, []

    def flaky(cid: str) -> None:
        tries.append(cid)
        if ops.containers[cid][0] == "demo-infra" and len(tries) < 3:
            raise LauncherError("container is busy")  # the first try after demo-web, fails
        real(cid)

    ops.remove_container = flaky  # type: ignore[method-assign]
    with pytest.raises(LauncherError, match=r"\(everything it had started was removed\)$"):
        play.play(ops, [pod])  # type: ignore[arg-type]
    assert ops.containers == {}

    ops = FakeOps()
    ops.fail_on = "demo-client"

    def stuck(cid: str) -> None:
        raise LauncherError("container is stuck")

    ops.remove_container = stuck  # type: ignore[method-assign]
    with pytest.raises(LauncherError, match=r"\(could not remove container 0{12}: container is "
                                            r"stuck; container 0{12}: container is stuck\)$"):
        play.play(ops, [pod])  # type: ignore[arg-type]


def test_an_interrupt_rolls_back_too(pod: Pod) -> None:
    ops = FakeOps()
    ops.fail_on, ops.interrupt = "demo-web", True
    with pytest.raises(KeyboardInterrupt):
        play.play(ops, [pod])  # type: ignore[arg-type]
    assert ops.removed == ["demo-infra", "volume keepvol", "volume demo-shared"]


def test_rollback_covers_every_pod_of_the_file(pod: Pod) -> None:
    other = manifest.load(POD.replace("name: demo", "name: two").replace(
        "hostPath: {path: HOSTDIR}", "emptyDir: {}"))[0]
    ops = FakeOps()
    ops.fail_on = "two-client"
    with pytest.raises(LauncherError, match="pod two: container client"):
        play.play(ops, [pod, other])  # type: ignore[arg-type]
    assert ops.containers == {} and ops.volumes == {}


def test_an_existing_pod_is_refused_or_replaced(pod: Pod) -> None:
    ops = FakeOps()
    play.play(ops, [pod])  # type: ignore[arg-type]
    with pytest.raises(ConflictError, match='pod "demo" already exists'):
        play.play(ops, [pod])  # type: ignore[arg-type]
    play.play(ops, [pod], replace=True)  # type: ignore[arg-type]
    assert ops.removed == ["demo-web", "demo-client", "demo-infra", "volume demo-shared"]
    assert len(ops.containers) == 3


def test_a_leftover_emptydir_volume_is_refused(pod: Pod) -> None:
    ops = FakeOps()
    ops.volumes["demo-shared"] = {}
    with pytest.raises(ConflictError, match="volume demo-shared already exists"):
        play.play(ops, [pod])  # type: ignore[arg-type]
    assert ops.started == []


def test_down_removes_only_the_pods_things(pod: Pod) -> None:
    ops = FakeOps()
    play.play(ops, [pod])  # type: ignore[arg-type]
    ops.containers["f" * 64] = ("stranger", {"io.launcher.kube.pod": "other"})
    ops.volumes["unrelated"] = {}
    removed = play.down(ops, [pod])  # type: ignore[arg-type]
    assert (removed.pods, removed.volumes) == (["demo"], ["demo-shared"])
    assert ops.removed == ["demo-web", "demo-client", "demo-infra", "volume demo-shared"]
    assert list(ops.containers) == ["f" * 64] and set(ops.volumes) == {"unrelated", "keepvol"}
    again = play.down(ops, [pod])  # type: ignore[arg-type]
    assert (again.pods, again.volumes) == ([], [])


def test_down_force_removes_claims_and_keeps_a_foreign_emptydir_name(pod: Pod) -> None:
    ops = FakeOps()
    ops.volumes["demo-shared"] = {"io.launcher.kube.pod": "someone-else"}
    ops.volumes["keepvol"] = {}
    removed = play.down(ops, [pod], force=True)  # type: ignore[arg-type]
    assert removed.volumes == ["keepvol"] and "demo-shared" in ops.volumes


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file types")
def test_host_path_types(tmp_path: Path) -> None:
    def volume(path: Path, kind: str) -> Pod:
        text = POD.replace("hostPath: {path: HOSTDIR}", f"hostPath: {{path: {path}, type: {kind}}}")
        return manifest.load(text)[0]

    ops = FakeOps()
    with pytest.raises(UsageError, match=r"hostPath .*/missing: No such file"):
        play.play(ops, [volume(tmp_path / "missing", "Directory")])  # type: ignore[arg-type]
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match=r"/file is not a Directory \(volume host\)"):
        play.play(ops, [volume(tmp_path / "file", "Directory")])  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="is not a Socket"):
        play.play(ops, [volume(tmp_path / "file", "Socket")])  # type: ignore[arg-type]
    assert ops.started == []
    made = tmp_path / "new" / "dir"
    play.play(ops, [volume(made, "DirectoryOrCreate")])  # type: ignore[arg-type]
    assert stat.S_IMODE(os.stat(made).st_mode) & 0o755 == 0o755 and made.is_dir()
    play.down(ops, [volume(made, "DirectoryOrCreate")])  # type: ignore[arg-type]
    assert made.is_dir()  # host paths stay, as the kubelet leaves them
    created = tmp_path / "created.conf"
    play.play(ops, [volume(created, "FileOrCreate")])  # type: ignore[arg-type]
    assert created.is_file() and created.read_bytes() == b""
    play.down(ops, [volume(created, "FileOrCreate")])  # type: ignore[arg-type]
    with pytest.raises(LauncherError, match="is not a File"):
        play.play(ops, [volume(tmp_path / "new", "FileOrCreate")])  # type: ignore[arg-type]


def test_host_network_publishes_nothing() -> None:
    text = ("apiVersion: v1\nkind: Pod\nmetadata: {name: h}\nspec:\n  hostNetwork: true\n"
            "  containers: [{name: a, image: x, ports: [{containerPort: 80, hostPort: 80}]}]\n")
    argv = play.infra_argv(manifest.load(text)[0], PAUSE_IMAGE)
    assert "--network" in argv and argv[argv.index("--network") + 1] == "host"
    assert "-p" not in argv and "--hostname" not in argv


def test_long_pod_names_give_a_valid_hostname() -> None:
    name = "a" * 62 + ".b"
    text = f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n" \
           "  containers: [{name: c, image: x}]\n"
    [(_, infra), _] = play.plan(manifest.load(text)[0], PAUSE_IMAGE)
    assert infra.hostname == "a" * 62
