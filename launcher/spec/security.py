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
    """launcher's default profile for ``caps``, memoized on disk with its program
    (a prepared entry, launcher.seccomp.bpf): building it takes ~2 ms of imports
    and rule resolution, reading it back ~0.1 ms. The key holds the caps, the
    kernel's major.minor, the profile's sources and what the program depends on
    (bpf.compiler_tag: the machine, libseccomp, the compiler's sources)."""
    from launcher.seccomp import bpf

    machine = os.uname().machine
    here = os.path.dirname(os.path.abspath(bpf.__file__))
    kernel = ".".join(os.uname().release.split(".")[:2])
    wanted = sorted(caps)
    key = "|".join([*wanted, kernel, *bpf.source_stamps(here, SOURCES), bpf.compiler_tag()])
    # one entry per install, machine and capability set: a new kernel or a
    # launcher upgrade overwrites it rather than adding one
    bucket = bpf.stable_hash("|".join([here, *wanted]).encode())
    path = os.path.join(bpf.cache_dir(), f"default-{machine}-{bucket:016x}.memo")
    sec = bpf.load_prepared(path, key)
    if sec is not None:
        return sec
    from launcher.seccomp.default import default_profile

    sec = default_profile(caps)
    try:
        bpf.store_prepared(path, key, sec)
    except OSError:
        pass  # a cache (read-only home, full disk): the next start builds it again
    return sec


SOURCES = ("default.py", "profile.py", "syscalls.py")  # what the default is made of
