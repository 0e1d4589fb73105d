"""libseccomp's BPF, re-laid out shorter: the same decisions in fewer instructions.

Loading a filter costs the kernel time per instruction (checking, converting and
JIT-compiling it) and per path (``seccomp_cache_prepare`` runs the filter once
for every syscall number of every ABI to find the ones always allowed). A
program from libseccomp tests syscall numbers one by one: the default profile
is ~1,500 instructions and loads in ~0.3 ms here; rebuilt, ~500 and about half
the time. Most numbers only lead to a fixed action (allow, ENOSYS, EPERM), and
runs of consecutive numbers share one, so :func:`compact` rebuilds the program as

* the architecture test, then for each architecture a balanced tree of
  ``nr >= K`` tests over the runs of numbers, which jump straight to one shared
  exit per action (a ``RET``) rather than to a ``RET`` per run; and
* for the few numbers whose action depends on the arguments (``clone``,
  ``socket``, ``personality``), libseccomp's own code for that number, with
  every test of the (then known) architecture and number decided in advance.

Nothing is guessed: the runs come from following every path of the original
over all 2**32 syscall numbers at once (intervals), and the argument code is
the original's, only without its decided branches. Programs using anything else
than what libseccomp emits (loads of ``seccomp_data``, ``AND``, jumps on
constants, ``RET``) are left as they are. Then both programs are run on every
run's ends and middle and on argument values around every constant the
original compares with; any difference keeps the original.
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeAlias

    Insn: TypeAlias = tuple[int, int, int, int]  # code, jt, jf, k
    Outcome: TypeAlias = tuple[str, int]  # ("ret", action) or ("args", pc)
    Exit: TypeAlias = tuple[str, int] | tuple[str, int, int]  # ("ret", action), ("args", arch, nr)
    Node: TypeAlias = tuple[int, int | None]  # pc, what the accumulator is known to hold

LD_ABS_W = 0x20
JA, JEQ, JGT, JGE, JSET = 0x05, 0x15, 0x25, 0x35, 0x45
ALU_AND_K = 0x54
RET_K, RET_A = 0x06, 0x16
NR, ARCH = 0, 4  # offsets in struct seccomp_data; args start at 16
U32 = 0xFFFFFFFF
# AUDIT_ARCH_* of x86_64, i386, aarch64, arm, riscv64, ppc64le, s390x: probed too
AUDIT_ARCHES = (0xC000003E, 0x40000003, 0xC00000B7, 0x40000028, 0xC00000F3, 0xC0000015,
                0x80000016)  # fmt: skip
_INSN = struct.Struct("<HBBI")


class Unsupported(Exception):
    """The program uses something :func:`compact` does not rebuild."""


def decode(prog: bytes) -> list[Insn]:
    return [_INSN.unpack_from(prog, i) for i in range(0, len(prog), 8)]


def encode(insns: list[Insn]) -> bytes:
    return b"".join(_INSN.pack(*i) for i in insns)


def compact(prog: bytes) -> bytes:
    """``prog`` rebuilt shorter, or ``prog`` itself when it cannot be (or would
    not be shorter, or does not behave the same on the probes)."""
    try:
        orig = decode(prog)
        arches, other = _arch_values(orig)
        sections = {a: _intervals(orig, a) for a in arches}
        new = _assemble(orig, sections, other)
    except (Unsupported, RecursionError, struct.error, IndexError, ValueError, KeyError):
        return prog
    if len(new) >= len(orig) or not _same(orig, new, sections, other):
        return prog
    return encode(new)


# -- what the original decides ------------------------------------------------------


def _arch_values(prog: list[Insn]) -> tuple[list[int], int]:
    """The architectures the program tells apart, and one it does not know.
    Only ``JEQ`` may test the architecture, so every unknown one acts alike."""
    seen: set[int] = set()
    todo: list[tuple[int, int | None]] = [(0, None)]
    done: set[tuple[int, int | None]] = set()
    while todo:  # every path, with what the accumulator holds, up to argument loads
        pc, acc = todo.pop()
        if (pc, acc) in done:
            continue
        done.add((pc, acc))
        code, jt, jf, k = prog[pc]
        if code == LD_ABS_W and k in (NR, ARCH):
            todo.append((pc + 1, k))
        elif code == JA:
            todo.append((pc + 1 + k, acc))
        elif code in (JEQ, JGT, JGE) and acc in (NR, ARCH):
            if acc == ARCH:
                if code != JEQ:
                    raise Unsupported("architecture compared by order")
                seen.add(k)
            todo += [(pc + 1 + jt, acc), (pc + 1 + jf, acc)]
        elif code != RET_K and code != LD_ABS_W:
            raise Unsupported(f"instruction {code:#x} at {pc}")
    other = next(v for v in range(1, 1 << 16) if v not in seen)
    return sorted(seen), other


def _intervals(prog: list[Insn], arch: int) -> list[tuple[int, int, Outcome]]:
    """For ``arch``: the numbers 0..2**32-1 as runs ``(lo, hi, outcome)``, merged."""
    out: list[tuple[int, int, Outcome]] = []
    _walk(prog, 0, arch, 0, U32, None, out)
    out.sort()
    merged: list[tuple[int, int, Outcome]] = []
    for lo, hi, what in out:
        if merged and merged[-1][2] == what and merged[-1][1] + 1 == lo and what[0] == "ret":
            merged[-1] = (merged[-1][0], hi, what)
        else:
            merged.append((lo, hi, what))
    return merged


def _walk(prog: list[Insn], pc: int, arch: int, lo: int, hi: int, acc: int | None,
          out: list[tuple[int, int, Outcome]]) -> None:  # fmt: skip
    """Follow ``prog`` from ``pc`` for every nr in lo..hi; ``acc``: what the
    accumulator holds (NR, ARCH), None before the first load."""
    while True:
        code, jt, jf, k = prog[pc]
        if code == LD_ABS_W and k in (NR, ARCH):
            acc, pc = k, pc + 1
        elif code == LD_ABS_W:
            out.append((lo, hi, ("args", pc)))  # an argument decides: kept as code
            return
        elif code == RET_K:
            out.append((lo, hi, ("ret", k)))
            return
        elif code == JA:
            pc += 1 + k
        elif code in (JEQ, JGT, JGE) and acc == ARCH:
            pc += 1 + (jt if _test(code, arch, k) else jf)
        elif code in (JEQ, JGT, JGE) and acc == NR:
            # the numbers for which the test holds: one run [tlo, thi]
            tlo, thi = (k, k) if code == JEQ else (k + (code == JGT), U32)
            parts = [(max(lo, tlo), min(hi, thi), jt)]
            parts += [(lo, min(hi, tlo - 1), jf), (max(lo, thi + 1), hi, jf)]
            for plo, phi, off in parts:
                if plo <= phi:
                    _walk(prog, pc + 1 + off, arch, plo, phi, acc, out)
            return
        else:
            raise Unsupported(f"instruction {code:#x} at {pc}")


def _test(code: int, a: int, k: int) -> bool:
    if code == JEQ:
        return a == k
    if code == JGT:
        return a > k
    if code == JGE:
        return a >= k
    return bool(a & k)  # JSET


# -- the new program ------------------------------------------------------------------


def _assemble(prog: list[Insn], sections: dict[int, list[tuple[int, int, Outcome]]],
              other: int) -> list[Insn]:  # fmt: skip
    """Architecture test, one tree per architecture, then the argument code;
    jumps to a tree or to argument code are ``JA`` (any distance), fixed up last."""
    out: list[Insn] = [(LD_ABS_W, 0, 0, ARCH)]
    fixups: list[tuple[int, object]] = []  # (index of a JA, the label it jumps to)
    for arch in sections:
        out.append((JEQ, 0, 1, arch))
        fixups.append((len(out), ("tree", arch)))
        out.append((JA, 0, 0, 0))
    (other_what,) = {w for _lo, _hi, w in _intervals(prog, other)}
    if other_what[0] != "ret":
        raise Unsupported("an unknown architecture reaches argument tests")
    out.append((RET_K, 0, 0, other_what[1]))
    labels: dict[object, int] = {}
    for arch, runs in sections.items():
        labels[("tree", arch)] = len(out)
        out.append((LD_ABS_W, 0, 0, NR))
        _tree(runs, arch, out, fixups)
    for arch, runs in sections.items():
        for lo, hi, what in runs:
            if what[0] == "args":
                if lo != hi:
                    raise Unsupported("argument tests shared by several numbers")
                labels[("args", arch, lo)] = len(out)
                out.extend(_residual(prog, what[1], arch, lo))
    for at, label in fixups:
        out[at] = (JA, 0, 0, labels[label] - at - 1)
    return out


def _tree(runs: list[tuple[int, int, Outcome]], arch: int, out: list[Insn],
          fixups: list[tuple[int, object]]) -> None:  # fmt: skip
    """A balanced tree of ``JGE`` over ``runs`` (the accumulator holds nr): blocks
    of up to BLOCK runs (:func:`_block`), joined by tests above them."""
    if len(runs) <= BLOCK:
        _block(runs, arch, out, fixups)
        return
    mid = len(runs) // 2
    at = len(out)
    out.append((JGE, 0, 0, runs[mid][0]))  # jt set below, jf=0: the left half follows
    _tree(runs[:mid], arch, out, fixups)
    left = len(out) - at - 1
    if left <= 255:
        out[at] = (JGE, left, 0, runs[mid][0])
    else:  # too far for jt: true goes through a JA over the left half
        out[at] = (JGE, 0, 1, runs[mid][0])
        out.insert(at + 1, (JA, 0, 0, left))
        for i, (pos, label) in enumerate(fixups):
            if pos > at:
                fixups[i] = (pos + 1, label)
    _tree(runs[mid:], arch, out, fixups)


BLOCK = 100  # runs per block: its tests and exits stay within a jump's 255


def _block(runs: list[tuple[int, int, Outcome]], arch: int, out: list[Insn],
           fixups: list[tuple[int, object]]) -> None:  # fmt: skip
    """A balanced tree whose leaves are not instructions of their own: its tests
    jump straight to one shared exit per outcome, placed right after it (a
    ``RET``, or a ``JA`` to a number's argument code)."""
    nodes: list[tuple[int, int | Exit, int | Exit]] = []  # (K, if nr >= K, if not)

    def build(part: list[tuple[int, int, Outcome]]) -> int | Exit:
        if len(part) == 1:
            lo, _hi, what = part[0]
            return what if what[0] == "ret" else ("args", arch, lo)
        mid = len(part) // 2
        at = len(nodes)
        nodes.append((part[mid][0], at, at))  # targets set below
        false = build(part[:mid])  # laid out right after the test when it is one
        nodes[at] = (part[mid][0], build(part[mid:]), false)
        return at

    root = build(runs)
    exits = [root] if isinstance(root, tuple) else list(dict.fromkeys(
        t for _k, *targets in nodes for t in targets if isinstance(t, tuple)))
    base = len(out)
    where = {e: len(nodes) + i for i, e in enumerate(exits)}  # index within the block
    for i, (k, true, false) in enumerate(nodes):
        jt, jf = (t if isinstance(t, int) else where[t] for t in (true, false))
        out.append((JGE, jt - i - 1, jf - i - 1, k))
    for e in exits:
        if e[0] == "ret":
            out.append((RET_K, 0, 0, e[1]))
        else:
            fixups.append((len(out), e))
            out.append((JA, 0, 0, 0))
    if len(out) - base > 256:
        raise Unsupported("a block too long for its jumps")


def _residual(prog: list[Insn], start: int, arch: int, nr: int) -> list[Insn]:
    """The original's code from ``start`` with ``arch`` and ``nr`` known: tests of
    them decided, their loads dropped; what is left reads the arguments."""
    nodes: dict[Node, Insn | None] = {}  # None: decided or dropped
    succ: dict[Node, list[Node]] = {}
    todo: list[Node] = [(start, None)]
    while todo:
        node = todo.pop()
        if node in nodes:
            continue
        pc, acc = node
        code, jt, jf, k = prog[pc]
        keep: Insn | None = prog[pc]
        nxt: list[Node] = []
        if code == LD_ABS_W:
            known = {NR: nr, ARCH: arch}.get(k)
            keep = None if known is not None else keep
            nxt.append((pc + 1, known))
        elif code == ALU_AND_K:
            keep = None if acc is not None else keep
            nxt.append((pc + 1, None if acc is None else acc & k))
        elif code == JA:
            keep = None
            nxt.append((pc + 1 + k, acc))
        elif code in (JEQ, JGT, JGE, JSET) and acc is not None:
            keep = None
            nxt.append((pc + 1 + (jt if _test(code, acc, k) else jf), acc))
        elif code in (JEQ, JGT, JGE, JSET):
            nxt += [(pc + 1 + jt, None), (pc + 1 + jf, None)]
        elif code == RET_A and acc is not None:
            keep = (RET_K, 0, 0, acc)
        elif code != RET_K:
            raise Unsupported(f"instruction {code:#x} at {pc} in argument tests")
        # a load or a return does not care what the accumulator held: one node each
        nxt = [(p, None if prog[p][0] in (LD_ABS_W, RET_K) else a) for p, a in nxt]
        nodes[node], succ[node] = keep, nxt
        todo.extend(nxt)
    return _lay_out(nodes, succ, (start, None))


def _lay_out(nodes: dict[Node, Insn | None], succ: dict[Node, list[Node]],
             first: Node) -> list[Insn]:  # fmt: skip
    """The kept nodes in the original's order (so jumps stay forward), each jump
    aimed past the decided and dropped nodes to the next kept one."""

    def target(node: Node) -> Node:
        while nodes[node] is None:
            (node,) = succ[node]
        return node

    kept = sorted(((n, insn) for n, insn in nodes.items() if insn is not None),
                  key=lambda e: (e[0][0], -1 if e[0][1] is None else e[0][1]))  # fmt: skip
    index = {n: i for i, (n, _insn) in enumerate(kept)}
    if kept[0][0] != target(first):
        raise Unsupported("argument code does not start at its entry")
    out: list[Insn] = []
    for i, (n, (code, jt, jf, k)) in enumerate(kept):
        if code in (JEQ, JGT, JGE, JSET):
            jt, jf = (index[target(s)] - i - 1 for s in succ[n])
            if not (0 <= jt <= 255 and 0 <= jf <= 255):
                raise Unsupported("argument code jumps too far")
        elif code in (LD_ABS_W, ALU_AND_K):
            (s,) = succ[n]
            if index[target(s)] != i + 1:
                raise Unsupported("argument code falls through to a gap")
        out.append((code, jt, jf, k))
    return out


# -- checking the result ----------------------------------------------------------------


def run(prog: list[Insn], arch: int, nr: int, args: tuple[int, ...] = (0,) * 6) -> int:
    """What ``prog`` returns for a syscall (a small classic-BPF interpreter)."""
    data = struct.pack("<IIQ6Q", nr, arch, 0, *args)
    acc = pc = 0
    while True:
        code, jt, jf, k = prog[pc]
        pc += 1
        if code == LD_ABS_W:
            acc = struct.unpack_from("<I", data, k)[0]
        elif code == ALU_AND_K:
            acc &= k
        elif code == JA:
            pc += k
        elif code in (JEQ, JGT, JGE, JSET):
            pc += jt if _test(code, acc, k) else jf
        elif code == RET_K:
            return k
        elif code == RET_A:
            return acc
        else:
            raise Unsupported(f"instruction {code:#x}")


def _same(orig: list[Insn], new: list[Insn],
          sections: dict[int, list[tuple[int, int, Outcome]]], other: int) -> bool:  # fmt: skip
    """Both programs agree on every run's ends and middle, for every architecture
    and one unknown, and, where arguments decide, on values around the constants
    the argument code compares with."""
    for arch in [*sections, other, *(a for a in AUDIT_ARCHES if a not in sections)]:
        for lo, hi, what in sections.get(arch, [(0, U32, ("ret", 0))]):
            for nr in {lo, hi, (lo + hi) // 2}:
                if run(orig, arch, nr) != run(new, arch, nr):
                    return False
            if what[0] == "args" and not _same_args(orig, new, arch, lo, what[1]):
                return False
    return True


def _same_args(orig: list[Insn], new: list[Insn], arch: int, nr: int, start: int) -> bool:
    code = _residual(orig, start, arch, nr)
    consts = {k for c, _t, _f, k in code if c in (JEQ, JGT, JGE, JSET, ALU_AND_K)}
    lows = sorted({0, 1, U32, 1 << 31} | {(c + d) & U32 for c in consts for d in (-1, 0, 1)})
    highs = sorted({0, 1, U32} | consts)
    indexes = sorted({(k - 16) // 8 for c, _t, _f, k in code if c == LD_ABS_W and k >= 16})
    for index in indexes:
        for high in highs:
            for low in lows:
                args = tuple((high << 32 | low) if i == index else 0 for i in range(6))
                if run(orig, arch, nr, args) != run(new, arch, nr, args):
                    return False
    return True
