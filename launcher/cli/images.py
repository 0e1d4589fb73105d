"""Image commands, Docker's names and flags: ``pull push images rmi tag save load``
at the top level and the same under ``launcher image`` (``ls``, ``rm``, ``inspect``,
``prune`` too). Each parses, calls ``launcher.imageops``, and prints.

Rare commands: plain typer, imported only by ``app``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer

from launcher.cli import fmt
from launcher.cli.state import state_of
from launcher.errors import UsageError

app = typer.Typer(help="Manage images.", no_args_is_help=True)

Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="Print only the image reference")]
TlsVerify = Annotated[
    str | None,
    typer.Option("--tls-verify", metavar="BOOL",
                 help="Verify TLS (false: also allow plain HTTP), like --tls-verify=false"),
]
Format = Annotated[str, typer.Option("--format", metavar="FORMAT", help="table or json")]


def _tls(value: str | None) -> bool | None:
    if value is None:
        return None
    low = value.lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise UsageError(f'invalid argument "{value}" for "--tls-verify" flag: want true or false')


def pull(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="NAME[:TAG|@DIGEST]", show_default=False)],
    platform: Annotated[str | None, typer.Option("--platform", metavar="OS/ARCH[/VARIANT]",
                                                 help="Platform (default: the host's)")] = None,
    quiet: Quiet = False,
    tls_verify: TlsVerify = None,
) -> None:
    """Download an image from a registry."""
    from launcher import imageops
    from launcher.image import platform as plat
    from launcher.image.progress import for_terminal

    want = plat.parse(platform) if platform else None
    reporter = for_terminal(quiet)
    try:
        result = imageops.pull(state_of(ctx.obj).paths(), ref, platform=want,
                               tls_verify=_tls(tls_verify), reporter=reporter)
    finally:
        reporter.close()
    sys.stdout.write(f"{result.reference}\n")


def push(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="NAME[:TAG]", show_default=False)],
    destination: Annotated[str | None, typer.Argument(metavar="[DESTINATION]",
                                                      show_default=False)] = None,
    quiet: Quiet = False,
    tls_verify: TlsVerify = None,
) -> None:
    """Upload an image to a registry."""
    from launcher import imageops
    from launcher.image.progress import LineReporter, NullReporter

    reporter = NullReporter() if quiet else LineReporter(sys.stdout)
    result = imageops.push(state_of(ctx.obj).paths(), ref, destination,
                           tls_verify=_tls(tls_verify), reporter=reporter)
    if quiet:
        sys.stdout.write(f"{result.reference}@{result.digest}\n")


def images(
    ctx: typer.Context,
    repository: Annotated[str | None, typer.Argument(metavar="[REPOSITORY[:TAG]]",
                                                     show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only image IDs")] = False,
    digests: Annotated[bool, typer.Option("--digests", help="Show digests")] = False,
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Full image IDs")] = False,
    all_: Annotated[bool, typer.Option("-a", "--all", help="Accepted for Docker "
                                       "compatibility (there are no intermediate images)")] = False,
    output: Format = "table",
) -> None:
    """List images."""
    from launcher import imageops

    fmt.check_format(output)
    rows = [s for s in imageops.summaries(state_of(ctx.obj).paths())
            if repository is None or _matches(s, repository)]
    if quiet:
        seen: list[str] = []
        for s in rows:
            shown = s.id if no_trunc else _short(s.id)
            if shown not in seen:
                seen.append(shown)
        sys.stdout.write("".join(f"{i}\n" for i in seen))
    elif output == "json":
        fmt.json_lines([_json_row(s) for s in rows])
    else:
        head = ["REPOSITORY", "TAG", *(["DIGEST"] if digests else []), "IMAGE ID", "CREATED",
                "SIZE"]
        fmt.table(head, [[s.repository, s.tag, *([_digest(s)] if digests else []),
                          s.id if no_trunc else _short(s.id), fmt.since(s.created),
                          fmt.size(s.size)] for s in rows])


def _short(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


def _digest(s: object) -> str:
    d = str(getattr(s, "digest", "") or "")
    return d.split("@", 1)[-1] if d else "<none>"


def _matches(s: object, pattern: str) -> bool:
    from launcher.image.reference import parse

    repo, tag = str(getattr(s, "repository", "")), str(getattr(s, "tag", ""))
    want = parse(pattern, default_tag=False)
    if repo in ("<none>", "") or parse(repo, default_tag=False).name != want.name:
        return False
    return want.tag is None or want.tag == tag


def _json_row(s: object) -> dict[str, object]:
    g = getattr
    return {"Containers": "N/A", "CreatedAt": g(s, "created"), "CreatedSince":
            fmt.since(str(g(s, "created"))), "Digest": _digest(s), "ID": _short(g(s, "id")),
            "Repository": g(s, "repository"), "Size": fmt.size(int(g(s, "size"))),
            "Tag": g(s, "tag"), "VirtualSize": fmt.size(int(g(s, "size")))}


def rmi(
    ctx: typer.Context,
    refs: Annotated[list[str], typer.Argument(metavar="IMAGE...", show_default=False)],
    force: Annotated[bool, typer.Option("-f", "--force", help="Remove even if in use "
                                        "or referenced in several repositories")] = False,
) -> None:
    """Remove images (and the layers nothing uses any more)."""
    from launcher import imageops

    for verb, what in imageops.remove(state_of(ctx.obj).paths(), refs, force=force):
        sys.stdout.write(f"{verb}: {what}\n")


def tag(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="SOURCE_IMAGE[:TAG]", show_default=False)],
    target: Annotated[str, typer.Argument(metavar="TARGET_IMAGE[:TAG]", show_default=False)],
) -> None:
    """Give an image another name."""
    from launcher import imageops

    imageops.tag(state_of(ctx.obj).paths(), source, target)


def inspect(
    ctx: typer.Context,
    refs: Annotated[list[str], typer.Argument(metavar="IMAGE...", show_default=False)],
) -> None:
    """Show images' details as JSON (Docker's field names)."""
    from launcher import imageops
    from launcher.errors import LauncherError

    paths = state_of(ctx.obj).paths()
    found: list[object] = []
    errors: list[str] = []
    for ref in refs:
        try:
            found.append(imageops.inspect(paths, ref))
        except LauncherError as exc:
            errors.append(str(exc))
    fmt.json_doc(found)
    if errors:
        raise UsageError("; ".join(errors))  # docker prints [] plus the error, exit 1..125


SAVE_FORMATS = ("docker-archive", "oci-archive", "oci-dir")


def save(
    ctx: typer.Context,
    refs: Annotated[list[str], typer.Argument(metavar="IMAGE...", show_default=False)],
    output: Annotated[str | None, typer.Option("-o", "--output", metavar="FILE",
                                               help="Write to FILE, not STDOUT")] = None,
    archive: Annotated[str, typer.Option("--format", metavar="FORMAT", help="docker-archive, "
                                         "oci-archive or oci-dir")] = "docker-archive",
) -> None:
    """Save images to a tar archive (Docker's format, or an OCI image layout)."""
    from launcher import imageops

    fmt.check_format(archive, SAVE_FORMATS)
    paths = state_of(ctx.obj).paths()
    if archive == "oci-dir":
        if not output:
            raise UsageError("--format oci-dir needs -o DIRECTORY")
        imageops.save(paths, refs, output, archive)
        return
    if output is None or output == "-":
        if sys.stdout.isatty():
            raise UsageError("cowardly refusing to save to a terminal. Use the -o flag "
                             "or redirect")
        imageops.save(paths, refs, sys.stdout.buffer, archive)
        sys.stdout.flush()
        return
    _save_file(paths, refs, output, archive)


def _save_file(paths: object, refs: list[str], output: str, archive: str) -> None:
    """Write beside the target and rename: a failed save leaves no partial file."""
    import os

    from launcher import imageops

    tmp = f"{output}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            imageops.save(paths, refs, f, archive)  # type: ignore[arg-type]
        os.replace(tmp, output)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option("-i", "--input", metavar="FILE",
                                               help="Read from FILE, not STDIN")] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Say nothing")] = False,
) -> None:
    """Load images from a tar archive (docker-archive or OCI layout) or an OCI directory."""
    from launcher import imageops

    paths = state_of(ctx.obj).paths()
    if source is None or source == "-":
        if sys.stdin.isatty():
            raise UsageError("requested load from stdin, but stdin is empty; use -i FILE")
        loaded = imageops.load(paths, sys.stdin.buffer)
    else:
        loaded = imageops.load(paths, source)
    if not quiet:
        for ref in loaded:
            label = "Loaded image ID" if ref.startswith("sha256:") else "Loaded image"
            sys.stdout.write(f"{label}: {ref}\n")


def prune(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("-a", "--all", help="All images no container uses, "
                                       "not just dangling ones")] = False,
    force: Annotated[bool, typer.Option("-f", "--force", help="Do not ask")] = False,
) -> None:
    """Remove unused images and sweep unreferenced blobs and layers."""
    what = "all images without at least one container" if all_ else "all dangling images"
    confirm_and_prune(ctx, all_, force, f"WARNING! This will remove {what}.")


def confirm_and_prune(ctx: typer.Context, all_images: bool, force: bool, warning: str,
                      containers: bool = False) -> None:
    """``image prune`` and ``system prune`` (``containers``: stopped ones first): ask
    (unless ``-f``), prune, report."""
    from launcher import imageops

    if not force and not typer.confirm(f"{warning}\nAre you sure you want to continue?"):
        return
    paths = state_of(ctx.obj).paths()
    if containers:
        from launcher import containerops

        removed = containerops.prune(paths)
        if removed:
            sys.stdout.write("Deleted Containers:\n" + "".join(f"{c}\n" for c in removed)
                             + "\n")
    lines, report = imageops.prune(paths, all_images=all_images)
    print_prune(lines, report)


def print_prune(lines: list[tuple[str, str]], report: object) -> None:
    if lines:
        sys.stdout.write("Deleted Images:\n")
        for verb, what in lines:
            sys.stdout.write(f"{verb.lower()}: {what}\n")
        sys.stdout.write("\n")
    freed = int(getattr(report, "bytes_freed", 0))
    sys.stdout.write(f"Total reclaimed space: {fmt.size(freed)}\n")


def login(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument(metavar="[SERVER]", show_default=False)] = "docker.io",
    username: Annotated[str | None, typer.Option("-u", "--username", metavar="USER")] = None,
    password: Annotated[str | None, typer.Option("-p", "--password", metavar="PASS")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="Read the password from STDIN")] = False,
    tls_verify: TlsVerify = None,
) -> None:
    """Log in to a registry; credentials are kept in auth.json (mode 0600)."""
    from launcher import imageops

    username, password = _credentials(username, password, password_stdin)
    imageops.login(state_of(ctx.obj).paths(), server, username, password, _tls(tls_verify))
    sys.stdout.write("Login Succeeded\n")


def _credentials(user: str | None, password: str | None, from_stdin: bool) -> tuple[str, str]:
    if from_stdin:
        if password is not None:
            raise UsageError("--password and --password-stdin are mutually exclusive")
        if not user:
            raise UsageError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    interactive = sys.stdin.isatty()
    if not user:
        if not interactive:
            raise UsageError("Cannot perform an interactive login from a non TTY device")
        user = input("Username: ").strip()
    if password is None:
        if not interactive:
            raise UsageError("Cannot perform an interactive login from a non TTY device")
        import getpass

        password = getpass.getpass("Password: ")
    if not user or not password:
        raise UsageError("username and password are required")
    return user, password


def logout(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument(metavar="[SERVER]", show_default=False)] = "docker.io",
) -> None:
    """Forget the credentials of a registry."""
    from launcher import imageops

    domain, removed = imageops.logout(state_of(ctx.obj).paths(), server)
    if removed:
        sys.stdout.write(f"Removing login credentials for {domain}\n")
    else:
        sys.stdout.write(f"Not logged in to {domain}\n")


def image_import(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="ROOTFS.tar", show_default=False)],
    ref: Annotated[str, typer.Argument(metavar="NAME[:TAG]", show_default=False)],
) -> None:
    """Import a root filesystem tarball as an image; prints the image id."""
    from launcher import engine

    sys.stdout.write(engine.import_image(state_of(ctx.obj).paths(), source, ref) + "\n")


def register(root: typer.Typer) -> None:
    """Top-level Docker names, plus the ``image`` group."""
    top: list[tuple[str, Callable[..., None]]] = [
        ("pull", pull), ("push", push), ("images", images), ("rmi", rmi), ("tag", tag),
        ("save", save), ("load", load), ("login", login), ("logout", logout)]
    for name, func in top:
        root.command(name)(func)
    group: list[tuple[str, Callable[..., None]]] = [
        ("pull", pull), ("push", push), ("ls", images), ("list", images), ("rm", rmi),
        ("tag", tag), ("inspect", inspect), ("save", save), ("load", load), ("prune", prune),
        ("import", image_import)]
    for name, func in group:
        app.command(name, hidden=name == "list")(func)
    root.add_typer(app, name="image")
