"""Ways around a seccomp filter that checks only the 64-bit syscall table.

test_seccomp.py probes the default profile with ordinary x86_64 calls. An
attacker tries the other doors of the same kernel:

* the i386 ABI from a 64-bit process (``int 0x80``, its own syscall numbers:
  keyctl 288, unshare 310, mount 21), where a filter must check the audit arch;
* the x32 ABI (syscall numbers with bit 30 set);
* ``socket(AF_VSOCK)`` with garbage in the upper 32 bits of the family (the
  kernel reads an int; a filter comparing 64 bits would let it through);
* ``clone`` with CLONE_NEWUSER (namespace flags refused), ``clone3`` (ENOSYS:
  its flags live in memory a filter cannot read, so libc falls back to clone).

The probe runs as the container's process (``run``) and in ``exec``; each
answer is the exact errno. x86_64 only.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.attacks.kit import (
    ENOSYS,
    EPERM,
    HOST_PY,
    HOST_PYTHON,
    Detached,
    Sentinel,
    needs_host_python,
)
from tests.integration.cli.conftest import Cli

pytestmark = needs_host_python

PROBE = r"""
import ctypes, json, mmap, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def raw(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return r, (ctypes.get_errno() if r < 0 else 0)
def sc(nr, *args):
    return raw(nr, *args)[1]
def clone(flags):
    r, errno = raw(56, flags | 17, 0, 0, 0, 0)  # 17: SIGCHLD, no new stack: like fork
    if r == 0:
        os._exit(0)
    if r > 0:
        os.waitpid(r, 0)
    return errno
def int80(nr, a=0):
    # push rbx; mov eax, nr; mov ebx, a; xor ecx, ecx; xor edx, edx; int 0x80; pop rbx; ret
    code = (b"\x53\xb8" + nr.to_bytes(4, "little") + b"\xbb" + a.to_bytes(4, "little")
            + b"\x31\xc9\x31\xd2\xcd\x80\x5b\xc3")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # in a child: without IA32 emulation int 0x80 is a SIGSEGV
        m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        m.write(code)
        fn = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))
        os.write(w, str(fn()).encode())
        os._exit(0)
    os.close(w)
    data = os.read(r, 64)
    os.waitpid(pid, 0)
    if not data:
        return "no-ia32"
    v = int(data)
    return "ok" if v >= 0 else -v
out = {
    "vsock_high_bits": sc(41, (1 << 32) | 40, 1, 0),
    "clone_newuser": clone(0x10000000),
    "clone3": sc(435, 0, 0),
    "x32_keyctl": sc(0x40000000 | 250, 0, 0, 0, 0, 0),
    "x32_getpid": sc(0x40000000 | 39),
    "i386_getpid": int80(20),
    "i386_keyctl": int80(288),
    "i386_unshare": int80(310, 0x10000000),
    "i386_mount": int80(21),
}
print(json.dumps(out))
"""

WANT = {"vsock_high_bits": EPERM, "clone_newuser": EPERM, "clone3": ENOSYS,
        "x32_keyctl": EPERM, "x32_getpid": ENOSYS, "i386_getpid": "ok", "i386_keyctl": EPERM,
        "i386_unshare": EPERM, "i386_mount": EPERM}


def _want(got: dict[str, object]) -> dict[str, object]:
    if got["i386_getpid"] == "no-ia32":  # a kernel without IA32 emulation: that door is shut
        return {**WANT, **{k: "no-ia32" for k in WANT if k.startswith("i386_")}}
    return WANT


@pytest.mark.parametrize("verb", ["run", "exec"])
def test_other_abis_and_wide_arguments_are_filtered(cli: Cli, sentinel: Sentinel,
                                                    verb: str) -> None:
    if verb == "run":
        res = cli.run("run", "--rm", *HOST_PY, "busybox", HOST_PYTHON, "-c", PROBE)
    else:
        with Detached(cli, "atk-abi", *HOST_PY, "busybox", "sleep", "60") as c:
            res = c.exec(HOST_PYTHON, "-c", PROBE)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got == _want(got)
    sentinel.check()
