"""Fault injection: die at a named step, as a crash or ``kill -9`` would.

``LAUNCHER_FAULT=<point>`` makes the process that reaches ``point(<point>)``
SIGKILL itself there — no ``finally``, no undo, no flush — so tests can prove
that whatever a dead CLI or monitor leaves behind is still listed
consistently by ``ps`` and removed completely by ``rm -f``/``system prune``.
The variable is read once; an unset variable costs one comparison per point.

Points are named ``<stage>.<step>``, each reached just after its step:

* ``run``: run.bundle, run.name, run.network, run.spec, run.record,
  run.created, run.started, run.detach (backend/linux/backend.py);
* ``create``: create.state, create.cgroup, create.forked, create.ready
  (backend/linux/lifecycle.py); monitor.started (backend/linux/monitor.py);
* ``rm``: rm.runtime, rm.network, rm.rootfs, rm.names
  (backend/linux/containers.py);
* network setup: net.state, net.connect (each network), net.firewall,
  net.publish, net.hosts; teardown: net.unpublish, net.disconnect
  (network/container.py);
* one network's endpoint: connect.lease, connect.record, connect.veth;
  disconnect.veth (network/endpoint.py).

tests/unit/test_faults.py checks that this list names every point.
"""

from __future__ import annotations

import os


def point(name: str) -> None:
    """SIGKILL this process here when LAUNCHER_FAULT names ``name``.

    Read at each call, not at import: a VM guest imports launcher ahead of
    the request that brings the environment."""
    if os.environ.get("LAUNCHER_FAULT") == name:
        os.kill(os.getpid(), 9)
