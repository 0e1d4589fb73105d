"""The one declaration of the global options and the hot commands' options.

Plain data, no typer: ``fastparse`` reads this table to parse ``launcher run``
(~15 µs for a typical argv), and ``app`` reads the same table to generate the
typer commands behind ``--help``, shell completion and the docs. Add an option
here (and, for ``run``, a slot of the same name on ``RunRequest``) and both
paths have it. ``run``'s network options are in ``netopts``; the classes and
``convert_values``, which checks the parsed strings, in ``optspec``.
"""

from __future__ import annotations

from launcher.cli import convert
from launcher.cli.netopts import NETWORK_OPTS
from launcher.cli.optspec import FLAG, MULTI, VALUE, Arg, CommandSpec, Opt

# Shared by run and exec (one Opt: both parse and document them the same way).
ENV_OPT = Opt(
    ("-e", "--env"),
    "env",
    MULTI,
    "Set an environment variable (repeatable)",
    metavar="KEY=VALUE",
    convert=convert.env_entry,
)
WORKDIR_OPT = Opt(
    ("-w", "--workdir"),
    "workdir",
    VALUE,
    "Working directory inside the container",
    metavar="DIR",
    convert=convert.abs_path,
)

GLOBAL = CommandSpec(
    "launcher",
    "A daemonless container launcher.",
    (
        Opt(
            ("--root",), "root", VALUE, "Storage and state root", metavar="DIR", env="LAUNCHER_ROOT"
        ),
        Opt(
            ("--debug",),
            "debug",
            FLAG,
            "Print tracebacks and per-phase timings (or set LAUNCHER_DEBUG=1)",
        ),
        Opt(
            ("--log-level",),
            "log_level",
            VALUE,
            "Messages to print: debug, info, warning (default) or error",
            metavar="LEVEL",
            env="LAUNCHER_LOG_LEVEL",
        ),
        Opt(("--version",), "version", FLAG, "Print the version and exit"),
        Opt(
            ("--backend",),
            "backend",
            VALUE,
            "native (Linux) or vm (a Linux VM; the default without a Linux kernel)",
            metavar="NAME",
            env="LAUNCHER_BACKEND",
        ),
        Opt(
            ("-H", "--host"),
            "host",
            VALUE,
            "Run commands on this Linux host instead: ssh://[USER@]HOST[:PORT]",
            metavar="URL",
            env="LAUNCHER_HOST",
        ),
    ),
    (
        Arg("command", "COMMAND", "The command to run"),
        Arg("args", "ARGS", "Its arguments", rest=True),
    ),
    interspersed=False,
)

RUN = CommandSpec(
    "run",
    "Run a command in a new container.",
    (
        Opt(("--rm",), "remove", FLAG, "Remove the container when it exits"),
        Opt(("-d", "--detach"), "detach", FLAG, "Run in the background and print the id"),
        Opt(
            ("--restart",),
            "restart",
            VALUE,
            "Restart policy: no, on-failure[:N], always, unless-stopped (with -d)",
            metavar="POLICY",
            convert=convert.restart,
            default="no",
        ),
        Opt(("--init",), "init", FLAG, "Run a minimal init (tini) as PID 1: reaps zombies, "
            "forwards signals"),
        Opt(("-i", "--interactive"), "interactive", FLAG, "Keep STDIN open"),
        Opt(("-t", "--tty"), "tty", FLAG, "Allocate a pseudo-TTY"),
        ENV_OPT,
        Opt(
            ("--env-file",),
            "env_files",
            MULTI,
            "Read environment variables from a file (repeatable)",
            metavar="FILE",
            convert=convert.env_file,
        ),
        Opt(
            ("-l", "--label"),
            "labels",
            MULTI,
            "Set a label on the container (repeatable)",
            metavar="KEY=VALUE",
            convert=convert.label,
        ),
        Opt(
            ("--log-driver",),
            "log_driver",
            VALUE,
            "Where output goes with -d: json-file or none",
            metavar="DRIVER",
            default="json-file",
            convert=convert.log_driver,
        ),
        Opt(
            ("--log-opt",),
            "log_opts",
            MULTI,
            "Log driver option: max-size=10m, max-file=3 (repeatable)",
            metavar="KEY=VALUE",
            convert=convert.log_opt,
        ),
        Opt(
            ("--stop-signal",),
            "stop_signal",
            VALUE,
            "Signal that stops the container (default: the image's, else SIGTERM)",
            metavar="SIGNAL",
            convert=convert.signal_spec,
        ),
        Opt(
            ("--stop-timeout",),
            "stop_timeout",
            VALUE,
            "Seconds `stop` waits before SIGKILL (default 10; -1: forever)",
            metavar="N",
            convert=convert.stop_timeout,
        ),
        Opt(
            ("-v", "--volume"),
            "volumes",
            MULTI,
            "Bind a host path, or mount a named or anonymous volume (repeatable)",
            metavar="[SRC:]DST[:ro]",
            convert=convert.volume,
        ),
        WORKDIR_OPT,
        Opt(
            ("-u", "--user"),
            "user",
            VALUE,
            "User to run as",
            metavar="UID[:GID]",
            convert=convert.user_spec,
        ),
        Opt(
            ("-h", "--hostname"),
            "hostname",
            VALUE,
            "Container host name",
            metavar="NAME",
            convert=convert.hostname,
        ),
        Opt(
            ("--entrypoint",),
            "entrypoint",
            VALUE,
            'Override the image\'s ENTRYPOINT ("" clears it)',
            metavar="CMD",
        ),
        Opt(
            ("-m", "--memory"),
            "memory",
            VALUE,
            "Memory limit, like 64m or 1g",
            metavar="SIZE",
            convert=convert.memory_size,
        ),
        Opt(
            ("--cpus",),
            "cpus",
            VALUE,
            "Number of CPUs, like 0.5",
            metavar="N",
            convert=convert.cpus,
        ),
        Opt(
            ("--pids-limit",),
            "pids_limit",
            VALUE,
            "Process limit (-1: unlimited)",
            metavar="N",
            convert=convert.pids_limit,
        ),
        Opt(("--read-only",), "read_only", FLAG, "Mount the root filesystem read-only"),
        Opt(
            ("--cap-add",),
            "cap_add",
            MULTI,
            "Add a capability (ALL: every one)",
            metavar="CAP",
            convert=convert.capability,
        ),
        Opt(
            ("--cap-drop",),
            "cap_drop",
            MULTI,
            "Drop a capability (ALL: every one)",
            metavar="CAP",
            convert=convert.capability,
        ),
        Opt(
            ("--security-opt",),
            "security_opt",
            MULTI,
            "seccomp=unconfined|PROFILE.json, no-new-privileges[=true|false]",
            metavar="OPT",
            convert=convert.security_opt,
        ),
        Opt(
            ("--privileged",),
            "privileged",
            FLAG,
            "Every capability, the host's devices, no seccomp filter or masked paths",
        ),
        Opt(
            ("--userns",),
            "userns",
            VALUE,
            "User namespace: host (root) or keep-id (rootless: your uid inside too)",
            metavar="MODE",
            convert=convert.userns,
            default="",
        ),
        *NETWORK_OPTS,
        Opt(
            ("--name",),
            "name",
            VALUE,
            "Name the container",
            metavar="NAME",
            convert=convert.container_name,
        ),
        Opt(
            ("--pull",),
            "pull",
            VALUE,
            "Pull the image: always, missing or never",
            metavar="POLICY",
            convert=convert.pull_policy,
            default="missing",
        ),
        Opt(
            ("--platform",),
            "platform",
            VALUE,
            "Platform to pull, like linux/arm64 (default: the host's)",
            metavar="OS/ARCH",
            convert=convert.platform,
        ),
    ),
    (
        Arg("image", "IMAGE", "Image to run (pulled when missing)"),
        Arg("command", "CMD", "Command and arguments (default: the image's)", rest=True),
    ),
    interspersed=False,
)

IMPORT = CommandSpec(
    "import",
    "Import a root filesystem tarball as an image; prints the image id.",
    (),
    (
        Arg("source", "ROOTFS.tar", "Tarball of a root filesystem"),
        Arg("ref", "NAME[:TAG]", "Name to give the image"),
    ),
)

def _targets(verb: str) -> tuple[Arg, Arg]:
    return (Arg("first", "CONTAINER", f"Container to {verb} (name, id or id prefix)"),
            Arg("more", "CONTAINER", "More containers", rest=True))


RM = CommandSpec(
    "rm",
    "Remove containers (their rootfs, anonymous volumes and name).",
    (Opt(("-f", "--force"), "force", FLAG, "Kill and remove a running container"),
     # Anonymous volumes live in the container's bundle and always go with it
     # (as with `run --rm`): -v is accepted for Docker's command lines.
     Opt(("-v", "--volumes"), "volumes", FLAG, "Remove anonymous volumes (always done)")),
    _targets("remove"),
)

STOP = CommandSpec(
    "stop",
    "Stop containers: their stop signal, then SIGKILL after the timeout (10 s).",
    (
        Opt(
            ("-t", "--time", "--timeout"),
            "timeout",
            VALUE,
            "Seconds to wait before SIGKILL (-1: forever)",
            metavar="N",
            convert=convert.stop_timeout,
        ),
    ),
    _targets("stop"),
)

KILL = CommandSpec(
    "kill",
    "Send a signal to running containers (default SIGKILL).",
    (
        Opt(
            ("-s", "--signal"),
            "signal",
            VALUE,
            "Signal to send",
            metavar="SIGNAL",
            convert=convert.signal_spec,
            default="KILL",
        ),
    ),
    _targets("signal"),
)

EXEC = CommandSpec(
    "exec",
    "Run a command in a running container; exits with its status.",
    (
        Opt(("-i", "--interactive"), "interactive", FLAG, "Keep STDIN open"),
        Opt(("-t", "--tty"), "tty", FLAG, "Allocate a pseudo-TTY"),
        ENV_OPT,
        WORKDIR_OPT,
        Opt(("-u", "--user"), "user", VALUE, "User to run as", metavar="USER[:GROUP]",
            convert=convert.user_spec),
        Opt(("-d", "--detach"), "detach", FLAG, "Run in the background"),
    ),
    (
        Arg("container", "CONTAINER", "A running container"),
        Arg("command", "COMMAND", "Command and arguments", rest=True),
    ),
    interspersed=False,
)

HOT = {spec.name: spec for spec in (RUN, IMPORT, RM, STOP, KILL, EXEC)}
