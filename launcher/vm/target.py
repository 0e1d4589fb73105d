"""Where forwarded commands go: a launcher machine, or any Linux host over SSH.

``--host ssh://[USER@]HOST[:PORT]`` (or ``LAUNCHER_HOST``) makes any Linux
machine with launcher installed a target, as ``DOCKER_HOST=ssh://`` does. Its
host key must already be in the user's ``~/.ssh/known_hosts`` (RejectPolicy:
never learned on first use); authentication uses the user's SSH agent or
default keys. The remote runs the fixed command ``launcher-remote`` (or
``LAUNCHER_REMOTE_COMMAND``), which reads the JSON request. Paths in ``-v`` and
ports in ``-p`` mean the remote's, as with Docker over SSH.
"""

from __future__ import annotations

import os

from launcher.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import paramiko

    from launcher.paths import Paths
    from launcher.vm.machine import Machine

HOST_ENV = "LAUNCHER_HOST"
REMOTE_COMMAND_ENV = "LAUNCHER_REMOTE_COMMAND"
MACHINE_COMMAND = "exec /usr/bin/python3 -I -m launcher.vm.guest --machine"


class Target:
    """An SSH endpoint plus the local directory its agent lives in."""

    __slots__ = ("agent_args", "command", "host", "label", "machine", "port", "run_dir",
                 "user")

    def __init__(self, label: str, run_dir: str, host: str, port: int, user: str,
                 command: str, agent_args: list[str], machine: Machine | None = None) -> None:
        self.label, self.run_dir = label, run_dir
        self.host, self.port, self.user = host, port, user
        self.command = command  # the remote's fixed request reader
        self.agent_args = agent_args  # how `python -m launcher.vm.agent` finds it again
        self.machine = machine

    def connect(self, timeout: float = 15.0) -> paramiko.SSHClient:
        from launcher.vm import ops, sshconn

        if self.machine is not None:
            return ops.connect(self.machine, timeout)
        return sshconn.connect_known(self.host, self.port, self.user, timeout)


def for_machine(paths: Paths, m: Machine) -> Target:
    port = m.ssh_port() or 0
    return Target(f"machine {m.name}", m.run_dir, "127.0.0.1", port, "root", MACHINE_COMMAND,
                  [paths.storage, paths.state, "machine", m.name], m)


def parse_url(url: str) -> tuple[str, str, int]:
    """``ssh://[user@]host[:port]`` → (user, host, port)."""
    import getpass

    if not url.startswith("ssh://"):
        raise UsageError(f"unsupported host {url!r}: only ssh://[USER@]HOST[:PORT]")
    rest = url[len("ssh://"):].rstrip("/")
    user, at, hostport = rest.rpartition("@")
    host, port = hostport, 22
    if hostport.startswith("["):  # [::1]:2222
        host, _, tail = hostport[1:].partition("]")
        if tail.startswith(":"):
            port = _port(tail[1:], url)
    elif hostport.count(":") == 1:
        host, _, p = hostport.partition(":")
        port = _port(p, url)
    if not host or "/" in host:
        raise UsageError(f"invalid host {url!r}: ssh://[USER@]HOST[:PORT]")
    return (user if at else getpass.getuser()), host, port


def _port(text: str, url: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"invalid port in {url!r}")
    return int(text)


def for_host(paths: Paths, url: str) -> Target:
    user, host, port = parse_url(url)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{user}@{host}_{port}")
    run_dir = os.path.join(paths.state, "hosts", safe)
    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    command = os.environ.get(REMOTE_COMMAND_ENV) or "launcher-remote"
    return Target(f"host {url}", run_dir, host, port, user, command,
                  [paths.storage, paths.state, "host", url])


def from_agent_args(args: list[str]) -> Target:
    """The target an agent was started for (``STORAGE STATE machine NAME|host URL``)."""
    from launcher.paths import Paths
    from launcher.vm.machine import Machine

    storage, state, kind, name = args
    paths = Paths(storage, state)
    if kind == "machine":
        return for_machine(paths, Machine.load(paths, name))
    return for_host(paths, name)
