"""A recording stand-in for launcher.api.service.Service (no backend needed)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from launcher.api.command import Command
from launcher.api.service import ExecResult, Service
from launcher.errors import NotFoundError


class FakeService(Service):
    """Containers as dicts; every call recorded as (verb, args)."""

    def __init__(self) -> None:
        super().__init__(Command([]), "fake")
        self.calls: list[tuple[str, Any]] = []
        self.serial = 0
        self.containers: dict[str, dict[str, Any]] = {}
        self.output: dict[str, list[bytes]] = {}
        self.exit_after_logs: dict[str, int] = {}  # cid -> reads of logs before it exits

    def run(self, argv: Sequence[str]) -> str:
        self.serial += 1
        cid = f"{self.serial:064x}"
        self.calls.append(("run", list(argv)))
        name = argv[argv.index("--name") + 1] if "--name" in argv else "c" + cid[-1]
        self.containers[cid] = {"Id": cid, "Name": "/" + name,
                                "State": {"Status": "running", "Running": True, "ExitCode": 0},
                                "Config": {"Image": argv[argv.index("--") + 1]}}
        self.output[cid] = []
        return cid

    def _get(self, ref: str) -> dict[str, Any]:
        for cid, attrs in self.containers.items():
            if cid.startswith(ref) or attrs["Name"] == "/" + ref:
                return attrs
        raise NotFoundError(f"No such container: {ref}")

    def inspect(self, ref: str) -> dict[str, Any]:
        self.calls.append(("inspect", ref))
        attrs = self._get(ref)
        return {**attrs, "State": dict(attrs["State"])}

    def ids(self, *, all_: bool, filters: Sequence[str] = ()) -> list[str]:
        self.calls.append(("ids", (all_, list(filters))))
        return [cid for cid, a in self.containers.items() if all_ or a["State"]["Running"]]

    def exit(self, cid: str, code: int) -> None:
        self.containers[cid]["State"] = {"Status": "exited", "Running": False, "ExitCode": code}

    def logs(self, ref: str, *, tail: int | None = None, timestamps: bool = False
             ) -> tuple[bytes, bytes]:
        cid = self._get(ref)["Id"]
        self.calls.append(("logs", cid))
        left = self.exit_after_logs.get(cid)
        if left is not None:
            if left <= 0:
                self.exit(cid, 1)
            self.exit_after_logs[cid] = left - 1
        return b"".join(self.output[cid]), b""

    def follow_logs(self, ref: str, *, tail: int | None = None, timestamps: bool = False
                    ) -> Iterator[bytes]:
        yield from self.output[self._get(ref)["Id"]]

    def exec(self, ref: str, command: Sequence[str], *, env: Sequence[str] = (),
             workdir: str | None = None, user: str | None = None, detach: bool = False,
             timeout: float | None = None) -> ExecResult:
        self.calls.append(("exec", (ref, list(command), list(env), workdir, user)))
        return ExecResult(0, b"out\n", b"err\n")

    def wait(self, ref: str, timeout: float | None = None) -> int:
        attrs = self._get(ref)
        self.calls.append(("wait", attrs["Id"]))
        if attrs["State"]["Running"]:
            self.exit(attrs["Id"], 0)
        return int(self._get(ref)["State"]["ExitCode"])

    def stop(self, ref: str, timeout: int | None = None) -> None:
        self.calls.append(("stop", (ref, timeout)))
        self.exit(self._get(ref)["Id"], 143)

    def kill(self, ref: str, signal: str | int = "KILL") -> None:
        self.calls.append(("kill", (ref, signal)))

    def remove(self, ref: str, *, force: bool = False) -> None:
        attrs = self._get(ref)
        self.calls.append(("remove", (attrs["Id"], force)))
        del self.containers[attrs["Id"]]

    def pull(self, ref: str, *, platform: str | None = None) -> dict[str, Any]:
        self.calls.append(("pull", (ref, platform)))
        return {"Id": "sha256:" + "ab" * 32, "RepoTags": [ref]}

    def image_inspect(self, ref: str) -> dict[str, Any]:
        return {"Id": ref if ref.startswith("sha256:") else "sha256:" + "cd" * 32,
                "RepoTags": ["busybox:latest"]}

    def image_ids(self) -> list[str]:
        return ["sha256:" + "cd" * 32]


class FakeResources(FakeService):
    """FakeService with networks and volumes."""

    def __init__(self) -> None:
        super().__init__()
        self.networks: dict[str, dict[str, Any]] = {}
        self.volumes: dict[str, dict[str, Any]] = {}

    def network_create(self, name: str, *, subnet: str | None = None,
                       gateway: str | None = None, internal: bool = False,
                       labels: Any = None) -> str:
        nid = f"{len(self.networks) + 1:064x}"
        self.networks[nid] = {"Id": nid, "Name": name, "Labels": dict(labels or {}),
                              "Internal": internal, "Subnet": subnet}
        return nid

    def network_inspect(self, ref: str) -> dict[str, Any]:
        for nid, attrs in self.networks.items():
            if nid.startswith(ref) or attrs["Name"] == ref:
                return attrs
        raise NotFoundError(f"network {ref} not found")

    def network_ids(self) -> list[str]:
        return list(self.networks)

    def network_remove(self, ref: str) -> None:
        del self.networks[self.network_inspect(ref)["Id"]]

    def network_connect(self, network: str, ref: str, *, connect: bool = True) -> None:
        self.calls.append(("connect" if connect else "disconnect", (network, ref)))

    def volume_create(self, name: str | None = None, labels: Any = None) -> str:
        name = name or "v" * 64
        self.volumes[name] = {"Name": name, "Labels": dict(labels or {})}
        return name

    def volume_inspect(self, name: str) -> dict[str, Any]:
        if name not in self.volumes:
            raise NotFoundError(f"no such volume: {name}")
        return self.volumes[name]

    def volume_names(self) -> list[str]:
        return list(self.volumes)

    def volume_remove(self, name: str) -> None:
        self.volume_inspect(name)
        del self.volumes[name]
