"""``launcher kube generate|play|down``: Kubernetes Pod YAML, podman's verbs and output.

Rare commands: plain typer, imported only by ``app``. The work is in
``launcher.kube``; this parses, calls it, and prints.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from launcher.cli.state import state_of

app = typer.Typer(help="Generate, play and tear down Kubernetes Pod YAML.",
                  no_args_is_help=True)


@app.command("generate")
def generate(
    ctx: typer.Context,
    refs: Annotated[list[str], typer.Argument(metavar="CONTAINER|POD...",
                                              show_default=False)],
    filename: Annotated[str | None, typer.Option(
        "-f", "--filename", metavar="FILE",
        help="Write the YAML to FILE (which must not exist) instead of stdout")] = None,
    kind: Annotated[str, typer.Option("-t", "--type", metavar="TYPE",
                                      help="pod or deployment")] = "pod",
) -> None:
    """Print a Pod manifest that runs these containers (or a pod from kube play)."""
    from launcher.errors import UsageError
    from launcher.kube import describe, generate

    if kind not in ("pod", "deployment"):
        raise UsageError(f"kube generate: --type {kind!r}: expected pod or deployment")
    name, sources, infra = describe.collect(state_of(ctx.obj).paths(), refs)
    text = generate.to_yaml(generate.pod_manifest(name, sources, infra=infra, kind=kind))
    if filename is None:
        sys.stdout.write(text)
    else:
        _write_new(filename, text)


def _write_new(path: str, text: str) -> None:
    import os

    from launcher import osflags
    from launcher.errors import ConflictError, UsageError

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | osflags.CLOEXEC, 0o644)
    except FileExistsError:
        raise ConflictError(f"kube generate: {path} already exists") from None
    except OSError as exc:
        raise UsageError(f"kube generate: cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


@app.command("play")
def play(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE", help="The YAML, or - for stdin",
                                        show_default=False)],
    replace: Annotated[bool, typer.Option(
        "--replace", help="Tear down the pods first if they exist")] = False,
) -> None:
    """Run the pods a Kubernetes YAML describes; prints each pod and its containers."""
    from launcher.kube import manifest
    from launcher.kube import play as core
    from launcher.kube.podops import PodOps

    pods = manifest.load(manifest.read_source(file))
    played = core.play(PodOps(state_of(ctx.obj).paths()), pods, replace=replace)
    lines: list[str] = []
    for pod in played:
        lines += ["Pod:", pod.name, "Container:" if len(pod.containers) == 1 else "Containers:",
                  *pod.containers]
    sys.stdout.write("".join(f"{line}\n" for line in lines))


@app.command("down")
def down(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE", help="The YAML, or - for stdin",
                                        show_default=False)],
    force: Annotated[bool, typer.Option(
        "--force", help="Also remove the volumes of persistentVolumeClaims")] = False,
) -> None:
    """Remove the pods kube play made from this YAML (their emptyDir volumes too)."""
    from launcher.kube import manifest
    from launcher.kube import play as core
    from launcher.kube.podops import PodOps

    pods = manifest.load(manifest.read_source(file))
    removed = core.down(PodOps(state_of(ctx.obj).paths()), pods, force=force)
    lines = ["Pods stopped:", *removed.pods, "Pods removed:", *removed.pods,
             "Volumes removed:", *removed.volumes]
    sys.stdout.write("".join(f"{line}\n" for line in lines))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="kube")
