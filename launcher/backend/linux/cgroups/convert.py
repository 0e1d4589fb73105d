"""Pure conversions from OCI resource values to cgroup file contents.

No I/O here: the v1 and v2 managers read current values where an order
depends on them and pass them in, so every rule is unit-tested directly.
OCI integers follow runc: ``None`` and ``0`` mean "not set" for memory
and cpu values, ``-1`` means "no limit".
"""

from __future__ import annotations

from launcher.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from launcher.backend.linux.cgroups.base import DeviceRuleLike

SHARES_MIN, SHARES_MAX = 2, 262144
BLKIO_WEIGHT_MIN, BLKIO_WEIGHT_MAX = 10, 1000
DEFAULT_CFS_PERIOD = 100000
UNLIMITED = 1 << 63  # "no limit" as a byte count, for comparisons


def is_set(value: int | None) -> bool:
    return value is not None and value != 0


def cpu_weight(shares: int) -> int:
    """v1 ``cpu.shares`` [2, 262144] → v2 ``cpu.weight`` [1, 10000], linearly."""
    shares = min(max(shares, SHARES_MIN), SHARES_MAX)
    return 1 + ((shares - 2) * 9999) // 262142


def io_weight(blkio_weight: int) -> int:
    """v1 ``blkio.weight`` [10, 1000] → v2 ``io.weight`` [1, 10000], linearly."""
    w = min(max(blkio_weight, BLKIO_WEIGHT_MIN), BLKIO_WEIGHT_MAX)
    return 1 + ((w - 10) * 9999) // 990


def max_or(value: int) -> str:
    """v2 spelling of a limit: negative → ``"max"``."""
    return "max" if value < 0 else str(value)


def pids_max(limit: int) -> str:
    return "max" if limit <= 0 else str(limit)


def swap_v2(swap: int | None, limit: int | None) -> str | None:
    """OCI ``memory.swap`` is memory+swap (the v1 memsw meaning); v2's
    ``memory.swap.max`` is swap alone: ``swap - limit``.  ``-1`` → ``"max"``.

    A ``-1`` limit with no swap given means "both unlimited", as on v1.
    """
    if limit == -1 and not is_set(swap):
        return "max"
    if not is_set(swap):
        return None
    assert swap is not None
    if swap < 0:
        return "max"
    if not is_set(limit) or limit is None or limit < 0:
        raise ConfigError("memory.swap needs a memory.limit to be set")
    if swap < limit:
        raise ConfigError(f"memory.swap ({swap}) must be >= memory.limit ({limit})")
    return str(swap - limit)


def cpu_max(quota: int | None, period: int | None, current: str | None) -> str | None:
    """v2 ``cpu.max`` (``"quota period"``, ``"max period"``). Keeps the current
    quota when only the period changes, and the current period when only the
    quota does."""
    if not is_set(quota) and not is_set(period):
        return None
    cur = (current or "max").split()
    if is_set(quota):
        assert quota is not None
        q = max_or(quota)
    else:
        q = cur[0]
    p = cur[1] if len(cur) > 1 else str(DEFAULT_CFS_PERIOD)
    if is_set(period):
        p = str(period)
    return f"{q} {p}"


def _bytes(v: int) -> int:
    return UNLIMITED if v < 0 else v


def memory_v1(
    limit: int | None, swap: int | None, current_limit: int, have_memsw: bool
) -> list[tuple[str, str]]:
    """The writes for v1 memory.limit_in_bytes / memory.memsw.limit_in_bytes.

    The kernel insists on memsw >= limit after *every* write.  If the new
    memsw is at least the current limit, memsw goes first (then the new limit
    fits under it); otherwise the limit goes first (it shrinks below the
    current memsw).  ``current_limit`` is UNLIMITED when there is none.
    ``-1`` is unlimited; a ``-1`` limit with no swap given
    lifts memsw too.  Without memsw (no swap accounting) swap is ignored.
    """
    lim = limit if is_set(limit) else None
    sw = swap if is_set(swap) and have_memsw else None
    if lim == -1 and not is_set(swap) and have_memsw:
        sw = -1
    if lim is not None and sw is not None and _bytes(sw) < _bytes(lim):
        raise ConfigError(f"memory.swap ({swap}) must be >= memory.limit ({limit})")
    mem = [("memory.limit_in_bytes", str(lim))] if lim is not None else []
    memsw = [("memory.memsw.limit_in_bytes", str(sw))] if sw is not None else []
    if sw is not None and _bytes(sw) >= current_limit:
        return memsw + mem
    return mem + memsw


def hugetlb_size(page_size: str | None) -> str:
    """``"2MB"`` as the kernel names it in ``hugetlb.2MB.*``; validated, since it
    becomes part of a file name."""
    if not page_size or not page_size.isalnum() or not page_size.isascii():
        raise ConfigError(f"hugepageLimits: invalid pageSize {page_size!r}")
    return page_size


def unified_items(unified: Mapping[str, str] | None) -> list[tuple[str, str]]:
    """``resources.unified`` as (file, value), keys checked to name a file of
    this cgroup (``controller.key``), never a path."""
    items: list[tuple[str, str]] = []
    for key, value in (unified or {}).items():
        if not key or "/" in key or ".." in key or "." not in key.strip("."):
            raise ConfigError(f"resources.unified: invalid key {key!r}")
        items.append((key, value))
    return items


def _dev_num(n: int | None) -> str:
    return "*" if n is None or n < 0 else str(n)


def device_rules_v1(devices: Sequence[DeviceRuleLike]) -> list[tuple[str, str]]:
    """OCI device rules → ordered writes to v1 ``devices.allow``/``devices.deny``.

    First ``a`` to devices.deny (deny everything, drop inherited exceptions),
    then each rule in order; the kernel's own list then ends where runc's
    emulator would.  v1 can only say "all types" as a bare ``a`` (which also
    means all numbers and all access), so a narrower ``a`` rule is split into
    a ``c`` and a ``b`` rule.
    """
    out = [("devices.deny", "a")]
    for rule in devices:
        target = "devices.allow" if rule.allow else "devices.deny"
        access = rule.access or "rwm"
        if any(ch not in "rwm" for ch in access):
            raise ConfigError(f"devices: invalid access {rule.access!r}")
        kind = rule.type or "a"
        if kind not in ("a", "c", "b", "u", "p"):
            raise ConfigError(f"devices: invalid type {rule.type!r}")
        nums = f"{_dev_num(rule.major)}:{_dev_num(rule.minor)}"
        if kind == "a":
            if nums == "*:*" and set(access) == set("rwm"):
                out.append((target, "a"))
                continue
            kinds = ["c", "b"]
        else:
            kinds = ["c"] if kind == "u" else [kind]  # "u" is OCI's unbuffered char dev
        if kind == "p":
            continue  # FIFOs are not governed by the device cgroup
        out.extend((target, f"{k} {nums} {access}") for k in kinds)
    return out
