import os
import struct
import subprocess
import sys

import pytest

from launcher.backend.linux import exechelper
from launcher.backend.linux.channel import Channel


def test_image_is_one_rwx_segment_with_the_patched_fd_and_message() -> None:
    data = exechelper.image("x86_64", 7, 'a"b')
    assert data is not None
    assert data[:4] == b"\x7fELF" and struct.unpack_from("<H", data, 18)[0] == 62
    entry, phoff = struct.unpack_from("<QQ", data, 24)
    assert (entry, phoff) == (0x400000 + 120, 64)
    p_type, p_flags = struct.unpack_from("<II", data, 64)
    assert (p_type, p_flags) == (1, 7)
    code_len = len(exechelper._X86_64)
    errfd, msglen = struct.unpack_from("<II", data, 120 + code_len)
    msg = data[120 + code_len + 8:]
    assert errfd == 7 and msglen == len(msg)
    assert msg == b'execerrno ["000", "a\\"b"]\n'
    assert msg[12:15] == b"000"  # where the helper writes the errno's digits
    arm = exechelper.image("aarch64", 7, "x")
    assert arm is not None and struct.unpack_from("<H", arm, 18)[0] == 183
    assert exechelper.image("riscv64", 7, "x") is None


def test_translate_keeps_the_old_messages_and_codes() -> None:
    assert exechelper.translate(["002", "/x"]) == ['exec: "/x": No such file or directory', 127]
    assert exechelper.translate(["013", "/x"]) == ['exec: "/x": Permission denied', 126]
    assert exechelper.translate("junk") == ['exec: "?": exec failed', 126]


def test_channel_turns_the_helpers_report_into_an_error() -> None:
    a, b = Channel.pair()
    os.write(b.wfd, b'execerrno ["008", "/bin/x"]\n')
    assert a.recv() == ("error", ['exec: "/bin/x": Exec format error', 126])
    a.close()
    b.close()


_SCRIPT = r"""
import os, sys
from launcher.backend.linux import exechelper as e
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    fd = e.sealed_fd(os.uname().machine, w, sys.argv[1])
    e.execve(fd, w, sys.argv[1], sys.argv[1:], {"LAUNCHER_T": "1"})
os.close(w)
data = os.read(r, 4096)
_, st = os.waitpid(pid, 0)
print(repr(data), os.waitstatus_to_exitcode(st))
"""


@pytest.mark.skipif(os.uname().machine not in ("x86_64", "aarch64"), reason="no helper here")
@pytest.mark.parametrize(("target", "want"), [
    ("/bin/true", "b'' 0"),
    ("/nonexistent", """b'execerrno ["002", "/nonexistent"]\\n' 127"""),
    ("/proc/self/status", """b'execerrno ["013", "/proc/self/status"]\\n' 127"""),
])
def test_the_helper_execs_or_reports(target: str, want: str) -> None:
    # A fresh interpreter: this forks, and the test process may have threads.
    out = subprocess.run([sys.executable, "-c", _SCRIPT, target], capture_output=True,
                         text=True, timeout=30, check=False)
    assert out.stdout.strip() == want, out.stderr


@pytest.mark.skipif(os.uname().machine not in ("x86_64", "aarch64"), reason="no helper here")
def test_a_proc_self_exe_script_stops_at_the_helper(tmp_path: object) -> None:
    import pathlib

    script = pathlib.Path(str(tmp_path)) / "s.sh"
    script.write_text("#!/proc/self/exe\n")
    script.chmod(0o755)
    out = subprocess.run([sys.executable, "-c", _SCRIPT, str(script)], capture_output=True,
                         text=True, timeout=30, check=False)
    assert out.stdout.strip().endswith(" 127"), out.stderr  # no loop, no host binary


@pytest.mark.skipif(os.uname().machine not in ("x86_64", "aarch64"), reason="no helper here")
def test_the_helper_cannot_be_written() -> None:
    fd = exechelper.sealed_fd(os.uname().machine, 9, "x")
    assert fd >= 0
    try:
        w = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY)  # opening is allowed ...
        try:
            with pytest.raises(PermissionError):  # ... writing never is
                os.write(w, b"x")
        finally:
            os.close(w)
    finally:
        os.close(fd)
