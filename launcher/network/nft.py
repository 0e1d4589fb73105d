"""Running the ``nft`` binary: a script on stdin, stdout back, a one-line error.

posix_spawn rather than subprocess, whose import costs more than running nft
on the container start path.  stdin and stderr are memfds, so only stdout is a
pipe and nothing can deadlock however much either side writes.
"""

from __future__ import annotations

import os

from launcher.errors import RuntimeFailure, UnsupportedError

NFT_MISSING = "networking needs nftables (apt install nftables)"
# sbin directories are often missing from PATH under sudo or cron.
_SEARCH_PATH = ("/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin")
_NFT_TIMEOUT_MS = 30_000


class NftError(RuntimeFailure):
    """nft exited non-zero; ``stderr`` holds its whole message."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


def _which(name: str) -> str:
    if "/" in name:
        return name
    dirs = os.environ.get("PATH", "").split(os.pathsep) + list(_SEARCH_PATH)
    for folder in dirs:
        path = os.path.join(folder or ".", name)
        if os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(name)


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _spawn(argv: list[str], stdin: bytes) -> tuple[int, bytes, bytes]:
    """Run argv with ``stdin``; (exit code, stdout, stderr)."""
    import select

    path = _which(argv[0])
    src = os.memfd_create("nft-script", os.MFD_CLOEXEC)
    err = os.memfd_create("nft-stderr", os.MFD_CLOEXEC)
    rd, wr = os.pipe()
    try:
        view = memoryview(stdin)
        while view:
            view = view[os.write(src, view):]
        os.lseek(src, 0, os.SEEK_SET)
        try:
            pid = os.posix_spawn(path, argv, dict(os.environ), file_actions=[
                (os.POSIX_SPAWN_DUP2, src, 0), (os.POSIX_SPAWN_DUP2, wr, 1),
                (os.POSIX_SPAWN_DUP2, err, 2)])
        finally:
            os.close(wr)
        out, poller = [], select.poll()
        poller.register(rd, select.POLLIN)
        while True:
            if not poller.poll(_NFT_TIMEOUT_MS):
                os.kill(pid, 9)  # SIGKILL; the signal module costs an import
                os.waitpid(pid, 0)
                raise RuntimeFailure(f"{argv[0]} did not finish in {_NFT_TIMEOUT_MS // 1000} s")
            chunk = os.read(rd, 65536)
            if not chunk:
                break
            out.append(chunk)
        status = os.waitpid(pid, 0)[1]
        return os.waitstatus_to_exitcode(status), b"".join(out), _read_all(err)
    finally:
        for fd in (src, err, rd):
            os.close(fd)


class NftBinary:
    """The production runner: ``nft ARGS`` with the script on stdin.

    ``command`` replaces ``["nft"]`` (tests run ``ip netns exec NS nft``)."""

    __slots__ = ("command",)

    def __init__(self, command: list[str] | None = None) -> None:
        self.command = command or ["nft"]

    def __call__(self, args: list[str], stdin: str = "") -> str:
        argv = [*self.command, *args]
        try:
            code, out, err = _spawn(argv, stdin.encode())
        except FileNotFoundError as exc:
            raise UnsupportedError(NFT_MISSING) from exc
        except OSError as exc:
            raise RuntimeFailure(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
        if code != 0:
            text = err.decode(errors="replace")
            lines = [line for line in text.splitlines() if line.strip()]
            first = lines[0] if lines else f"exit status {code}"
            if first.startswith("/dev/stdin:") and len(lines) > 1:
                first += f" [{lines[1].strip()}]"  # the offending command
            raise NftError(f"nft: {first}", text)
        return out.decode()
