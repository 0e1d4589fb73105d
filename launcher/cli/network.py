"""``launcher network create|ls|rm|inspect|connect|disconnect|prune`` and ``launcher
port``: Docker's flags and output. Each parses, calls ``launcher.network.manage``
(or the store), and prints.

Rare commands: plain typer, imported only by ``app``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer

from launcher.cli import fmt
from launcher.cli.lifecycle import each
from launcher.cli.state import state_of
from launcher.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.network.model import Network
    from launcher.paths import Paths

app = typer.Typer(help="Manage networks.", no_args_is_help=True)

Name = Annotated[str, typer.Argument(metavar="NETWORK", show_default=False)]
Names = Annotated[list[str], typer.Argument(metavar="NETWORK...", show_default=False)]
ContainerArg = Annotated[str, typer.Argument(metavar="CONTAINER", show_default=False)]


def _paths(ctx: typer.Context) -> Paths:
    from launcher.backend.select import require_native

    require_native()  # networks live with the native backend
    return state_of(ctx.obj).paths()


@app.command("create")
def create(
    ctx: typer.Context,
    name: Name,
    subnet: Annotated[str | None, typer.Option("--subnet", metavar="CIDR",
                                               help="Subnet, like 10.90.0.0/24")] = None,
    gateway: Annotated[str | None, typer.Option("--gateway", metavar="IP",
                                                help="Gateway (the bridge's address)")] = None,
    internal: Annotated[bool, typer.Option("--internal",
                                           help="No traffic in or out of the network")] = False,
    labels: Annotated[list[str] | None, typer.Option("-l", "--label", metavar="KEY=VALUE",
                                                     help="Set a label (repeatable)")] = None,
    driver: Annotated[str, typer.Option("-d", "--driver", metavar="DRIVER",
                                        help="Network driver (bridge)")] = "bridge",
) -> None:
    """Create a bridge network; prints its id."""
    from launcher.errors import UnsupportedError
    from launcher.network.manage import store
    from launcher.runopts import label

    if driver != "bridge":
        raise UnsupportedError(f"network driver {driver!r} is not supported (only bridge)")
    try:
        parsed = dict(label(text) for text in labels or [])
    except ValueError as exc:
        raise UsageError(f"invalid label: {exc}") from None
    net = store(_paths(ctx)).create(name, subnet, gateway, internal, parsed)
    sys.stdout.write(net.id + "\n")


FILTER_KEYS = ("name", "id", "driver", "label")


def _filter(text: str) -> Callable[[Network], bool]:
    key, eq, value = text.partition("=")
    if not eq or key not in FILTER_KEYS:
        raise UsageError(f'invalid filter "{text}": want KEY=VALUE with KEY one of '
                         + ", ".join(FILTER_KEYS))
    if key == "name":
        return lambda n: value in n.name
    if key == "id":
        return lambda n: n.id.startswith(value)
    if key == "driver":
        return lambda n: n.driver == value
    lkey, leq, lvalue = value.partition("=")
    return lambda n: lkey in n.labels and (not leq or n.labels[lkey] == lvalue)


@app.command("ls")
def ls(
    ctx: typer.Context,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only network IDs")] = False,
    output: Annotated[str, typer.Option("--format", metavar="FORMAT",
                                        help="table or json")] = "table",
    filters: Annotated[list[str] | None, typer.Option(
        "-f", "--filter", metavar="KEY=VALUE", help="name, id, driver, label (repeatable)")]
    = None,
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Full network IDs")] = False,
) -> None:
    """List networks."""
    from launcher.network.manage import store

    fmt.check_format(output)
    checks = [_filter(text) for text in filters or []]
    nets = [n for n in store(_paths(ctx)).list() if all(check(n) for check in checks)]

    def ident(n: Network) -> str:
        return n.id if no_trunc else n.id[:12]

    if quiet:
        sys.stdout.write("".join(ident(n) + "\n" for n in nets))
    elif output == "json":
        fmt.json_lines([{"CreatedAt": n.created, "Driver": n.driver, "ID": ident(n),
                         "IPv6": "false", "Internal": str(n.internal).lower(),
                         "Labels": ",".join(f"{k}={v}" for k, v in sorted(n.labels.items())),
                         "Name": n.name, "Scope": "local"} for n in nets])
    else:
        fmt.table(["NETWORK ID", "NAME", "DRIVER", "SCOPE"],
                  [[ident(n), n.name, n.driver, "local"] for n in nets])


@app.command("rm")
def rm(ctx: typer.Context, names: Names) -> None:
    """Remove networks (refused while containers are attached)."""
    from launcher.network.manage import remove

    paths = _paths(ctx)
    each(names, lambda name: remove(paths, name))


@app.command("inspect")
def inspect(ctx: typer.Context, names: Names) -> None:
    """Details of networks, as JSON."""
    from launcher.network.manage import inspect as details

    paths = _paths(ctx)
    found: list[object] = []
    try:
        each(names, lambda name: found.append(details(paths, name)), echo=False)
    finally:
        fmt.json_doc(found)


@app.command("connect")
def connect(
    ctx: typer.Context,
    network: Name,
    container: ContainerArg,
    ip: Annotated[str | None, typer.Option("--ip", metavar="ADDRESS",
                                           help="IPv4 address on the network")] = None,
    aliases: Annotated[list[str] | None, typer.Option("--alias", metavar="NAME",
                                                      help="Another name (repeatable)")] = None,
) -> None:
    """Connect a container to a network (now if it runs, and at every start)."""
    from launcher.cli import convert
    from launcher.network.manage import connect as join

    try:
        checked_ip = convert.ip_address(ip) if ip is not None else None
        checked = [convert.network_alias(a) for a in aliases or []]
    except ValueError as exc:
        raise UsageError(f"invalid --ip or --alias: {exc}") from None
    join(_paths(ctx), network, container, checked_ip, checked)


@app.command("disconnect")
def disconnect(
    ctx: typer.Context,
    network: Name,
    container: ContainerArg,
    force: Annotated[bool, typer.Option("-f", "--force",
                                        help="No error when not connected")] = False,
) -> None:
    """Disconnect a container from a network."""
    from launcher.network.manage import disconnect as leave

    leave(_paths(ctx), network, container, force)


@app.command("prune")
def prune(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("-f", "--force", help="Do not ask")] = False,
) -> None:
    """Remove every user-defined network no container is attached to."""
    from launcher.network.manage import prune as prune_networks

    warning = ("WARNING! This will remove all custom networks not used by at least one "
               "container.\nAre you sure you want to continue?")
    if not force and not typer.confirm(warning):
        return
    removed = prune_networks(_paths(ctx))
    if removed:
        sys.stdout.write("Deleted Networks:\n" + "".join(f"{n}\n" for n in removed))


def port(
    ctx: typer.Context,
    container: ContainerArg,
    private: Annotated[str | None, typer.Argument(
        metavar="[PRIVATE_PORT[/PROTO]]", show_default=False)] = None,
    output: Annotated[str, typer.Option("--format", metavar="FORMAT",
                                        help="table or json")] = "table",
) -> None:
    """List a container's published ports, or the host addresses of one."""
    from launcher.cli import fmt
    from launcher.network.manage import port as ports

    fmt.check_format(output)
    lines = ports(_paths(ctx), container, private)
    if output == "json":
        fmt.json_lines([_port_object(line) for line in lines])
        return
    sys.stdout.write("".join(line + "\n" for line in lines))


def _port_object(line: str) -> dict[str, object]:
    """``80/tcp -> 0.0.0.0:8080`` (or just ``0.0.0.0:8080``) as Docker's port fields."""
    private, _, public = line.rpartition(" -> ")
    host, _, host_port = public.rpartition(":")
    out: dict[str, object] = {"HostIp": host.strip("[]"), "HostPort": host_port}
    if private:
        number, _, proto = private.partition("/")
        out = {"PrivatePort": int(number), "Type": proto or "tcp", **out}
    return out


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="network")
    app.command("list", hidden=True)(ls)
    app.command("remove", hidden=True)(rm)
    root.command("port")(port)
    from launcher.cli import containers

    containers.app.command("port")(port)
