"""The runc-compatible command line of ``launcher-runtime``, declared once as data.

Parsed by the same table-driven parser as ``launcher`` (``launcher.cli.fastparse``):
no typer and no argparse on a path that podman/conmon call several times per
container.
"""

from __future__ import annotations

from launcher.cli.optspec import FLAG, MULTI, VALUE, Arg, CommandSpec, Opt

ID = Arg("id", "CONTAINER_ID", "the container id")

GLOBAL = CommandSpec("launcher-runtime", "An OCI runtime (runc-compatible CLI).", (
    Opt(("--root",), "root", VALUE, "state directory (default /run/launcher-runtime)",
        metavar="DIR"),
    Opt(("--log",), "log", VALUE, "also write errors to this file", metavar="FILE"),
    Opt(("--log-format",), "log_format", VALUE, "text or json", metavar="FORMAT"),
    Opt(("--debug",), "debug", FLAG, "verbose errors with tracebacks"),
    Opt(("--systemd-cgroup",), "systemd_cgroup", FLAG,
        "cgroupsPath is slice:prefix:name (mapped to the cgroupfs path systemd would use)"),
    Opt(("--rootless",), "rootless", VALUE, "accepted for runc compatibility", metavar="BOOL"),
    Opt(("--criu",), "criu", VALUE, "accepted for runc compatibility; checkpointing is "
        "not supported", metavar="PATH"),
    Opt(("-v", "--version"), "version", FLAG, "print the version"),
), interspersed=False)

_CREATE_OPTS = (
    Opt(("-b", "--bundle"), "bundle", VALUE, "bundle directory (default: cwd)", metavar="DIR"),
    Opt(("--pid-file",), "pid_file", VALUE, "write the init pid here", metavar="FILE"),
    Opt(("--console-socket",), "console_socket", VALUE,
        "unix socket that receives the pty master", metavar="PATH"),
    Opt(("--preserve-fds",), "preserve_fds", VALUE, "pass N extra fds (3..3+N-1)",
        metavar="N"),
    Opt(("--no-pivot",), "no_pivot", FLAG, "accepted; pivot_root is always used"),
    Opt(("--no-new-keyring",), "no_new_keyring", FLAG, "accepted; no session keyring is made"),
)

COMMANDS: dict[str, CommandSpec] = {
    "create": CommandSpec("create", "Create a container (init waits for start).",
                          _CREATE_OPTS, (ID,), interspersed=False),
    "start": CommandSpec("start", "Start a created container.", (), (ID,)),
    "run": CommandSpec("run", "Create and start a container; wait for it unless -d.", (
        *_CREATE_OPTS,
        Opt(("-d", "--detach"), "detach", FLAG, "do not wait for the container"),
        Opt(("--keep",), "keep", FLAG, "keep the stopped container (delete it later)"),
    ), (ID,), interspersed=False),
    "state": CommandSpec("state", "Print the state of a container as JSON.", (), (ID,)),
    "kill": CommandSpec("kill", "Send a signal (default TERM) to the container.", (
        Opt(("-a", "--all"), "all", FLAG, "signal every process in the container"),
    ), (ID, Arg("signal", "SIGNAL", "signal name or number", rest=True)), interspersed=False),
    "delete": CommandSpec("delete", "Delete a container and what it holds.", (
        Opt(("-f", "--force"), "force", FLAG, "kill it first if it is running"),
    ), (ID,), interspersed=False),
    "exec": CommandSpec("exec", "Run a process in a running container.", (
        Opt(("-p", "--process"), "process", VALUE, "process.json to run", metavar="FILE"),
        Opt(("-t", "--tty"), "tty", FLAG, "allocate a pseudo-TTY"),
        Opt(("-d", "--detach"), "detach", FLAG, "do not wait for the process"),
        Opt(("--pid-file",), "pid_file", VALUE, "write the process pid here", metavar="FILE"),
        Opt(("--console-socket",), "console_socket", VALUE,
            "unix socket that receives the pty master", metavar="PATH"),
        Opt(("--cwd",), "cwd", VALUE, "working directory", metavar="DIR"),
        Opt(("-e", "--env"), "env", MULTI, "set an environment variable", metavar="K=V"),
        Opt(("-u", "--user"), "user", VALUE, "UID[:GID]", metavar="UID[:GID]"),
        Opt(("-g", "--additional-gids"), "additional_gids", MULTI, "extra group ids",
            metavar="GID"),
        Opt(("-c", "--cap"), "cap", MULTI, "add a capability", metavar="CAP"),
        Opt(("--no-new-privs",), "no_new_privs", FLAG, "set no_new_privileges"),
        Opt(("--ignore-paused",), "ignore_paused", FLAG,
            "exec into a paused container (the process starts frozen)"),
        Opt(("--preserve-fds",), "preserve_fds", VALUE, "pass N extra fds", metavar="N"),
        Opt(("--apparmor",), "apparmor", VALUE, "accepted; AppArmor is not supported",
            metavar="PROFILE"),
        Opt(("--process-label",), "process_label", VALUE, "accepted; SELinux is not supported",
            metavar="LABEL"),
    ), (ID, Arg("command", "COMMAND", "command and arguments", rest=True)),
        interspersed=False),
    "list": CommandSpec("list", "List containers.", (
        Opt(("-f", "--format"), "format", VALUE, "table or json", metavar="FORMAT"),
        Opt(("-q", "--quiet"), "quiet", FLAG, "only ids"),
    )),
    "ps": CommandSpec("ps", "List the processes of a container.", (
        Opt(("-f", "--format"), "format", VALUE, "table or json", metavar="FORMAT"),
    ), (ID, Arg("ps_args", "PS_ARGS", "arguments for ps(1)", rest=True)), interspersed=False),
    "pause": CommandSpec("pause", "Freeze every process of a container.", (), (ID,)),
    "resume": CommandSpec("resume", "Thaw a paused container.", (), (ID,)),
    "update": CommandSpec("update", "Change the resource limits of a container.", (
        Opt(("-r", "--resources"), "resources", VALUE,
            "JSON file of linux.resources ('-' for stdin)", metavar="FILE"),
        Opt(("--memory",), "memory", VALUE, "memory limit in bytes", metavar="BYTES"),
        Opt(("--memory-swap",), "memory_swap", VALUE, "memory+swap limit", metavar="BYTES"),
        Opt(("--memory-reservation",), "memory_reservation", VALUE, "soft limit",
            metavar="BYTES"),
        Opt(("--cpu-shares",), "cpu_shares", VALUE, "relative CPU weight", metavar="N"),
        Opt(("--cpu-quota",), "cpu_quota", VALUE, "CFS quota in µs", metavar="US"),
        Opt(("--cpu-period",), "cpu_period", VALUE, "CFS period in µs", metavar="US"),
        Opt(("--cpuset-cpus",), "cpuset_cpus", VALUE, "CPUs allowed", metavar="LIST"),
        Opt(("--cpuset-mems",), "cpuset_mems", VALUE, "memory nodes allowed", metavar="LIST"),
        Opt(("--pids-limit",), "pids_limit", VALUE, "maximum number of pids", metavar="N"),
        Opt(("--blkio-weight",), "blkio_weight", VALUE, "block IO weight", metavar="N"),
    ), (ID,), interspersed=False),
    "features": CommandSpec("features", "Print what this runtime supports (JSON).", ()),
    "spec": CommandSpec("spec", "Write a default config.json.", (
        Opt(("-b", "--bundle"), "bundle", VALUE, "directory to write it in", metavar="DIR"),
        Opt(("--rootless",), "rootless", FLAG, "accepted"),
    )),
    "version": CommandSpec("version", "Print the version.", ()),
}
