"""The one declaration of the global options and the hot commands' options.

Plain data, no typer: ``fastparse`` reads this table to parse ``launcher run``
(~15 µs for a typical argv), and ``app`` reads the same table to generate the
typer commands behind ``--help``, shell completion and the docs. Add an option
here (and, for ``run``, a slot of the same name on ``RunRequest``) and both
paths have it.

Values travel as strings from either parser; ``convert_values`` turns them into
checked values once, so both paths accept and reject exactly the same input.
"""

from __future__ import annotations

from launcher.cli import convert
from launcher.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

FLAG = "flag"  # --rm: present or not; never takes a value
VALUE = "value"  # --memory 64m: last one wins
MULTI = "multi"  # -e K=V -e K2=V2: every occurrence kept, in order

# Help is asked for with one of these wherever an option may stand; "-h" only
# where the command does not claim it (``run -h`` is the hostname, as in Docker).
HELP_NAMES = ("-h", "--help")


class Opt:
    """One option: its names, what it holds, and how it reads in ``--help``."""

    __slots__ = ("convert", "default", "dest", "env", "help", "kind", "metavar", "names")

    def __init__(
        self,
        names: tuple[str, ...],
        dest: str,
        kind: str = FLAG,
        help: str = "",
        *,
        metavar: str = "",
        convert: Callable[[str], object] | None = None,
        default: str | None = None,
        env: str | None = None,
    ) -> None:
        self.names = names  # short ("-e") and long ("--env") names, as typed
        self.dest = dest  # key in the parsed values (a RunRequest slot for `run`)
        self.kind = kind
        self.help = help
        self.metavar = metavar
        self.convert = convert  # str -> value, raises ValueError(reason); None keeps the str
        self.default = default  # the raw string used when the option is absent
        self.env = env  # environment variable read when the option is absent (VALUE only)

    @property
    def label(self) -> str:
        """``-m, --memory`` as Docker names a flag in messages."""
        short = [n for n in self.names if not n.startswith("--")]
        return ", ".join(short + [n for n in self.names if n.startswith("--")])

    def initial(self) -> object:
        """The raw value before any occurrence is seen."""
        if self.kind == FLAG:
            return False
        if self.kind == MULTI:
            return []
        return self.default


class Arg:
    """A positional argument; ``rest`` takes everything after it (``CMD...``)."""

    __slots__ = ("dest", "help", "metavar", "rest")

    def __init__(self, dest: str, metavar: str, help: str, *, rest: bool = False) -> None:
        self.dest = dest
        self.metavar = metavar
        self.help = help
        self.rest = rest


class CommandSpec:
    """A command's options and positionals, with the lookups the parser needs."""

    __slots__ = ("args", "help", "interspersed", "long", "name", "options", "short")

    def __init__(
        self,
        name: str,
        help: str,
        options: tuple[Opt, ...],
        args: tuple[Arg, ...] = (),
        *,
        interspersed: bool = True,
    ) -> None:
        self.name = name
        self.help = help
        self.options = options
        self.args = args
        # False: options end at the first positional, the rest is passed on
        # verbatim (``launcher run busybox ls -l`` gives ``-l`` to ls).
        self.interspersed = interspersed
        self.long = {n: o for o in options for n in o.names if n.startswith("--")}
        self.short = {n[1]: o for o in options for n in o.names if len(n) == 2}

    def arity_error(self) -> UsageError:
        fixed = sum(1 for a in self.args if not a.rest)
        plural = "" if fixed == 1 else "s"
        how = "at least" if any(a.rest for a in self.args) else "exactly"
        return UsageError(f'"{self.name}" requires {how} {fixed} argument{plural}')


def convert_values(spec: CommandSpec, raw: dict[str, object]) -> dict[str, object]:
    """Raw parsed values → checked values, in table order (so errors come in that order)."""
    out: dict[str, object] = {}
    for opt in spec.options:
        value = raw[opt.dest]
        if opt.convert is not None:
            if isinstance(value, list):
                value = [_convert(opt, str(v)) for v in value]
            elif isinstance(value, str):
                value = _convert(opt, value)
        out[opt.dest] = value
    return out


def _convert(opt: Opt, text: str) -> object:
    assert opt.convert is not None
    try:
        return opt.convert(text)
    except ValueError as exc:
        msg = f'invalid argument "{text}" for "{opt.label}" flag: {exc}'
        raise UsageError(msg) from None


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
        Opt(("--version",), "version", FLAG, "Print the version and exit"),
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
            ("--network", "--net"),
            "network",
            VALUE,
            "Network: bridge (default; see launcher.conf), none, host, container:NAME, "
            "or a network's name",
            metavar="NETWORK",
            convert=convert.network,
        ),
        Opt(
            ("-p", "--publish"),
            "publish",
            MULTI,
            "Publish a container's port on the host (repeatable)",
            metavar="[IP:][HOST:]PORT[/PROTO]",
            convert=convert.publish,
        ),
        Opt(
            ("-P", "--publish-all"),
            "publish_all",
            FLAG,
            "Publish every port the image exposes on a free host port",
        ),
        Opt(
            ("--ip",),
            "ip",
            VALUE,
            "IPv4 address on a user-defined network",
            metavar="ADDRESS",
            convert=convert.ip_address,
        ),
        Opt(
            ("--network-alias",),
            "network_aliases",
            MULTI,
            "Another name for the container on its network (repeatable)",
            metavar="NAME",
            convert=convert.network_alias,
        ),
        Opt(
            ("--dns",),
            "dns",
            MULTI,
            "DNS server for /etc/resolv.conf (repeatable)",
            metavar="ADDRESS",
            convert=convert.nameserver,
        ),
        Opt(
            ("--dns-search",),
            "dns_search",
            MULTI,
            "DNS search domain (repeatable; . for none)",
            metavar="DOMAIN",
            convert=convert.dns_search,
        ),
        Opt(
            ("--dns-option",),
            "dns_options",
            MULTI,
            "Resolver option, like ndots:2 (repeatable)",
            metavar="OPTION",
            convert=convert.dns_option,
        ),
        Opt(
            ("--add-host",),
            "add_hosts",
            MULTI,
            "Add a line to /etc/hosts (repeatable; IP host-gateway: the host)",
            metavar="NAME:IP",
            convert=convert.add_host,
        ),
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
        Opt(("-u", "--user"), "user", VALUE, "User to run as", metavar="USER[:GROUP]"),
        Opt(("-d", "--detach"), "detach", FLAG, "Run in the background"),
    ),
    (
        Arg("container", "CONTAINER", "A running container"),
        Arg("command", "COMMAND", "Command and arguments", rest=True),
    ),
    interspersed=False,
)

HOT = {spec.name: spec for spec in (RUN, IMPORT, RM, STOP, KILL, EXEC)}
