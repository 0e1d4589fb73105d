"""The machine's host forwards follow what its containers publish."""

from __future__ import annotations

import os

import pytest

from launcher.paths import Paths
from launcher.vm import portsync
from launcher.vm.machine import Machine


class FakeQemu:
    def __init__(self) -> None:
        self.fwd: set[tuple[str, str, int]] = set()
        self.taken: set[int] = set()

    def __call__(self, m: Machine, proto: str, ip: str, host_port: int, guest_port: int,
                 add: bool) -> None:
        assert host_port == guest_port
        key = (proto, ip, host_port)
        if add:
            if host_port in self.taken or key in self.fwd:
                raise RuntimeError("could not set up host forwarding rule")
            self.fwd.add(key)
        else:
            if key not in self.fwd:
                raise RuntimeError("host forwarding rule not found")
            self.fwd.remove(key)


@pytest.fixture
def m(paths: Paths) -> Machine:
    mach = Machine(paths, "default")
    os.makedirs(mach.run_dir)
    return mach


def test_publish_then_the_container_goes(m: Machine) -> None:
    q = FakeQemu()
    portsync.add(m, "tcp", "127.0.0.1", 8080, q)
    assert q.fwd == {("tcp", "127.0.0.1", 8080)}
    # still starting in the guest: kept for the grace period
    assert portsync.reconcile(m, [], q, now=portsync.time.time() + 1) == []
    assert q.fwd == {("tcp", "127.0.0.1", 8080)}
    portsync.reconcile(m, [("tcp", 8080)], q)  # now it is published: seen
    portsync.reconcile(m, [], q)  # and gone (run --rm ended, rm -f): forward removed
    assert q.fwd == set() and not portsync.has_forwards(m)


def test_a_forward_whose_container_never_came_goes_after_the_grace(m: Machine) -> None:
    q = FakeQemu()
    portsync.add(m, "udp", "0.0.0.0", 5353, q)
    portsync.reconcile(m, [], q, now=portsync.time.time() + portsync.GRACE + 1)
    assert q.fwd == set()


def test_ports_chosen_in_the_guest_are_forwarded_on_all_addresses(m: Machine) -> None:
    q = FakeQemu()
    q.taken.add(40001)
    warnings = portsync.reconcile(m, [("tcp", 40000), ("tcp", 40001), ("udp", 40000)], q)
    assert q.fwd == {("tcp", "0.0.0.0", 40000), ("udp", "0.0.0.0", 40000)}
    assert len(warnings) == 1 and "tcp/40001" in warnings[0]
    portsync.reconcile(m, [("udp", 40000)], q)
    assert q.fwd == {("udp", "0.0.0.0", 40000)}


def test_add_replaces_a_stale_forward_of_the_same_port(m: Machine) -> None:
    q = FakeQemu()
    portsync.add(m, "tcp", "0.0.0.0", 8080, q)
    portsync.add(m, "tcp", "127.0.0.1", 8080, q)  # a new run -p 127.0.0.1:8080:80
    assert q.fwd == {("tcp", "127.0.0.1", 8080)}
    q.fwd.add(("tcp", "0.0.0.0", 9090))  # made by a CLI killed before it wrote the record
    portsync.add(m, "tcp", "0.0.0.0", 9090, q)
    assert ("tcp", "0.0.0.0", 9090) in q.fwd


def test_a_finished_run_loses_its_grace(m: Machine) -> None:
    q = FakeQemu()
    portsync.add(m, "tcp", "127.0.0.1", 8080, q)
    portsync.settle(m, [("tcp", 8080)])  # run --rm -p ended before any reconcile saw it
    portsync.reconcile(m, [], q)
    assert q.fwd == set()
