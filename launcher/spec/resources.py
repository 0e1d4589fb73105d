"""``linux.resources`` of the OCI runtime spec: the cgroup limits, as typed records.

Split from :mod:`launcher.spec.model` (which re-exports every name here) to keep
each module readable; the rules are those of :mod:`launcher.spec.record`.
"""

from __future__ import annotations

from launcher.spec.record import BOOL, INT, STR, STRMAP, ListOf, MapOf, Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    pass


# -- linux: resources ------------------------------------------------------------------------


class DeviceRule(Record):
    """One ``linux.resources.devices`` cgroup rule."""

    __slots__ = ("access", "allow", "major", "minor", "type")
    FIELDS = (("allow", BOOL), ("type", STR), ("major", INT), ("minor", INT), ("access", STR))
    allow: bool | None
    type: str | None
    major: int | None
    minor: int | None
    access: str | None


class Memory(Record):
    __slots__ = ("check_before_update", "disable_oom_killer", "kernel", "kernel_tcp", "limit",
                 "reservation", "swap", "swappiness", "use_hierarchy")  # fmt: skip
    FIELDS = (("limit", INT), ("reservation", INT), ("swap", INT), ("kernel", INT),
              ("kernelTCP", INT), ("swappiness", INT), ("disableOOMKiller", BOOL),
              ("useHierarchy", BOOL), ("checkBeforeUpdate", BOOL))  # fmt: skip
    limit: int | None
    reservation: int | None
    swap: int | None
    kernel: int | None
    kernel_tcp: int | None
    swappiness: int | None
    disable_oom_killer: bool | None
    use_hierarchy: bool | None
    check_before_update: bool | None


class CPU(Record):
    __slots__ = ("burst", "cpus", "idle", "mems", "period", "quota", "realtime_period",
                 "realtime_runtime", "shares")  # fmt: skip
    FIELDS = (("shares", INT), ("quota", INT), ("burst", INT), ("period", INT),
              ("realtimeRuntime", INT), ("realtimePeriod", INT), ("cpus", STR), ("mems", STR),
              ("idle", INT))  # fmt: skip
    shares: int | None
    quota: int | None
    burst: int | None
    period: int | None
    realtime_runtime: int | None
    realtime_period: int | None
    cpus: str | None
    mems: str | None
    idle: int | None


class Pids(Record):
    __slots__ = ("limit",)
    FIELDS = (("limit", INT),)
    limit: int | None


class WeightDevice(Record):
    __slots__ = ("leaf_weight", "major", "minor", "weight")
    FIELDS = (("major", INT), ("minor", INT), ("weight", INT), ("leafWeight", INT))
    major: int | None
    minor: int | None
    weight: int | None
    leaf_weight: int | None


class ThrottleDevice(Record):
    __slots__ = ("major", "minor", "rate")
    FIELDS = (("major", INT), ("minor", INT), ("rate", INT))
    major: int | None
    minor: int | None
    rate: int | None


class BlockIO(Record):
    __slots__ = ("leaf_weight", "throttle_read_bps_device", "throttle_read_iops_device",
                 "throttle_write_bps_device", "throttle_write_iops_device", "weight",
                 "weight_device")  # fmt: skip
    FIELDS = (("weight", INT), ("leafWeight", INT), ("weightDevice", ListOf(WeightDevice)),
              ("throttleReadBpsDevice", ListOf(ThrottleDevice)),
              ("throttleWriteBpsDevice", ListOf(ThrottleDevice)),
              ("throttleReadIOPSDevice", ListOf(ThrottleDevice)),
              ("throttleWriteIOPSDevice", ListOf(ThrottleDevice)))  # fmt: skip
    weight: int | None
    leaf_weight: int | None
    weight_device: list[WeightDevice] | None
    throttle_read_bps_device: list[ThrottleDevice] | None
    throttle_write_bps_device: list[ThrottleDevice] | None
    throttle_read_iops_device: list[ThrottleDevice] | None
    throttle_write_iops_device: list[ThrottleDevice] | None


class HugepageLimit(Record):
    __slots__ = ("limit", "page_size")
    FIELDS = (("pageSize", STR), ("limit", INT))
    page_size: str | None
    limit: int | None


class InterfacePriority(Record):
    __slots__ = ("name", "priority")
    FIELDS = (("name", STR), ("priority", INT))
    name: str | None
    priority: int | None


class Network(Record):
    __slots__ = ("class_id", "priorities")
    FIELDS = (("classID", INT), ("priorities", ListOf(InterfacePriority)))
    class_id: int | None
    priorities: list[InterfacePriority] | None


class Rdma(Record):
    __slots__ = ("hca_handles", "hca_objects")
    FIELDS = (("hcaHandles", INT), ("hcaObjects", INT))
    hca_handles: int | None
    hca_objects: int | None


class Resources(Record):
    __slots__ = ("block_io", "cpu", "devices", "hugepage_limits", "memory", "network", "pids",
                 "rdma", "unified")  # fmt: skip
    FIELDS = (("devices", ListOf(DeviceRule)), ("memory", Memory), ("cpu", CPU), ("pids", Pids),
              ("blockIO", BlockIO), ("hugepageLimits", ListOf(HugepageLimit)),
              ("network", Network), ("rdma", MapOf(Rdma)), ("unified", STRMAP))  # fmt: skip
    devices: list[DeviceRule] | None
    memory: Memory | None
    cpu: CPU | None
    pids: Pids | None
    block_io: BlockIO | None
    hugepage_limits: list[HugepageLimit] | None
    network: Network | None
    rdma: dict[str, Rdma] | None
    unified: dict[str, str] | None
