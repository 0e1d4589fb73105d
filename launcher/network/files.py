"""Where networks live on disk, and how their files are written and locked.

::

    storage/networks/                     persistent: one file per network
        <name>.json                       a Network (model.py), created with link() (O_EXCL)
    state/networks/<name>/                volatile (tmpfs: a reboot ends every container)
        leases.json                       IPAM: container id -> address, and the last one given
        endpoints/<cid>.json              an Endpoint: what ``disconnect`` must undo
    state/network-ports.lock              held while published ports are checked and taken
    state/network-hosts.lock              held while hosts files of a network's members change
    storage/containers/<cid>/             the container's bundle (bundle.py):
        network.json                      its network config and what is set up now
        hosts, resolv.conf, hostname      bind-mounted at /etc/… in the container

Every write is temp + fsync + rename, mode 0600, so a reader sees the old or
the new file, never half of one. Writers of one network's state hold an
flock on its state directory (``DirLock``, from :mod:`launcher.locks`);
``network create`` holds one on ``storage/networks`` while it picks a free subnet.
"""

from __future__ import annotations

import os

from launcher import fastjson
from launcher.errors import StateError

# Re-exported: the network modules lock and make their directories through ``files``.
from launcher.locks import DirLock as DirLock
from launcher.locks import FileLock as FileLock
from launcher.locks import make_private_dirs as make_private_dirs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from launcher.paths import Paths

MAX_FILE = 1 << 20  # a state file larger than this is corrupt, not read whole


def networks_dir(paths: Paths) -> str:
    return os.path.join(paths.storage, "networks")


def network_file(paths: Paths, name: str) -> str:
    return os.path.join(networks_dir(paths), name + ".json")


def state_dir(paths: Paths, name: str) -> str:
    return os.path.join(paths.state, "networks", name)


def leases_file(paths: Paths, name: str) -> str:
    return os.path.join(state_dir(paths, name), "leases.json")


def endpoints_dir(paths: Paths, name: str) -> str:
    return os.path.join(state_dir(paths, name), "endpoints")


def endpoint_file(paths: Paths, name: str, cid: str) -> str:
    return os.path.join(endpoints_dir(paths, name), cid + ".json")


def ports_lock(paths: Paths) -> str:
    return os.path.join(paths.state, "network-ports.lock")


def hosts_lock(paths: Paths) -> str:
    return os.path.join(paths.state, "network-hosts.lock")


def read_json(path: str, what: str) -> Any:
    """The JSON document in ``path``; FileNotFoundError passes through, anything
    unreadable is a StateError naming ``what`` and the file."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StateError(f"{what} {path} cannot be read: {exc.strerror}") from None
    try:
        if len(data) > MAX_FILE:
            raise ValueError("larger than 1 MiB")
        return fastjson.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StateError(f"{what} {path} is corrupt ({exc})") from None


def write_json(path: str, obj: object, exclusive: bool = False) -> None:
    """Write ``obj`` to ``path`` atomically (0600). ``exclusive``: the final
    name is claimed with link(2), which fails with FileExistsError if the file
    exists — an O_EXCL create that never shows a half-written file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        try:
            os.write(fd, fastjson.dumps(obj).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if exclusive:
            os.link(tmp, path)
        else:
            os.rename(tmp, path)
    finally:
        try:
            os.unlink(tmp)  # after link(), or after a failure; gone after rename()
        except FileNotFoundError:
            pass


def remove_file(path: str) -> bool:
    """Unlink ``path``; False if it was not there."""
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
