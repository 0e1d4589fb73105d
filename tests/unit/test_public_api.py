"""The public surface of ``launcher`` is pinned: a change here is a change for users."""

from __future__ import annotations

import inspect
import subprocess
import sys

import launcher
import launcher.api

TOP = ["Client", "Container", "ExecResult", "Image", "LauncherError", "__version__"]
API = ["Client", "ConflictError", "Container", "ContainerCollection", "ExecResult", "Image",
       "ImageCollection", "ImageError", "Kube", "LauncherError", "Network", "NetworkCollection",
       "NotFoundError", "RegistryError", "UnsupportedError", "UsageError", "Volume",
       "VolumeCollection"]
METHODS = {
    "Client": ["backend", "close", "containers", "images", "info", "kube", "login", "logout",
               "networks", "version", "volumes"],
    "Kube": ["down", "generate", "play"],
    "ContainerCollection": ["get", "list", "prune", "run"],
    "ImageCollection": ["get", "import_rootfs", "list", "load", "prune", "pull", "push",
                        "remove", "save"],
    "Container": ["exec", "exec_run", "exit_code", "get_archive", "host_port", "image", "inspect",
                  "keep_output", "kill", "labels", "logs", "name", "pause", "ports",
                  "put_archive", "reload", "remove", "rename", "short_id", "stats", "status",
                  "stop", "stream_logs", "top", "unpause", "wait"],
    "Image": ["id", "labels", "reload", "remove", "short_id", "tag", "tags"],
    "ExecResult": ["exit_code", "output", "stderr", "stdout"],
    "NetworkCollection": ["create", "get", "list", "prune"],
    "VolumeCollection": ["create", "get", "list"],
    "Network": ["attrs", "connect", "disconnect", "id", "labels", "name", "reload", "remove"],
    "Volume": ["attrs", "id", "labels", "name", "reload", "remove"],
}


def test_all_is_pinned() -> None:
    assert sorted(launcher.__all__) == TOP
    assert sorted(launcher.api.__all__) == API
    for name in TOP:
        assert getattr(launcher, name) is not None
    assert launcher.Client is launcher.api.Client


def test_public_methods_are_pinned() -> None:
    for cls_name, names in METHODS.items():
        cls = getattr(launcher.api, cls_name)
        public = sorted(n for n in dir(cls) if not n.startswith("_"))
        if cls_name == "Client":  # attributes set in __init__
            public = sorted({*public, "containers", "images", "kube", "networks", "volumes"})
        if cls_name in ("Network", "Volume"):
            public = sorted({*public, "attrs"})
        assert public == names, cls_name


def test_everything_public_is_documented() -> None:
    for cls_name in METHODS:
        cls = getattr(launcher.api, cls_name)
        assert inspect.getdoc(cls), cls_name
    for name in ("run", "get", "list"):
        assert inspect.getdoc(getattr(launcher.api.ContainerCollection, name)), name


def test_importing_launcher_stays_cheap() -> None:
    """``import launcher`` loads no API module: the container start path imports it."""
    code = "import sys, launcher; print(sorted(m for m in sys.modules if m.startswith('launcher')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['launcher']"
