"""Every on-disk directory and file name launcher uses, in one place.

Layout under a root chosen by ``--root DIR`` / ``LAUNCHER_ROOT``::

    DIR/storage/                 images and layers (persistent)
        blobs/sha256/<hex>       content-addressed blobs (layers, configs, manifests)
        layers/<hex>/            unpacked layers, keyed by the layer's diff id
        layer-sizes/<hex>        a layer's unpacked size (what `images` sums)
        images.json              image index: reference -> manifest digest
        gc.lock                  the store lock: writers shared, GC exclusive
        tmp/                     in-flight downloads and unpacks (never "complete")
    DIR/state/                   runtime state (volatile)
        containers/<id>/         one container: state.json, bundle (config.json, rootfs)
    DIR/config/                  settings (persistent, 0700)
        auth.json                registry credentials, Docker's config.json "auths" (0600)
        registries.toml          registry settings: insecure = ["host:port", ...]
        launcher.toml            settings: launcher's defaults, TOML (settings.py
                                 documents every key and its default)

Without ``--root``: root uses the FHS system paths ``/var/lib/launcher``,
``/run/launcher`` and ``/etc/launcher``; other users get platformdirs' per-user
data, runtime and config dirs. ``LAUNCHER_AUTH_FILE`` names another credentials
file (podman's ``REGISTRY_AUTH_FILE`` is honoured too).
``launcher-runtime`` keeps its OCI state in ``/run/launcher-runtime`` (root) as
runc keeps ``/run/runc``.
"""

from __future__ import annotations

import os
import sys

ROOT_ENV = "LAUNCHER_ROOT"
RUNTIME_ROOT_ENV = "LAUNCHER_RUNTIME_ROOT"

STATE_FILE = "state.json"
CONFIG_FILE = "config.json"
EXEC_FIFO = "exec.fifo"
IMAGES_INDEX = "images.json"
STORE_LOCK = "gc.lock"
LAYER_SIZES = "layer-sizes"
AUTH_FILE = "auth.json"
REGISTRIES_FILE = "registries.toml"
SETTINGS_FILE = "launcher.toml"
AUTH_FILE_ENVS = ("LAUNCHER_AUTH_FILE", "REGISTRY_AUTH_FILE")


def _is_root() -> bool:
    geteuid = getattr(os, "geteuid", None)
    return bool(geteuid is not None and geteuid() == 0)


class Paths:
    """Directories of one launcher root. Creates nothing until asked."""

    __slots__ = ("config", "state", "storage")

    def __init__(self, storage: str, state: str, config: str | None = None) -> None:
        self.storage = storage
        self.state = state
        # Settings and credentials; by default beside the storage dir.
        self.config = config or os.path.join(os.path.dirname(storage) or ".", "config")

    @classmethod
    def from_root(cls, root: str | None = None) -> Paths:
        root = root or os.environ.get(ROOT_ENV) or None
        if root:
            root = os.path.abspath(root)
            return cls(
                os.path.join(root, "storage"),
                os.path.join(root, "state"),
                os.path.join(root, "config"),
            )
        if sys.platform.startswith("linux") and _is_root():
            return cls("/var/lib/launcher", "/run/launcher", "/etc/launcher")
        import platformdirs

        if sys.platform.startswith("linux"):
            state = os.path.join(user_runtime_dir(), "launcher")
        else:
            state = platformdirs.user_runtime_dir("launcher", appauthor=False)
        return cls(
            platformdirs.user_data_dir("launcher", appauthor=False),
            state,
            platformdirs.user_config_dir("launcher", appauthor=False),
        )

    # storage
    @property
    def blobs(self) -> str:
        return os.path.join(self.storage, "blobs", "sha256")

    @property
    def layers(self) -> str:
        return os.path.join(self.storage, "layers")

    @property
    def layer_sizes(self) -> str:
        return os.path.join(self.storage, LAYER_SIZES)

    @property
    def store_lock(self) -> str:
        return os.path.join(self.storage, STORE_LOCK)

    @property
    def images_index(self) -> str:
        return os.path.join(self.storage, IMAGES_INDEX)

    @property
    def storage_tmp(self) -> str:
        return os.path.join(self.storage, "tmp")

    # config
    @property
    def auth_file(self) -> str:
        for env in AUTH_FILE_ENVS:
            value = os.environ.get(env)
            if value:
                return os.path.abspath(value)
        return os.path.join(self.config, AUTH_FILE)

    @property
    def registries_file(self) -> str:
        return os.path.join(self.config, REGISTRIES_FILE)

    @property
    def settings_file(self) -> str:
        return os.path.join(self.config, SETTINGS_FILE)

    # state
    @property
    def containers(self) -> str:
        return os.path.join(self.state, "containers")

    def container_dir(self, cid: str) -> str:
        return os.path.join(self.containers, cid)


def runtime_root(explicit: str | None = None) -> str:
    """State root of ``launcher-runtime`` (runc's ``--root``)."""
    if explicit:
        return os.path.abspath(explicit)
    env = os.environ.get(RUNTIME_ROOT_ENV)
    if env:
        return os.path.abspath(env)
    if _is_root():
        return "/run/launcher-runtime"
    return os.path.join(user_runtime_dir(), "launcher-runtime")


def user_runtime_dir() -> str:
    """An ordinary user's runtime dir on Linux, as podman picks it:
    ``$XDG_RUNTIME_DIR``, else ``/run/user/UID`` when it is the user's, else a
    private ``/tmp/launcher-run-UID`` (made 0700 here; refused if someone else's)."""
    from launcher.errors import StateError

    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return xdg
    uid = os.getuid()
    run = f"/run/user/{uid}"
    try:
        if os.stat(run).st_uid == uid:
            return run
    except OSError:
        pass
    tmp = f"/tmp/launcher-run-{uid}"
    try:
        os.mkdir(tmp, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StateError(f"runtime dir {tmp}: {exc.strerror}") from exc
    st = os.lstat(tmp)
    import stat

    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o077:
        raise StateError(f"runtime dir {tmp} is not a private directory of uid {uid}: "
                         "set XDG_RUNTIME_DIR")
    return tmp
