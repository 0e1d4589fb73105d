"""``launcher version``: the client, the backend it drives and, on the VM
backend, the guest (Docker's Client/Server split, with the machine in between).

* Client — this launcher: version, Python, OS/arch.
* Backend — ``native`` (this Linux kernel: release, cgroup layout, rootless or
  not) or ``vm`` (the default machine: name, state, driver, accelerator).
* Guest — on the VM backend: launcher's version and the kernel in the running
  guest, as the host agent found them when it connected (``guest.json``:
  launcher there is the host's once the agent has synced it, launcher.vm.
  selfsync); for a stopped machine, what its image records (``image.json``,
  written by provision/build.py).
"""

from __future__ import annotations

import os
import platform

from launcher import __version__, fastjson, host

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.paths import Paths
    from launcher.vm.machine import Machine


def client() -> dict[str, object]:
    return {"Version": __version__, "Python": platform.python_version(),
            "OS/Arch": f"{host.os_name()}/{host.oci_arch()}"}


def native() -> dict[str, object]:
    return {"Name": "native", "Kernel": platform.release(),
            "Cgroups": host.cgroup_layout(), "Rootless": os.geteuid() != 0}


def vm(paths: Paths, name: str = "default") -> tuple[dict[str, object], dict[str, object] | None]:
    """(Backend, Guest) for machine ``name``; Guest is None without a machine."""
    from launcher.errors import LauncherError
    from launcher.vm.machine import Machine, status

    backend: dict[str, object] = {"Name": "vm", "Machine": name}
    try:
        m = Machine.load(paths, name)
    except LauncherError:
        backend["State"] = "none (created on first use, or: launcher machine init)"
        return backend, None
    state, _detail = status(m)
    backend.update({"State": state, "Driver": m.driver, "Accelerator": _accel(m)})
    guest = guest_of(m.image_dir)
    if state == "running":
        guest.update(_live(m))  # what the host agent found in the running guest
    return backend, guest


def guest_of(image_dir: str) -> dict[str, object]:
    """What the machine's image says about the guest."""
    try:
        with open(os.path.join(image_dir, "image.json"), "rb") as f:
            doc = fastjson.loads(f.read())
    except (OSError, ValueError):
        doc = {}
    doc = doc if isinstance(doc, dict) else {}
    return {"Version": doc.get("launcher_version") or "unknown (image built before 0.1.0)",
            "Kernel": doc.get("kernel_version") or "unknown", "Arch": doc.get("arch") or ""}


def _live(m: Machine) -> dict[str, object]:
    try:
        with open(os.path.join(m.run_dir, "guest.json"), "rb") as f:
            doc = fastjson.loads(f.read())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in doc.items() if k in ("Version", "Kernel")} \
        if isinstance(doc, dict) else {}


def _accel(m: Machine) -> str:
    try:
        with open(os.path.join(m.run_dir, "accel"), encoding="utf-8") as f:
            return f.read().strip() or "unknown"
    except OSError:
        return "chosen at start"


def report(paths: Paths, use_vm: bool) -> dict[str, object]:
    """The whole ``launcher version`` object; ``use_vm``: the backend a plain
    command gets here (launcher.cli.main._use_vm decides)."""
    out: dict[str, object] = {"Client": client()}
    if use_vm:
        out["Backend"], guest = vm(paths)
        if guest is not None:
            out["Guest"] = guest
    else:
        out["Backend"] = native()
    return out
