"""Kubernetes resource quantities (``256Mi``, ``0.5``, ``500m``, ``1e3``), both ways.

A quantity is a decimal number and a suffix: binary ``Ki Mi Gi Ti Pi Ei``,
decimal ``n u m k M G T P E`` (or none), or an exponent ``e3`` / ``E-2``.
Memory limits become bytes (rounded up, as the kubelet does), CPU limits
fractional CPUs (``500m`` is 0.5, launcher's ``--cpus``).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from decimal import Decimal

_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}  # powers of 2
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15,
            "E": 18}  # powers of 10
_NUMBER = frozenset("0123456789.")
_MAX_TEXT = 64
_EXPECTED = "expected a quantity like 128Mi, 1G, 0.5 or 500m"


def parse(value: object) -> Decimal:
    """The quantity's value; ValueError (the reason) for anything else."""
    from decimal import Decimal

    if type(value) is int:
        return Decimal(value)
    if type(value) is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(_EXPECTED)
        return Decimal(repr(value))
    if type(value) is not str or len(value) > _MAX_TEXT:
        raise ValueError(_EXPECTED)
    text = value.removeprefix("+")
    split = 0
    while split < len(text) and text[split] in _NUMBER:
        split += 1
    number, suffix = text[:split], text[split:]
    if not number.strip(".") or number.count(".") > 1:
        raise ValueError(_EXPECTED)
    base = Decimal(number)
    if suffix in _BINARY:
        return base * (1 << _BINARY[suffix])
    if suffix in _DECIMAL:
        return base.scaleb(_DECIMAL[suffix])
    exponent = suffix[1:].removeprefix("+").removeprefix("-") if suffix[:1] in ("e", "E") else ""
    if exponent.isascii() and exponent.isdigit() and len(exponent) <= 3:
        return base.scaleb(int(suffix[1:]))
    raise ValueError(f"unknown quantity suffix {suffix!r}" if number else _EXPECTED)


def memory_bytes(value: object) -> int:
    """A memory quantity as whole bytes (> 0)."""
    amount = parse(value)
    whole = int(amount.to_integral_value(rounding="ROUND_CEILING"))
    if whole <= 0:
        raise ValueError("must be greater than 0")
    if whole >= 2**63:
        raise ValueError("too large")
    return whole


def cpus(value: object) -> float:
    """A CPU quantity as fractional CPUs; launcher's minimum is 0.01 (``10m``)."""
    amount = parse(value)
    if amount <= 0:
        raise ValueError("must be greater than 0")
    if amount < parse("10m"):
        raise ValueError("below launcher's minimum of 10m (0.01 CPU)")
    if amount > 1 << 20:
        raise ValueError("too large")
    return float(amount)


def format_memory(size: int) -> str:
    """Bytes as the largest exact binary unit: ``268435456`` → ``256Mi``."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = 1 << _BINARY[suffix]
        if size >= unit and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def format_cpus(cores: float) -> str:
    """Fractional CPUs as millicores: ``0.5`` → ``500m``, ``2.0`` → ``2``."""
    milli = max(1, round(cores * 1000))
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"
