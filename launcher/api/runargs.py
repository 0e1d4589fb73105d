"""The Python API's ``containers.run`` keywords as ``launcher run`` flags.

The flags are the one definition of what a run may ask for: the CLI parses
them into a ``RunRequest`` (launcher.cli.run) on every backend, so a keyword
here means exactly what its flag means there. The shapes accepted are
docker-py's, so code written for it ports by changing the import.
"""

from __future__ import annotations

from launcher.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, TypeAlias

    # container port (5432, "5432/udp") -> None (a free host port), a host port,
    # (host ip, host port), (host ip,) or a list of those.
    PortTarget: TypeAlias = int | str | tuple[str, int | None] | tuple[str] | list[Any] | None
    Ports: TypeAlias = Mapping[int | str, PortTarget]
    # host path or volume name -> container path, or {"bind": path, "mode": "ro"};
    # or Docker's "SRC:DST[:MODE]" strings.
    Volumes: TypeAlias = Mapping[str, str | Mapping[str, str]] | Sequence[str]
    Env: TypeAlias = Mapping[str, str | int | float | None] | Sequence[str]


def port_flags(ports: Ports | None) -> list[str]:
    """``{5432: None}`` → ``-p 5432``, ``{"53/udp": ("127.0.0.1", 5353)}`` →
    ``-p 127.0.0.1:5353:53/udp``."""
    flags: list[str] = []
    for container, target in (ports or {}).items():
        cport = str(container)
        number, _, proto = cport.partition("/")
        if not number.isdigit() or proto not in ("", "tcp", "udp", "sctp"):
            raise UsageError(f"invalid container port {container!r}: 80 or '80/tcp'")
        for one in target if isinstance(target, list) else [target]:
            flags += ["-p", _publish(cport, one)]
    return flags


def _publish(cport: str, target: object) -> str:
    if target is None:
        return cport
    if isinstance(target, bool):
        raise UsageError(f"invalid host port for {cport}: {target!r}")
    if isinstance(target, (int, str)):
        return f"{target}:{cport}"
    if isinstance(target, tuple) and len(target) in (1, 2):
        ip = str(target[0])
        host = "" if len(target) == 1 or target[1] is None else str(target[1])
        ip = f"[{ip}]" if ":" in ip else ip
        return f"{ip}:{host}:{cport}"
    raise UsageError(f"invalid host port for {cport}: {target!r} (None, a port, "
                     "(ip, port) or (ip,))")


def volume_flags(volumes: Volumes | None) -> list[str]:
    if volumes is None:
        return []
    if isinstance(volumes, str):
        raise UsageError("volumes: a mapping or a list of 'SRC:DST[:MODE]' strings")
    flags: list[str] = []
    if not hasattr(volumes, "items"):
        for entry in volumes:
            flags += ["-v", str(entry)]
        return flags
    mapping: Mapping[str, str | Mapping[str, str]] = volumes  # type: ignore[assignment]
    for source, target in mapping.items():
        if isinstance(target, str):
            flags += ["-v", f"{source}:{target}"]
        elif hasattr(target, "get") and isinstance(target.get("bind"), str):
            mode = target.get("mode")
            flags += ["-v", f"{source}:{target['bind']}" + (f":{mode}" if mode else "")]
        else:
            raise UsageError(f"volume {source!r}: a container path or "
                             "{'bind': PATH, 'mode': 'ro'|'rw'}")
    return flags


def env_flags(env: Env | None) -> list[str]:
    if env is None:
        return []
    if isinstance(env, str):
        raise UsageError("env: a mapping or a list of 'KEY=VALUE' strings")
    if hasattr(env, "items"):
        items: Mapping[str, object] = env  # type: ignore[assignment]
        entries = [k if v is None else f"{k}={v}" for k, v in items.items()]
    else:
        entries = [str(e) for e in env]
    flags: list[str] = []
    for entry in entries:
        if not entry or entry.startswith("="):
            raise UsageError(f"invalid environment entry {entry!r}: KEY=VALUE")
        flags += ["-e", entry]
    return flags


def run_argv(image: str, command: str | Sequence[str] | None, opts: Mapping[str, Any]) -> list[str]:
    """The arguments after ``launcher run`` (``-d`` always: the API waits itself)."""
    argv = ["-d"]
    for key, flag in _VALUE_FLAGS:
        value = opts.get(key)
        if value is not None:
            argv += [flag, _text(key, value)]
    for key, flag in _BOOL_FLAGS:
        if opts.get(key):
            argv.append(flag)
    for key, value in (opts.get("labels") or {}).items():
        argv += ["-l", f"{key}={value}"]
    for item in opts.get("extra_hosts") or []:
        argv += ["--add-host", item]
    argv += port_flags(opts.get("ports"))
    argv += volume_flags(opts.get("volumes"))
    argv += env_flags(opts.get("environment"))
    argv += [str(a) for a in opts.get("extra_args") or []]
    argv += ["--", image]
    if isinstance(command, str):
        import shlex  # docker-py splits a string command the shell's way

        argv += shlex.split(command)
    elif command is not None:
        argv += [str(c) for c in command]
    return argv


def _text(key: str, value: object) -> str:
    if isinstance(value, bool):
        raise UsageError(f"{key}: {value!r} is not a valid value")
    if key == "entrypoint" and isinstance(value, (list, tuple)):
        raise UsageError("entrypoint: one executable (give its arguments as the command)")
    return str(value)


_VALUE_FLAGS = (("name", "--name"), ("entrypoint", "--entrypoint"), ("working_dir", "--workdir"),
                ("user", "--user"), ("hostname", "--hostname"), ("network", "--network"),
                ("mem_limit", "--memory"), ("cpus", "--cpus"), ("pids_limit", "--pids-limit"),
                ("restart", "--restart"), ("stop_signal", "--stop-signal"),
                ("stop_timeout", "--stop-timeout"), ("pull", "--pull"),
                ("platform", "--platform"), ("log_driver", "--log-driver"))
_BOOL_FLAGS = (("auto_remove", "--rm"), ("init", "--init"), ("privileged", "--privileged"),
               ("read_only", "--read-only"), ("stdin_open", "-i"), ("tty", "-t"),
               ("publish_all_ports", "-P"))
