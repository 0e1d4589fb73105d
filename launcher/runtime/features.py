"""``launcher-runtime features``: what this runtime implements (runtime-spec features.md)."""

from __future__ import annotations

from launcher.backend.linux import mountopts
from launcher.backend.linux.namespaces import FLAGS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def features() -> dict[str, Any]:
    from launcher.seccomp import bpf
    from launcher.spec.caps import ALL
    from launcher.spec.security import FLAGS as SECCOMP_FLAGS

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer",
                  "poststart", "poststop"],
        "mountOptions": sorted(set(mountopts.FLAGS) | set(mountopts.PROPAGATION)
                               | set(mountopts.RECURSIVE)),
        "linux": {
            "namespaces": sorted(FLAGS),
            "capabilities": list(ALL),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False,
                       "rdma": False},
            "seccomp": {"enabled": True,
                        "actions": sorted(set(bpf.ACTIONS) - {"SCMP_ACT_KILL_THREAD"}),
                        "operators": sorted(bpf.OPS),
                        "archs": sorted({a for arches in bpf.SUBARCHES.values()
                                         for a in arches}),
                        "knownFlags": sorted(SECCOMP_FLAGS),
                        "supportedFlags": sorted(SECCOMP_FLAGS)},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": False}},
        },
        "annotations": {"org.opencontainers.runtime-spec.features.runtime": "launcher-runtime"},
    }
