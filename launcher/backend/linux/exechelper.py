"""The last ``execve`` of a container process, made from a sealed memfd.

Why (CVE-2019-5736): the process that execs the container's program is
launcher's own Python, so during that ``execve`` its ``/proc/self/exe`` is the
host's Python binary. A program that is a ``#!/proc/self/exe`` script would have
the kernel run that host binary inside the container, where container root can
keep an fd to it and rewrite it once it is idle. runc's fix was to re-exec
itself from a sealed memfd; a Python interpreter is far too big to copy per
start, so instead the final step is handed to a tiny program (one ELF page,
built here) living in a sealed memfd: whatever the container execs then sees
*that* as ``/proc/self/exe``, and it cannot be written.

The helper does what ``os.execve`` would, in machine code: it marks the
channel's write end close-on-exec, calls ``execve(argv[0], argv + 1, envp)``,
and when that fails writes ``execerrno ["DDD", ARGV0]`` on the channel
(:mod:`launcher.backend.linux.channel` turns it into the usual ``error``
message: same text, same 126/127 as before) and exits 127. Assembly source:
``x86_64`` and ``aarch64`` below, assembled with GNU as and kept as bytes (no
toolchain is needed at run time). Other architectures exec directly.
"""

from __future__ import annotations

import os
import struct

# x86_64 (GNU as, intel syntax):
#   mov edi,[rip+errfd]; mov esi,2; mov edx,1; mov eax,72; syscall   fcntl F_SETFD CLOEXEC
#   mov rcx,[rsp]; cmp rcx,2; jb out                                  argc < 2: run as an
#   mov rdi,[rsp+8]; lea rsi,[rsp+16]                                 interpreter, so stop
#   lea rdx,[rsp+rcx*8+16]; mov eax,59; syscall                       execve
#   neg eax; lea rdi,[rip+msg]; mov ecx,10
#   3x { xor edx,edx; div ecx; add dl,'0'; mov [rdi+14/13/12],dl }   errno, 3 digits
#   mov rsi,rdi; mov edi,[rip+errfd]; mov edx,[rip+msglen]; mov eax,1; syscall   write
#   out: mov edi,127; mov eax,231; syscall                             exit_group
#   .balign 4; errfd: .long; msglen: .long; msg:
_X86_64 = bytes.fromhex(
    "8b3d82000000be02000000ba01000000b8480000000f05488b0c244883f9027258488b7c2408"
    "488d742410488d54cc10b83b0000000f05f7d8488d3d50000000b90a00000031d2f7f180c230"
    "88570e31d2f7f180c23088570d31d2f7f180c23088570c4889fe8b3d1c0000008b151a000000"
    "b8010000000f05bf7f000000b8e70000000f050f1f00")
# aarch64: the same with ldr w0,errfd / mov x8,#25 (fcntl) / svc #0; ldr x3,[sp];
#   cmp x3,#2; b.lo out; ldr x0,[sp,#8]; add x1,sp,#16; add x2,sp,x3,lsl #3;
#   add x2,x2,#16; mov x8,#221 (execve);
#   neg w4,w0; adr x5,msg; mov w9,#10; 3x { udiv w10,w4,w9; msub w11,w10,w9,w4;
#   add w11,w11,#48; strb w11,[x5,#14/13/12]; mov w4,w10 }; ldr w0,errfd; mov x1,x5;
#   ldr w2,msglen; mov x8,#64 (write); svc #0; out: mov x0,#127; mov x8,#94 (exit_group); svc #0
_AARCH64 = bytes.fromhex(
    "e0040018410080d2220080d2280380d2010000d4e30340f97f0800f1a3030054e00740f9e143"
    "0091e26f238b42400091a81b80d2010000d4e403004b45030010490180528a08c91a4b91091b"
    "6bc10011ab380039e4030a2a8a08c91a4b91091b6bc10011ab340039e4030a2a8a08c91a4b91"
    "091b6bc10011ab30003900010018e10305aae2000018080880d2010000d4e00f80d2c80b80d2"
    "010000d4")
_CODE = {"x86_64": (_X86_64, 62), "aarch64": (_AARCH64, 183)}
_BASE = 0x400000
_HEADERS = 64 + 56  # ELF header + one program header
MFD_CLOEXEC, MFD_ALLOW_SEALING, MFD_EXEC = 0x1, 0x2, 0x10
F_ADD_SEALS = 1033
SEALS = 0x1 | 0x2 | 0x4 | 0x8  # F_SEAL_SEAL | SHRINK | GROW | WRITE
MESSAGE_KIND = "execerrno"


def image(machine: str, errfd: int, argv0: str) -> bytes | None:
    """The helper ELF for ``machine`` reporting on ``errfd``; None if unknown."""
    from launcher import fastjson

    found = _CODE.get(machine)
    if found is None:
        return None
    code, e_machine = found
    msg = f'{MESSAGE_KIND} ["000", {fastjson.dumps(argv0)}]\n'.encode()
    body = code + struct.pack("<II", errfd, len(msg)) + msg
    size = _HEADERS + len(body)
    ehdr = struct.pack("<4sBBBBB7xHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, 2, e_machine,
                       1, _BASE + _HEADERS, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    # One RWX segment: the error digits are written into the message in place
    # (a private copy-on-write mapping; the sealed memfd never changes).
    phdr = struct.pack("<IIQQQQQQ", 1, 7, 0, _BASE, _BASE, size, size, 0x1000)
    return ehdr + phdr + body


def sealed_fd(machine: str, errfd: int, argv0: str) -> int:
    """A sealed, close-on-exec memfd holding the helper, or -1 where it cannot
    be made (unknown machine, no memfd_create): the caller then execs directly."""
    data = image(machine, errfd, argv0)
    if data is None:
        return -1
    try:
        try:
            fd = os.memfd_create("launcher-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC)
        except OSError:  # MFD_EXEC is new (6.3): older kernels refuse the flag
            fd = os.memfd_create("launcher-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING)
    except (OSError, AttributeError):
        return -1
    try:
        os.write(fd, data)
        import fcntl

        fcntl.fcntl(fd, F_ADD_SEALS, SEALS)
    except OSError:
        os.close(fd)
        return -1
    return fd


def execve(helper: int, errfd: int, path: str, args: list[str], env: dict[str, str]) -> None:
    """Exec ``path`` with ``args`` through ``helper`` (from :func:`sealed_fd`, made
    for ``errfd``);
    without one, or if the kernel will not run it, exec directly. Raises OSError
    only from the direct exec; the helper reports its own failure."""
    if helper >= 0 and errfd >= 0:
        os.set_inheritable(errfd, True)  # the helper closes it on its own execve
        try:
            os.execve(helper, [path, *args], env)
        except OSError:
            pass  # e.g. a seccomp profile without execveat, vm.memfd_noexec=2
        os.set_inheritable(errfd, False)
    os.execve(path, args, env)


def translate(payload: object) -> list[object]:
    """An ``execerrno`` payload → the ``error`` payload ``[message, code]``."""
    import errno as errnos

    digits, argv0 = (payload if isinstance(payload, list) and len(payload) == 2
                     else ("0", "?"))
    try:
        number = int(str(digits))
    except ValueError:
        number = 0
    text = os.strerror(number) if number else "exec failed"
    return [f'exec: "{argv0}": {text}', 127 if number == errnos.ENOENT else 126]
