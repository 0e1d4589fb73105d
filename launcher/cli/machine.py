"""``launcher machine init|start|stop|rm|ls|inspect|ssh``: the VM backend's machines.

Each parses, calls :mod:`launcher.vm.ops`, and prints. Rare commands: plain
typer, imported only by ``app``.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from launcher.cli import fmt
from launcher.cli.state import state_of
from launcher.vm.machine import DEFAULT_NAME

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.paths import Paths

app = typer.Typer(help="Manage the Linux VMs that run containers on macOS and Windows.",
                  no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(metavar="[NAME]", show_default=False)]


def _paths(ctx: typer.Context) -> Paths:
    return state_of(ctx.obj).paths()


@app.command("init")
def init(
    ctx: typer.Context,
    name: NameArg = DEFAULT_NAME,
    cpus: Annotated[int | None, typer.Option(
        "--cpus", help="Virtual CPUs [default: 2, or launcher.toml's machine.cpus]",
        show_default=False)] = None,
    memory: Annotated[str | None, typer.Option(
        "--memory", "-m", help="Memory, like 2g [default: 2g, or machine.memory]",
        show_default=False)] = None,
    disk_size: Annotated[str | None, typer.Option(
        "--disk-size", help="Disk size, like 10g [default: 10g, or machine.disk_size]",
        show_default=False)] = None,
    image: Annotated[str | None, typer.Option(
        "--image", metavar="PATH|URL",
        help="A guest image (directory or URL of its image.json); default: the published "
             "one, else built from provision/")] = None,
    driver: Annotated[str, typer.Option(
        "--driver", help="qemu: one QEMU process; libvirt: a domain on qemu:///system "
                         "(needs libvirtd and libvirt-python)")] = "qemu",
    volume: Annotated[list[str] | None, typer.Option(
        "--volume", "-v", metavar="HOST_DIR",
        help="Share a host directory with the machine (same path inside)")] = None,
    now: Annotated[bool, typer.Option("--now", help="Start the machine too")] = False,
    arch: Annotated[str | None, typer.Option(
        "--arch", metavar="x86_64|aarch64",
        help="The guest's CPU (default: the host's; another one runs emulated, TCG)")] = None,
) -> None:
    """Create a machine (its disk, keys and settings)."""
    from launcher.settings import machine_defaults
    from launcher.vm import ops

    paths = _paths(ctx)
    defaults = machine_defaults(paths)
    cpus = cpus if cpus is not None else int(defaults["cpus"])
    memory = memory if memory is not None else str(defaults["memory"])
    disk_size = disk_size if disk_size is not None else str(defaults["disk_size"])
    shares = volume if volume is not None else ops.default_shares()
    m = ops.init(paths, name, cpus=cpus, memory_mb=ops.parse_size(memory, "--memory"),
                 disk_gb=max(1, ops.parse_size(disk_size, "--disk-size") // 1024),
                 image=image, driver=driver, shares=shares, arch=arch)
    print(m.name)
    if now:
        _start(paths, m.name)


@app.command("start")
def start(ctx: typer.Context, name: NameArg = DEFAULT_NAME) -> None:
    """Boot a machine; prints each phase with its time."""
    _start(_paths(ctx), name)


def _start(paths: Paths, name: str) -> None:
    from launcher.cli.machinestart import start as start_machine

    start_machine(paths, name)


@app.command("stop")
def stop(ctx: typer.Context, name: NameArg = DEFAULT_NAME) -> None:
    """Power a machine off (the guest's disks are synced first)."""
    from launcher.vm import ops

    ops.stop(_paths(ctx), name)
    print(name)


@app.command("rm")
def rm(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(metavar="[NAME...]")] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Stop it first")] = False,
) -> None:
    """Remove machines and their disks."""
    from launcher.vm import ops

    for name in names or [DEFAULT_NAME]:
        ops.remove(_paths(ctx), name, force)
        print(name)


@app.command("ls")
def ls(
    ctx: typer.Context,
    format_: Annotated[str | None, typer.Option("--format", help="json")] = None,
) -> None:
    """List machines with their status (derived from the running QEMU)."""
    from launcher.vm import machine as vm

    if format_ is not None:
        fmt.check_format(format_)
    rows = [_describe(_paths(ctx), n) for n in vm.list_names(_paths(ctx))]
    if format_ == "json":
        fmt.json_lines(rows)
        return
    fmt.table(["NAME", "STATUS", "CPUS", "MEMORY", "DISK", "DRIVER"],
              [[str(r["Name"]), str(r["Status"]), str(r["CPUs"]), f"{r['MemoryMiB']}MiB",
                f"{r['DiskGiB']}GiB", str(r["Driver"])] for r in rows])


def _describe(paths: Paths, name: str) -> dict[str, object]:
    from launcher.vm import machine as vm

    m = vm.Machine.load(paths, name)
    state, detail = vm.status(m)
    return {"Name": m.name, "Status": state, "Detail": detail, "CPUs": m.cpus,
            "MemoryMiB": m.memory_mb, "DiskGiB": m.disk_gb, "Driver": m.driver,
            "Arch": m.arch, "Image": m.image_dir, "Shares": m.shares,
            "SSHPort": m.ssh_port(), "Created": m.created, "Dir": m.dir,
            "ConsoleLog": os.path.join(m.run_dir, "console.log")}


@app.command("inspect")
def inspect(ctx: typer.Context,
            names: Annotated[list[str] | None, typer.Argument(metavar="[NAME...]")] = None
            ) -> None:
    """Details of machines, as JSON."""
    fmt.json_doc([_describe(_paths(ctx), n) for n in names or [DEFAULT_NAME]])


@app.command("ssh", context_settings={"allow_interspersed_args": False})
def ssh(
    ctx: typer.Context,
    name: NameArg = DEFAULT_NAME,
    command: Annotated[list[str] | None, typer.Argument(metavar="[COMMAND...]")] = None,
) -> None:
    """A shell (or COMMAND) in the machine, over SSH with its pinned host key."""
    from launcher.vm import remote

    raise typer.Exit(remote.ssh(_paths(ctx), name, command or []))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="machine")
    app.command("list", hidden=True)(ls)
