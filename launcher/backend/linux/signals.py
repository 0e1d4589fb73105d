"""Signal names and numbers on Linux, without importing :mod:`signal` (~5 ms)."""

from __future__ import annotations

from launcher.errors import UsageError

NUMBERS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7,
    "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14,
    "TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21,
    "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28,
    "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}
SIGRTMIN = 34
SIGRTMAX = 64


def parse(sig: str) -> int:
    """``TERM``, ``SIGTERM``, ``sigterm``, ``15``, ``RTMIN+3``, ``0`` → number."""
    s = sig.strip().upper()
    if s.isdigit():
        n = int(s)
        if 0 <= n <= SIGRTMAX:  # 0: no signal, only the checks (kill(2))
            return n
        raise UsageError(f"invalid signal: {sig}")
    s = s.removeprefix("SIG")
    if s in NUMBERS:
        return NUMBERS[s]
    for base, num in (("RTMIN", SIGRTMIN), ("RTMAX", SIGRTMAX)):
        if s == base:
            return num
        if s.startswith(base) and s[len(base)] in "+-" and s[len(base) + 1:].isdigit():
            off = int(s[len(base) + 1:])
            n = num + off if s[len(base)] == "+" else num - off
            if SIGRTMIN <= n <= SIGRTMAX:
                return n
    raise UsageError(f"invalid signal: {sig}")
