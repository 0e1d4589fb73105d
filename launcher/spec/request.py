"""RunRequest: what the user asked for on the command line, before any image is read.

A plain record (no dataclasses: ``import dataclasses`` costs ~20 ms, and this
module sits on the container start path). ``None`` means "not given".
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class RunRequest:
    __slots__ = (
        "add_hosts",
        "cap_add",
        "cap_drop",
        "command",
        "cpus",
        "detach",
        "dns",
        "dns_options",
        "dns_search",
        "entrypoint",
        "env",
        "env_files",
        "hostname",
        "image",
        "init",
        "interactive",
        "ip",
        "labels",
        "log_driver",
        "log_opts",
        "memory",
        "name",
        "network",
        "network_aliases",
        "pids_limit",
        "platform",
        "privileged",
        "publish",
        "publish_all",
        "pull",
        "read_only",
        "remove",
        "restart",
        "security_opt",
        "stop_signal",
        "stop_timeout",
        "tty",
        "user",
        "userns",
        "volumes",
        "workdir",
    )

    def __init__(
        self,
        image: str,
        command: list[str] | None = None,
        *,
        entrypoint: str | None = None,
        env: list[str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
        hostname: str | None = None,
        memory: int | None = None,
        cpus: float | None = None,
        pids_limit: int | None = None,
        read_only: bool = False,
        network: str | None = None,
        interactive: bool = False,
        tty: bool = False,
        remove: bool = False,
        name: str | None = None,
        pull: str = "missing",
        detach: bool = False,
        env_files: list[list[str]] | None = None,
        labels: list[tuple[str, str]] | None = None,
        log_driver: str = "json-file",
        log_opts: list[tuple[str, str]] | None = None,
        stop_signal: int | None = None,
        stop_timeout: int | None = None,
        volumes: list[Any] | None = None,
        cap_add: list[str] | None = None,
        cap_drop: list[str] | None = None,
        security_opt: list[str] | None = None,
        init: bool = False,
        restart: str = "no",
        platform: str | None = None,
        publish: list[list[Any]] | None = None,
        publish_all: bool = False,
        ip: str | None = None,
        network_aliases: list[str] | None = None,
        dns: list[str] | None = None,
        dns_search: list[str] | None = None,
        dns_options: list[str] | None = None,
        add_hosts: list[tuple[str, str]] | None = None,
        userns: str = "",
        privileged: bool = False,
    ) -> None:
        self.image = image
        self.command = list(command or [])  # CMD… after the image; [] = image default
        self.entrypoint = entrypoint  # None = image's; "" = clear it
        self.env = list(env or [])  # "K=V" or "K" (taken from the caller's environment)
        self.workdir = workdir
        self.user = user  # "uid[:gid]" or "name[:group]"
        self.hostname = hostname
        self.memory = memory  # bytes
        self.cpus = cpus  # fractional CPUs (--cpus 0.5)
        self.pids_limit = pids_limit
        self.read_only = read_only
        self.pull = pull  # missing | always | never (Docker's --pull)
        self.detach = detach  # -d: a monitor keeps the container; run prints its id
        self.env_files = list(env_files or [])  # entries of each --env-file, read already
        self.labels = list(labels or [])  # --label (key, value), in order
        self.log_driver = log_driver  # --log-driver (logopts.DRIVERS)
        self.log_opts = list(log_opts or [])  # --log-opt (key, value), checked
        self.stop_signal = stop_signal  # --stop-signal as a number
        self.stop_timeout = stop_timeout  # --stop-timeout seconds (-1: forever)
        self.volumes = list(volumes or [])  # -v, as runopts.VolumeSpec
        self.cap_add = list(cap_add or [])  # CAP_* names, or "ALL"
        self.cap_drop = list(cap_drop or [])
        # --security-opt: seccomp=unconfined|PROFILE.json, no-new-privileges[=true|false]
        self.security_opt = list(security_opt or [])
        self.userns = userns  # --userns: "" | host | keep-id (spec/userns.py)
        self.privileged = privileged  # --privileged: every cap, host devices, no filters
        self.init = init  # --init: a host init binary bind-mounted as PID 1
        self.restart = restart  # --restart policy, canonical text (runopts.restart_policy)
        self.platform = platform  # os/arch[/variant] to pull; None: the host's
        # --network: bridge | none | host | container:REF | a network's name;
        # None: the default (settings.default_network, resolved by the engine).
        self.network = network
        self.publish = list(publish or [])  # -p, each a list of ports.PortMapping (a range: many)
        self.publish_all = publish_all  # -P: every ExposedPorts entry on a free host port
        self.ip = ip  # --ip on a user-defined network
        self.network_aliases = list(network_aliases or [])  # --network-alias
        self.dns = list(dns or [])  # --dns servers, canonical addresses
        self.dns_search = list(dns_search or [])  # --dns-search ("." clears the list)
        self.dns_options = list(dns_options or [])  # --dns-option
        self.add_hosts = list(add_hosts or [])  # --add-host (name, ip | "host-gateway")
        self.interactive = interactive
        self.tty = tty
        self.remove = remove
        self.name = name

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"RunRequest({fields})"
