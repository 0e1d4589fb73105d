"""kube generate's mapping, from fake inspect objects; every manifest validated strictly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from launcher.kube import generate, manifest
from launcher.kube.generate import Source, dns_label, pod_manifest
from launcher.spec.defaults import DEFAULT_PATH

from .kubeschema import assert_valid

BUSYBOX = {"Entrypoint": None, "Cmd": ["sh"], "Env": [DEFAULT_PATH],
           "WorkingDir": "", "User": "", "Labels": None}
NGINX = {"Entrypoint": ["/docker-entrypoint.sh"], "Cmd": ["nginx", "-g", "daemon off;"],
         "Env": [DEFAULT_PATH, "NGINX_VERSION=1.25.3"], "WorkingDir": "",
         "User": "", "Labels": {"maintainer": "NGINX"}}


def inspect(name: str = "web", cmd: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """Launcher's inspect shape (the whole process in Cmd), as describe() completes it."""
    cid = (name.encode().hex() * 64)[:64]
    doc: dict[str, Any] = {
        "Id": cid, "Name": "/" + name,
        "Config": {"Hostname": cid[:12], "User": "0:0", "Image": "busybox",
                   "Env": [DEFAULT_PATH, f"HOSTNAME={cid[:12]}"],
                   "Cmd": cmd or ["sh"], "WorkingDir": "/", "Tty": False, "Labels": {},
                   "OpenStdin": False},
        "HostConfig": {"NetworkMode": "bridge", "PortBindings": {},
                       "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
                       "Memory": 0, "NanoCpus": 0, "CapAdd": [], "CapDrop": [],
                       "Privileged": False, "ReadonlyRootfs": False},
        "NetworkSettings": {"Ports": {}},
        "Mounts": [],
    }
    for key, value in extra.items():
        section, _, field = key.partition("__")
        if field:
            doc[section][field] = value
        else:
            doc[section] = value
    return doc


def spec_of(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"] if doc["kind"] == "Pod" else \
        doc["spec"]["template"]["spec"]
    return spec


def test_image_defaults_give_a_minimal_pod() -> None:
    doc = pod_manifest("web-pod", [Source(inspect(), BUSYBOX)])
    assert_valid(doc)
    assert doc["metadata"] == {"name": "web-pod", "labels": {"app": "web-pod"}}
    assert doc["spec"] == {"containers": [{"name": "web", "image": "busybox"}],
                           "restartPolicy": "Never"}


def test_command_args_env_workdir_limits() -> None:
    src = Source(inspect(
        cmd=["/docker-entrypoint.sh", "nginx", "-c", "/etc/x.conf"],
        Config__Env=[DEFAULT_PATH, "HOSTNAME=x", "NGINX_VERSION=1.25.3", "A=1",
                     "EMPTY="],
        Config__WorkingDir="/srv", Config__Image="nginx:1.25",
        HostConfig__Memory=256 << 20, HostConfig__NanoCpus=500_000_000,
        HostConfig__RestartPolicy={"Name": "on-failure", "MaximumRetryCount": 3}), NGINX)
    doc = pod_manifest("p", [src])
    assert_valid(doc)
    c = doc["spec"]["containers"][0]
    assert c["image"] == "nginx:1.25"
    assert "command" not in c and c["args"] == ["nginx", "-c", "/etc/x.conf"]
    assert c["env"] == [{"name": "A", "value": "1"}, {"name": "EMPTY", "value": ""}]
    assert c["workingDir"] == "/srv"
    assert c["resources"] == {"limits": {"memory": "256Mi", "cpu": "500m"}}
    assert doc["spec"]["restartPolicy"] == "OnFailure"


@pytest.mark.parametrize(("process", "image", "want"), [
    (["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"], NGINX, {}),
    (["/docker-entrypoint.sh"], NGINX, {"command": ["/docker-entrypoint.sh"]}),
    (["sleep", "5"], NGINX, {"command": ["sleep", "5"]}),
    (["sleep", "5"], BUSYBOX, {"command": ["sleep", "5"]}),
    (["sleep", "5"], None, {"command": ["sleep", "5"]}),
    (["/run/launcher-init", "--", "sh"], BUSYBOX, {}),
])
def test_command_mapping(process: list[str], image: dict[str, Any] | None,
                         want: dict[str, list[str]]) -> None:
    c = pod_manifest("p", [Source(inspect(cmd=process), image)])["spec"]["containers"][0]
    assert {k: c[k] for k in ("command", "args") if k in c} == want


def test_docker_shaped_entrypoint_is_joined_to_cmd() -> None:
    doc = inspect(cmd=["-g", "daemon off;"])
    doc["Config"]["Entrypoint"] = ["nginx"]
    c = pod_manifest("p", [Source(doc, BUSYBOX)])["spec"]["containers"][0]
    assert c["command"] == ["nginx", "-g", "daemon off;"]


def test_tty_drops_term_and_keeps_stdin() -> None:
    src = Source(inspect(Config__Tty=True, Config__OpenStdin=True,
                         Config__Env=[DEFAULT_PATH, "TERM=xterm"]), BUSYBOX)
    doc = pod_manifest("p", [src])
    assert_valid(doc)
    c = doc["spec"]["containers"][0]
    assert c["tty"] is True and c["stdin"] is True and "env" not in c


def test_ports() -> None:
    bindings = {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
                "9000/tcp": [{"HostIp": "", "HostPort": ""}],
                "7000/sctp": [{"HostIp": "::1", "HostPort": "7000"}]}
    chosen = {"9000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}]}
    src = Source(inspect(HostConfig__PortBindings=bindings, NetworkSettings={"Ports": chosen}),
                 BUSYBOX)
    doc = pod_manifest("p", [src])
    assert_valid(doc)
    assert doc["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "hostPort": 8080},
        {"containerPort": 53, "hostPort": 5353, "hostIP": "127.0.0.1", "protocol": "UDP"},
        {"containerPort": 9000, "hostPort": 32768},
        {"containerPort": 7000, "hostPort": 7000, "hostIP": "::1", "protocol": "SCTP"},
    ]


def test_volumes(tmp_path: Path) -> None:
    data = tmp_path / "Data_Dir"
    data.mkdir()
    conf = tmp_path / "app.conf"
    conf.write_text("x")
    mounts = [
        {"Type": "bind", "Source": str(data), "Destination": "/data", "RW": True},
        {"Type": "bind", "Source": str(conf), "Destination": "/etc/app.conf", "RW": False},
        {"Type": "bind", "Source": "/no/such/path", "Destination": "/gone", "RW": True},
        {"Type": "volume", "Name": "db_Data", "Source": "/s/volumes/db_Data/_data",
         "Destination": "/var/lib/db", "RW": True},
        {"Type": "volume", "Name": "", "Source": "/s/containers/x/volumes/0",
         "Destination": "/cache", "RW": True},
        {"Type": "volume", "Name": "demo-shared", "Source": "/s/volumes/demo-shared/_data",
         "Destination": "/shared", "RW": True},
    ]
    labels = {"demo-shared": {"io.launcher.kube.pod": "demo",
                              "io.launcher.kube.volume": "shared"}}
    a = Source(inspect("a", Mounts=mounts), BUSYBOX, labels)
    b = Source(inspect("b", Mounts=[mounts[0], mounts[3], mounts[4]]), BUSYBOX, labels)
    doc = pod_manifest("p", [a, b])
    assert_valid(doc)
    vols = doc["spec"]["volumes"]
    assert [v["name"] for v in vols] == [
        dns_label(str(data)) + "-host", dns_label(str(conf)) + "-host", "no-such-path-host",
        "db-data-pvc", "a-cache", "shared", "b-cache"]
    assert vols[0]["hostPath"] == {"path": str(data), "type": "Directory"}
    assert vols[1]["hostPath"] == {"path": str(conf), "type": "File"}
    assert vols[2]["hostPath"] == {"path": "/no/such/path"}
    assert vols[3]["persistentVolumeClaim"] == {"claimName": "db_Data"}
    assert vols[4]["emptyDir"] == {} and vols[5]["emptyDir"] == {}
    a_mounts, b_mounts = (c["volumeMounts"] for c in doc["spec"]["containers"])
    assert a_mounts[1] == {"name": vols[1]["name"], "mountPath": "/etc/app.conf",
                           "readOnly": True}
    assert [m["name"] for m in b_mounts] == [vols[0]["name"], "db-data-pvc", "b-cache"]


def test_security_context() -> None:
    plain = Source(inspect("plain", Config__User="1000:100", HostConfig__CapAdd=["CAP_NET_ADMIN"],
                           HostConfig__CapDrop=["CAP_CHOWN", "CAP_KILL"],
                           HostConfig__ReadonlyRootfs=True), BUSYBOX)
    priv = Source(inspect("priv", HostConfig__Privileged=True,
                          HostConfig__CapAdd=["CAP_SYS_ADMIN"]), BUSYBOX)
    named = Source(inspect("named", Config__User="101:101"), {**BUSYBOX, "User": "nginx"})
    doc = pod_manifest("p", [plain, priv, named])
    assert_valid(doc)
    first, second, third = doc["spec"]["containers"]
    assert first["securityContext"] == {
        "capabilities": {"add": ["NET_ADMIN"], "drop": ["CHOWN", "KILL"]},
        "readOnlyRootFilesystem": True, "runAsUser": 1000, "runAsGroup": 100}
    assert second["securityContext"] == {"privileged": True}
    assert "securityContext" not in third


def test_names_are_sanitized_and_unique() -> None:
    sources = [Source(inspect(n), BUSYBOX) for n in ("My_App", "my-app", "my.app", "--")]
    doc = pod_manifest("Web_Pod", sources)
    assert_valid(doc)
    assert doc["metadata"]["name"] == "web-pod"
    assert [c["name"] for c in doc["spec"]["containers"]] == [
        "my-app", "my-app-2", "my-app-3", "container"]


@pytest.mark.parametrize(("text", "want"), [
    ("Hello_World", "hello-world"), ("a--b", "a-b"), ("-x-", "x"), ("é", "container"),
    ("a" * 80, "a" * 63), ("x" * 62 + "_y", "x" * 62),
])
def test_dns_label(text: str, want: str) -> None:
    assert dns_label(text) == want


def test_played_pod_round_trip() -> None:
    """A pod made by kube play: names from the labels, the infra's ports and hostname."""
    infra = inspect("demo-infra", Config__Hostname="demo",
                    HostConfig__PortBindings={"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                    HostConfig__RestartPolicy={"Name": "no"},
                    Config__Labels={"io.launcher.kube.pod": "demo",
                                    "io.launcher.kube.container": "infra"})
    web = inspect("demo-web", HostConfig__NetworkMode="container:" + "1" * 64,
                  HostConfig__RestartPolicy={"Name": "always"},
                  Config__Labels={"io.launcher.kube.pod": "demo",
                                  "io.launcher.kube.container": "web"})
    doc = pod_manifest("demo", [Source(web, BUSYBOX)], infra=Source(infra, None))
    assert_valid(doc)
    spec = doc["spec"]
    assert spec["containers"][0]["name"] == "web"
    assert spec["containers"][0]["ports"] == [{"containerPort": 80, "hostPort": 8080}]
    assert spec["restartPolicy"] == "Always" and "hostname" not in spec
    played = manifest.load(generate.to_yaml(doc))[0]
    assert played.name == "demo" and played.published()[0].host_port == 8080


def test_host_network_and_hostname() -> None:
    doc = pod_manifest("p", [Source(inspect(HostConfig__NetworkMode="host",
                                            Config__Hostname="box1"), BUSYBOX)])
    assert_valid(doc)
    assert doc["spec"]["hostNetwork"] is True and doc["spec"]["hostname"] == "box1"


def test_deployment() -> None:
    doc = pod_manifest("p", [Source(inspect(), BUSYBOX)], kind="deployment")
    assert_valid(doc)
    assert doc["metadata"]["name"] == "p-deployment"
    assert doc["spec"]["selector"] == {"matchLabels": {"app": "p"}}
    assert spec_of(doc)["restartPolicy"] == "Always"
    pods = manifest.load(generate.to_yaml(doc))
    assert [p.name for p in pods] == ["p-deployment-pod"]


def test_yaml_text_has_a_header_and_parses_back() -> None:
    text = generate.to_yaml(pod_manifest("p", [Source(inspect(cmd=["echo", "yes", "1"]),
                                                      BUSYBOX)]))
    assert text.startswith("# Generated by launcher ")
    doc = yaml.safe_load(text)
    assert doc["spec"]["containers"][0]["command"] == ["echo", "yes", "1"]  # strings stay strings
    assert_valid(doc)
