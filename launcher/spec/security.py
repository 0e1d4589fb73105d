"""``--security-opt``: the seccomp filter and no_new_privs of a container's spec.

Default: launcher's seccomp profile (launcher.seccomp.default, chosen for the
container's capabilities, as Docker's depends on them) and no_new_privs on.
``seccomp=unconfined`` leaves the filter out; ``seccomp=PROFILE.json`` reads a
profile in Docker's format; ``no-new-privileges=false`` lifts no_new_privs
(then the filter is loaded while init still holds CAP_SYS_ADMIN, as runc does).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.spec.model import Linux, Process, Seccomp


def apply(process: Process, linux: Linux, opts: list[str]) -> None:
    """Set ``linux.seccomp`` and ``process.no_new_privileges`` from ``opts``
    (normalized ``key=value`` words, launcher.cli.convert.security_opt)."""
    seccomp = "default"
    for opt in opts:
        key, _, value = opt.partition("=")
        if key == "no-new-privileges":
            process.no_new_privileges = value != "false"
        elif key == "seccomp":
            seccomp = value
    if seccomp == "unconfined":
        linux.seccomp = None
        return
    caps = list(process.capabilities.bounding or []) if process.capabilities else []
    if seccomp == "default":
        linux.seccomp = default_for(caps)
        return
    from launcher.seccomp import profile

    linux.seccomp = profile.load_file(seccomp, caps, profile.host_arch(),
                                      profile.kernel_version())


def default_for(caps: list[str]) -> Seccomp:
    """launcher's default profile for ``caps``, memoized on disk: building it takes
    ~2 ms of imports and rule resolution, reading it back ~0.2 ms. The key holds
    the caps, the machine, the kernel's major.minor and the profile's sources."""
    from _blake2 import blake2b

    from launcher import fastjson
    from launcher.seccomp import bpf
    from launcher.spec.model import Seccomp

    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "seccomp")
    stamp = [f"{n}:{os.stat(os.path.join(here, n)).st_mtime_ns}" for n in SOURCES]
    kernel = ".".join(os.uname().release.split(".")[:2])
    key = blake2b("|".join([*sorted(caps), os.uname().machine, kernel, *stamp]).encode(),
                  digest_size=20).hexdigest()
    path = os.path.join(bpf.cache_dir(), f"default-{key}.json")
    try:
        with open(path, "rb") as f:
            return Seccomp.from_json(fastjson.loads(f.read()))
    except (OSError, ValueError):
        pass
    from launcher.locks import make_private_dirs
    from launcher.seccomp.default import default_profile

    sec = default_profile(caps)
    make_private_dirs(os.path.dirname(path))
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(fastjson.dumps(sec.to_json()))
    os.replace(tmp, path)
    return sec


SOURCES = ("default.py", "profile.py", "syscalls.py")  # what the default is made of
