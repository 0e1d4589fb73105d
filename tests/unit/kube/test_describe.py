"""kube generate's input from this host: inspect + the bundle spec, and pod lookup."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from launcher.errors import NotFoundError
from launcher.kube import describe
from launcher.paths import Paths

from .kubeschema import assert_valid

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="containers live with the native (Linux) backend")


class FakeRecord:
    def __init__(self, cid: str, bundle: str, name: str, labels: dict[str, str]) -> None:
        self.id, self.bundle, self.name, self.labels = cid, bundle, name, labels
        self.image_id = "sha256:" + "0" * 64  # not in the store: no image config
        self.open_stdin = True


class FakeContainer:
    def __init__(self, record: FakeRecord) -> None:
        self.record = record
        self.id = record.id


RECORDS: dict[str, FakeRecord] = {}


def make(paths: Paths, name: str, spec: dict[str, Any], labels: dict[str, str] | None = None
         ) -> FakeContainer:
    cid = (name.encode().hex() * 64)[:64]
    bundle = Path(paths.storage) / "containers" / cid
    bundle.mkdir(parents=True)
    (bundle / "config.json").write_text(json.dumps(spec))
    RECORDS[cid] = FakeRecord(cid, str(bundle), name, labels or {})
    return FakeContainer(RECORDS[cid])


def fake_inspect(paths: Paths, cid: str) -> dict[str, Any]:
    """containerlife.inspect's shape, from the fake record."""
    rec = RECORDS[cid]
    return {"Id": cid, "Name": "/" + rec.name,
            "Config": {"Hostname": cid[:12], "User": "0:0", "Env": [], "Cmd": ["sh"],
                       "Image": "busybox", "WorkingDir": "/", "Tty": False,
                       "Labels": dict(rec.labels)},
            "HostConfig": {"NetworkMode": "none", "PortBindings": {},
                           "RestartPolicy": {"Name": "no"}},
            "NetworkSettings": {"Ports": {}}, "Mounts": []}


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    from launcher import containerlife

    monkeypatch.setattr(containerlife, "inspect", fake_inspect)
    return Paths.from_root(str(tmp_path / "root"))


def spec_with(paths: Paths, cid_hint: str, **linux: Any) -> dict[str, Any]:
    storage = paths.storage
    bundle = f"{storage}/containers/{(cid_hint.encode().hex() * 64)[:64]}"
    return {
        "root": {"path": f"{bundle}/rootfs", "readonly": True},
        "process": {"args": ["sh"], "capabilities": {"bounding": [
            "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_NET_BIND_SERVICE",
            "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
            "CAP_NET_ADMIN"]}},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/data", "type": "bind", "source": "/srv/data",
             "options": ["rbind", "ro", "rprivate"]},
            {"destination": "/v", "type": "bind", "source": f"{storage}/volumes/vol1/_data",
             "options": ["rbind", "rw", "rprivate"]},
            {"destination": "/anon", "type": "bind", "source": f"{bundle}/volumes/0",
             "options": ["rbind", "rw", "rprivate"]},
            {"destination": "/etc/hosts", "type": "bind", "source": f"{bundle}/hosts",
             "options": ["rbind", "rprivate"]},
            {"destination": "/etc/resolv.conf", "type": "bind",
             "source": f"{storage}/containers/{'f' * 64}/resolv.conf"},
            {"destination": "/run/launcher-init", "type": "bind", "source": "/usr/bin/tini",
             "options": ["bind", "ro"]},
        ],
        "linux": {"resources": {"memory": {"limit": 64 << 20}, "cpu": {"quota": 50000,
                                                                     "period": 100000}},
                  "maskedPaths": ["/proc/kcore"], "seccomp": {"defaultAction": "x"}, **linux},
    }


def test_describe_reads_the_bundle_spec(paths: Paths) -> None:
    c = make(paths, "web", spec_with(paths, "web"))
    src = describe.describe(paths, c)  # type: ignore[arg-type]
    host = src.inspect["HostConfig"]
    assert (host["Memory"], host["NanoCpus"]) == (64 << 20, 500_000_000)
    assert (host["CapAdd"], host["CapDrop"]) == (["CAP_NET_ADMIN"], ["CAP_KILL"])
    assert host["Privileged"] is False and host["ReadonlyRootfs"] is True
    assert src.inspect["Config"]["OpenStdin"] is True
    assert src.inspect["Mounts"] == [
        {"Type": "bind", "Source": "/srv/data", "Destination": "/data", "RW": False},
        {"Type": "volume", "Name": "vol1", "Source": f"{paths.storage}/volumes/vol1/_data",
         "Destination": "/v", "RW": True},
        {"Type": "volume", "Name": "", "Source": f"{c.record.bundle}/volumes/0",
         "Destination": "/anon", "RW": True}]
    assert src.image is None and src.volume_labels == {}


def test_privileged_is_no_masked_paths_and_no_seccomp(paths: Paths) -> None:
    c = make(paths, "priv", spec_with(paths, "priv", maskedPaths=[], seccomp=None))
    assert describe.describe(paths, c).inspect["HostConfig"]["Privileged"] is True  # type: ignore[arg-type]


def test_collect_containers_and_pods(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    from launcher.backend import select
    from launcher.backend.linux import containers

    pod = {"io.launcher.kube.pod": "demo"}
    infra = make(paths, "demo-infra", spec_with(paths, "demo-infra"),
                 {**pod, "io.launcher.kube.container": "infra"})
    web = make(paths, "demo-web", spec_with(paths, "demo-web"),
               {**pod, "io.launcher.kube.container": "web"})
    lone = make(paths, "lone", spec_with(paths, "lone"))
    by_name = {"lone": lone}

    def find(_: Paths, ref: str) -> FakeContainer:
        if ref not in by_name:
            raise NotFoundError(f"No such container: {ref}")
        return by_name[ref]

    monkeypatch.setattr(select, "require_native", lambda: None)
    monkeypatch.setattr(containers, "find", find)
    monkeypatch.setattr(containers, "list_all", lambda _: ([web, lone, infra], []))
    name, sources, found_infra = describe.collect(paths, ["lone"])
    assert name == "lone-pod" and len(sources) == 1 and found_infra is None
    name, sources, found_infra = describe.collect(paths, ["demo", "lone", "demo"])
    assert name == "demo" and [s.inspect["Id"] for s in sources] == [web.id, lone.id]
    assert found_infra is not None and found_infra.inspect["Id"] == infra.id
    with pytest.raises(NotFoundError, match="no such container or pod: nope"):
        describe.collect(paths, ["nope"])
    from launcher.kube.generate import pod_manifest

    doc = pod_manifest(name, sources, infra=found_infra)
    assert_valid(doc)
    assert [c["name"] for c in doc["spec"]["containers"]] == ["web", "lone"]
