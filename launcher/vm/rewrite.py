"""The words of a forwarded ``run``, made right for the machine.

What names something on the host is resolved here, on the host, before the
command goes to the guest (as Docker's client does it):

* ``-v`` host paths must be inside a share; a Windows host's become the
  machine's ``/mnt/<drive>/…`` paths (launcher.vm.hostpath);
* ``-p`` mappings become QEMU forwards plus the guest's own mapping;
* ``--env-file FILE`` is read here (CRLF, BOM and all) and ``-e KEY`` takes
  ``KEY`` from this environment: each becomes ``-e KEY=VALUE``, so neither the
  host's file nor its environment has to exist in the guest.
"""

from __future__ import annotations

import os

from launcher.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from launcher.cli.optspec import CommandSpec
    from launcher.vm.machine import Machine


def _host_abspath(path: str) -> str:
    """``path`` made absolute and resolved as the host does it (Windows: no
    symlink resolution, either separator)."""
    from launcher.vm import hostpath

    if hostpath.is_windows():
        import ntpath

        return ntpath.normpath(path if hostpath.is_host_path(path) and not path.startswith(".")
                               else ntpath.join(os.getcwd(), path))
    return os.path.realpath(path)


def is_shared(m: Machine, path: str) -> bool:
    from launcher.vm import hostpath

    real = _host_abspath(path)
    return any(hostpath.contains(s, real) for s in m.shares)


def check_shared(m: Machine, vol: str) -> None:
    from launcher.vm import hostpath

    src = hostpath.split_bind(vol)[0]
    if not hostpath.is_host_path(src):
        return  # a named volume: lives in the guest
    if not is_shared(m, src):
        shares = ", ".join(m.shares) or "none"
        raise UsageError(f"cannot bind {src}: it is not shared with machine {m.name} "
                         f"(shared: {shares}; share it with `launcher machine init -v DIR`)")


def _takes_value(spec: CommandSpec, word: str) -> bool:
    """Whether option word ``word`` (``--name``, ``-it``, ``-m``) eats the next word."""
    from launcher.cli.optspec import FLAG

    if word.startswith("--"):
        opt = spec.long.get(word)
        return opt is not None and opt.kind != FLAG
    return _value_at(spec, word) == len(word) - 1


def _value_at(spec: CommandSpec, word: str) -> int:
    """Index of the first value-taking letter of a short cluster, or -1."""
    from launcher.cli.optspec import FLAG

    for pos in range(1, len(word)):
        opt = spec.short.get(word[pos])
        if opt is not None and opt.kind != FLAG:
            return pos
    return -1


def _split_cluster(spec: CommandSpec, w: str, letter: str) -> tuple[str, str] | None:
    """``-itp8080:80`` → (``-it``, ``8080:80``) when the cluster's value is ``-letter``'s."""
    if w.startswith("--") or len(w) < 2:
        return None
    pos = _value_at(spec, w)
    if pos < 0 or w[pos] != letter:
        return None
    return (w[:pos] if pos > 1 else "", w[pos + 1:])


def _rewrite_values(spec: CommandSpec, words: list[str], short: str, long: str,
                    change: Callable[[str], list[str]]) -> list[str]:
    """``words`` (options, then the image and its command) with each value of
    option ``-short``/``--long`` replaced by the words ``change`` makes of it."""
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        value = None
        if w in ((f"-{short}", long) if short else (long,)) and i + 1 < len(words):
            value, i = words[i + 1], i + 2
        elif w.startswith(f"{long}="):
            value, i = w.partition("=")[2], i + 1
        elif short and (cut := _split_cluster(spec, w, short)) is not None \
                and (cut[1] or i + 1 < len(words)):
            if cut[0]:
                out.append(cut[0])
            value, i = (cut[1], i + 1) if cut[1] else (words[i + 1], i + 2)
        elif w == "--" or not w.startswith("-"):
            return out + words[i:]  # the image: the rest is the command
        else:
            take = 2 if "=" not in w and _takes_value(spec, w) else 1
            out += words[i:i + take]
            i += take
            continue
        out += change(value)
    return out


def publish(m: Machine, forwards: list[tuple[str, str, int, int]], spec: CommandSpec,
            words: list[str]) -> list[str]:
    """Replace each -p value by the guest's and record the host forward."""
    from launcher.network import ports
    from launcher.vm.ops import free_port

    def change(value: str) -> list[str]:
        try:
            mappings = ports.parse_publish(value)
        except ValueError as exc:
            raise UsageError(f'invalid argument "{value}" for "-p, --publish" flag: '
                             f"{exc}") from None
        out: list[str] = []
        for mapping in mappings:
            host_port = mapping.host_port or free_port()
            ip = mapping.host_ip or "0.0.0.0"
            forwards.append((mapping.proto, ip, host_port, host_port))
            out += ["-p", f"{host_port}:{mapping.container_port}/{mapping.proto}"]
        return out

    return _rewrite_values(spec, words, "p", "--publish", change)


def volumes(spec: CommandSpec, words: list[str]) -> list[str]:
    """Each ``-v`` whose source is a host path, with the machine's path for it
    (launcher.vm.hostpath: only Windows hosts' paths differ)."""
    from launcher.vm import hostpath

    def change(value: str) -> list[str]:
        src, rest = hostpath.split_bind(value)
        if not hostpath.is_host_path(src):
            return ["-v", value]
        return ["-v", hostpath.guest_path(_host_abspath(src)) + rest]

    return _rewrite_values(spec, words, "v", "--volume", change)


def environment(spec: CommandSpec, words: list[str]) -> list[str]:
    """``--env-file`` and bare ``-e KEY`` resolved here into ``-e KEY=VALUE``."""
    from launcher.runopts import env_file

    def one(entry: str) -> list[str]:
        if "=" in entry:
            return ["-e", entry]
        value = os.environ.get(entry)
        return [] if value is None else ["-e", f"{entry}={value}"]  # unset: left out

    def from_file(path: str) -> list[str]:
        try:
            entries = env_file(path)
        except ValueError as exc:
            raise UsageError(f"--env-file: {exc}") from None
        return [w for entry in entries for w in one(entry)]

    words = _rewrite_values(spec, words, "", "--env-file", from_file)
    return _rewrite_values(spec, words, "e", "--env", one)
