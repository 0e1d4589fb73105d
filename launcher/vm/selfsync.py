"""A machine runs the host's launcher: its code follows the host's into
existing machines (an upgraded or edited launcher on the host, a machine made
by an older one).

The guest's launcher package carries a digest of its files in
:data:`GUEST_DIGEST` (written by provision/ and by each update). When the host
agent connects it reads that file with a fixed command and compares it with
the digest of the host's own package; on a difference it sends the host's
package as a tar (the request op ``update``), and the guest unpacks it beside
the installed one, checks the digest, and swaps the two directories in one
``renameat2(RENAME_EXCHANGE)``, so no guest process ever finds the package
missing. Only launcher's own code travels: a new dependency needs a new image.
"""

from __future__ import annotations

import os

from launcher.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    import tarfile
    from typing import BinaryIO

    import paramiko

GUEST_DIGEST = "/usr/lib/launcher-guest/launcher.digest"
READ_DIGEST = f"cat {GUEST_DIGEST}"  # a fixed command line: nothing from any input
RENAME_EXCHANGE = 2
MAX_PACKAGE = 64 << 20


def package_dir() -> str:
    import launcher

    return os.path.dirname(os.path.abspath(launcher.__file__))


def files(pkg: str) -> list[str]:
    """The package's files (relative, sorted), without bytecode caches."""
    out: list[str] = []
    for top, dirs, names in os.walk(pkg):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        rel = os.path.relpath(top, pkg)
        out += [os.path.normpath(os.path.join(rel, n)) for n in names
                if not n.endswith((".pyc", ".pyo")) and not n.startswith(".")]
    return sorted(out)


def digest(pkg: str) -> str:
    import hashlib

    h = hashlib.sha256()
    for rel in files(pkg):
        with open(os.path.join(pkg, rel), "rb") as f:
            h.update(rel.encode() + b"\0" + hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def pack(pkg: str) -> bytes:
    """The package as a gzip'd tar of ``launcher/<file>`` entries (fixed metadata)."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for rel in files(pkg):
            with open(os.path.join(pkg, rel), "rb") as f:
                data = f.read()
            info = tarfile.TarInfo(f"launcher/{rel}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def ensure(transport: paramiko.Transport, command: str) -> bool:
    """Bring the guest's launcher to the host's (agent side); True if it was updated."""
    from launcher import fastjson

    want = digest(package_dir())
    code, out = _exec(transport, READ_DIGEST, b"")
    if code == 0 and out.strip().decode(errors="replace") == want:
        return False
    request = fastjson.dumps({"op": "update", "digest": want}).encode() + b"\n"
    code, out = _exec(transport, command, request + pack(package_dir()))
    if code != 0:
        raise RuntimeFailure("cannot update launcher in the machine: "
                             f"{out.decode(errors='replace').strip()}")
    return True


def run_fixed(transport: paramiko.Transport, command: str) -> tuple[int, bytes]:
    """A fixed guest command (nothing from any input in it): exit code, output."""
    return _exec(transport, command, b"")


def _exec(transport: paramiko.Transport, command: str, stdin: bytes) -> tuple[int, bytes]:
    chan = transport.open_session()
    try:
        chan.set_combine_stderr(True)
        chan.exec_command(command)
        if stdin:
            chan.sendall(stdin)
        chan.shutdown_write()
        out = bytearray()
        while chunk := chan.recv(65536):
            out += chunk
        return chan.recv_exit_status(), bytes(out)
    finally:
        chan.close()


def install(stream: BinaryIO, want: str, pkg: str | None = None,
            digest_file: str = GUEST_DIGEST) -> None:
    """Guest side: unpack the host's package from ``stream`` and swap it in."""
    import shutil
    import tempfile

    pkg = pkg or package_dir()
    new = tempfile.mkdtemp(prefix=".launcher-new-", dir=os.path.dirname(pkg))
    try:
        _unpack(stream, new)
        got = digest(os.path.join(new, "launcher"))
        if got != want:
            raise RuntimeFailure(f"the package sent has digest {got}, not {want}")
        os.chmod(os.path.join(new, "launcher"), 0o755)
        _exchange(os.path.join(new, "launcher"), pkg)  # pkg is the new one now
        tmp = f"{digest_file}.{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(want + "\n")
        os.replace(tmp, digest_file)
    finally:
        shutil.rmtree(new, ignore_errors=True)  # holds the old package after the swap


def _unpack(stream: BinaryIO, into: str) -> None:
    """The package below ``into`` (launcher's fd-relative extractor), regular
    files and directories under ``launcher/`` only, root's, within a size bound."""
    from launcher.backend.linux.copyextract import extract_tar

    size = [0]

    def check(m: tarfile.TarInfo) -> None:
        parts = m.name.split("/")
        if parts[0] != "launcher" or ".." in parts or not (m.isfile() or m.isdir()):
            raise RuntimeFailure(f"unexpected entry {m.name!r} in the package sent")
        size[0] += m.size
        if size[0] > MAX_PACKAGE:
            raise RuntimeFailure("the package sent is too large")
        m.mode = 0o755 if m.isdir() else 0o644

    extract_tar(stream, into, (0, 0), "the package sent", check)


def _exchange(a: str, b: str) -> None:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd = -100
    if libc.renameat2(at_fdcwd, a.encode(), at_fdcwd, b.encode(), RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise RuntimeFailure(f"cannot swap {a} and {b}: {os.strerror(err)}")
