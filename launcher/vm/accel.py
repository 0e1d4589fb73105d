"""Which accelerator QEMU should use on this host, proved rather than guessed.

Candidates per host: KVM on Linux, HVF on macOS, WHPX on Windows, then TCG
(software emulation, always works, slow). A candidate is used only after it
is shown to work: the cheap checks first (``/dev/kvm`` opens read-write, the
kvm module is loaded, ``kern.hv_support`` is 1), then a *probe boot*: the
guest's own kernel with a marker-only initramfs, under that accelerator, with
a timeout. A ``/dev/kvm`` that opens but cannot run a stock kernel (a
paravirtual backend, as on this project's CI machine) fails the probe and the
next candidate is tried. The verdict is cached per (host kernel, QEMU binary,
guest kernel), so the probe runs once.
"""

from __future__ import annotations

import os
import sys

from launcher import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

ACCELERATORS = ("kvm", "hvf", "whpx", "tcg")
PROBE_MARKER = "LAUNCHER-ACCEL-PROBE-OK"
PROBE_TIMEOUT = 20.0  # a working accelerator boots the probe in ~1 s; TCG in ~3 s



def candidates(platform: str | None = None) -> list[str]:
    """The accelerators worth trying on ``platform`` (sys.platform), best first."""
    plat = platform or sys.platform
    if plat.startswith("linux"):
        return ["kvm", "tcg"]
    if plat == "darwin":
        return ["hvf", "tcg"]
    if plat in ("win32", "cygwin"):
        return ["whpx", "tcg"]
    return ["tcg"]


def cheap_check(accel: str) -> str | None:
    """None when ``accel`` may work here, else why not (no probe boot needed)."""
    if accel == "tcg":
        return None
    if accel == "kvm":
        if not os.path.exists("/dev/kvm"):
            return "/dev/kvm does not exist"
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            return "/dev/kvm is not readable and writable by this user"
        if not any(os.path.isdir(f"/sys/module/{m}") for m in ("kvm_intel", "kvm_amd", "kvm")):
            return "no kvm kernel module is loaded"
        return None
    if accel == "hvf":
        return None if _sysctl("kern.hv_support") == "1" else "kern.hv_support is not 1"
    if accel == "whpx":
        return None  # only a probe can tell (Windows Hypervisor Platform feature)
    return f"unknown accelerator {accel}"


def _sysctl(name: str) -> str:
    import subprocess

    try:
        res = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True,
                             timeout=5, check=False)
    except OSError:
        return ""
    return res.stdout.strip()


class Choice:
    """The accelerator chosen, and what was tried (for `machine inspect`)."""

    __slots__ = ("accel", "tried")

    def __init__(self, accel: str, tried: list[tuple[str, str]]) -> None:
        self.accel = accel
        self.tried = tried  # (accelerator, "ok" or why not)

    @property
    def slow(self) -> bool:
        return self.accel == "tcg"

    def to_json(self) -> dict[str, object]:
        return {"accel": self.accel, "tried": [list(t) for t in self.tried]}


def choose(probe: Callable[[str, str, str, float], str | None], kernel: str, initrd: str,
           cache_file: str | None, cache_key: str, forced: str | None = None,
           foreign: str | None = None) -> Choice:
    """Pick the first candidate that passes its checks and its probe boot.

    ``forced`` (``LAUNCHER_VM_ACCEL``) skips the choice but not the validation
    of the name. ``foreign``: why no hardware accelerator can run this guest
    (another CPU architecture than the host's): TCG then. The verdict is
    stored in ``cache_file`` under ``cache_key``."""
    if forced:
        if forced not in ACCELERATORS:
            from launcher.errors import ConfigError

            raise ConfigError([f"unknown accelerator {forced!r} "
                               f"(one of {', '.join(ACCELERATORS)})"])
        return Choice(forced, [(forced, "forced")])
    cached = _load(cache_file).get(cache_key)
    if isinstance(cached, dict) and cached.get("accel") in ACCELERATORS:
        was = [(str(a), str(w)) for a, w in cached.get("tried", [])]
        return Choice(str(cached["accel"]), was)
    tried: list[tuple[str, str]] = []
    chosen = "tcg"
    for accel in candidates():
        if foreign and accel != "tcg":
            tried.append((accel, foreign))
            continue
        why = cheap_check(accel)
        if why is None and accel != "tcg":
            why = probe(accel, kernel, initrd, PROBE_TIMEOUT)
        tried.append((accel, why or "ok"))
        if why is None:
            chosen = accel
            break
    choice = Choice(chosen, tried)
    if cache_file:
        _store(cache_file, cache_key, choice)
    return choice


def _load(path: str | None) -> dict[str, object]:
    if not path:
        return {}
    try:
        with open(path, "rb") as f:
            doc = fastjson.loads(f.read())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _store(path: str, key: str, choice: Choice) -> None:
    doc = _load(path)
    doc[key] = choice.to_json()
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(fastjson.dumps(doc).encode())
    os.replace(tmp, path)
