"""``launcher cp`` through a machine, for host paths the machine does not share.

A host path inside a share is the same path in the guest: ``cp`` passes as it
is. Any other host path travels as a tar stream on the command's own channel
(no temporary copy on the host for a download, no SFTP session):

* host → container: the host packs SRC (``tarfile``; ``-L`` follows SRC itself
  when it is a symlink) into a temporary tar that becomes the command's stdin;
  the guest unpacks it into a private staging directory and runs ``cp`` from
  there, so Docker's rules (rename, ``/.``, trailing ``/``) are the native
  backend's own; the staging directory goes when ``cp`` ends.
* container → host: the guest runs ``cp CONTAINER:SRC -``; the host places the
  tar with Docker's rules (:func:`place`) through launcher's fd-relative
  extractor, refusing names that leave the destination and special files;
  owners are the caller's unless ``-a``. (Linux hosts; on macOS and Windows a
  download goes through a shared directory.)

Packing is portable (``tarfile`` reads the user's own files).
"""

from __future__ import annotations

import os

from launcher.errors import NotFoundError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import tarfile

    from launcher.vm.forward import Plan

SHORT = {"a": "archive", "L": "follow", "q": "quiet"}
LONG = {"--archive": "archive", "--follow-link": "follow", "--quiet": "quiet"}


def parse(words: list[str]) -> tuple[set[str], list[str]] | None:
    """(flags, [SRC, DST]) of ``cp``'s words after ``cp``; None when they are not
    plain (the guest's own ``cp`` reports the mistake)."""
    flags: set[str] = set()
    rest: list[str] = []
    for w in words:
        if rest or w == "-" or not w.startswith("-"):
            rest.append(w)
        elif w in LONG:
            flags.add(LONG[w])
        elif not w.startswith("--") and all(c in SHORT for c in w[1:]):
            flags.update(SHORT[c] for c in w[1:])
        else:
            return None
    return (flags, rest) if len(rest) == 2 else None


def plan(p: Plan, shared: object) -> None:
    """Rewrite ``p`` (a ``cp``) for paths outside the machine's shares;
    ``shared(path)`` says whether a host path is inside one."""
    got = parse(p.argv[1:])
    if got is None:
        return
    from launcher.cpargs import split_arg

    flags, (src, dst) = got
    src_ref, src_path = split_arg(src)
    dst_ref, dst_path = split_arg(dst)
    if bool(src_ref) == bool(dst_ref):
        return  # two containers or none: the guest says so
    if not src_ref:
        if src_path == "-":
            p.stdin_tty = True
        elif not shared(os.path.abspath(src_path)):  # type: ignore[operator]
            if not os.path.lexists(src_path):
                raise NotFoundError(f"lstat {src_path}: no such file or directory")
            p.upload = (src_path, "follow" in flags)
            p.stage = {"index": len(p.argv) - 2, "name": _name(src_path),
                       "suffix": _suffix(src_path), "owners": "archive" in flags}
    elif dst_path != "-" and not shared(os.path.abspath(dst_path)):  # type: ignore[operator]
        p.argv[-1] = "-"
        p.download = (dst_path, "archive" in flags)


def _name(path: str) -> str:
    return os.path.basename(os.path.normpath(os.path.abspath(path))) or "root"


def _suffix(path: str) -> str:
    if path.endswith(("/.", os.sep + ".")):
        return "/."
    return "/" if path.endswith(("/", os.sep)) else ""


def pack(src: str, follow: bool, out: str) -> None:
    """SRC as a tar whose top entry is SRC's name (``-L``: SRC's link target)."""
    import tarfile

    path = os.path.normpath(os.path.abspath(src))
    if follow or _suffix(src):
        path = os.path.realpath(path)
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(path, arcname=_name(src), recursive=True)


def place(tar_path: str, dst: str, archive: bool) -> None:
    """Extract the tar of ``cp CONTAINER:SRC -`` at host path ``dst`` with
    Docker's rules (see launcher.copyops), through launcher's fd-relative
    extractor (Linux; elsewhere such a copy goes through a shared directory)."""
    import sys
    import tarfile

    if not sys.platform.startswith("linux"):
        from launcher.errors import UnsupportedError

        raise UnsupportedError(f"cannot copy to {dst}: it is outside the machine's shares "
                               "(copy into a shared directory)")
    with tarfile.open(tar_path) as tar:  # headers only: refuse before writing anything
        members = tar.getmembers()
    if not members:
        return
    top = members[0].name.rstrip("/").split("/")[0]
    into, name = _target(dst, members[0].isdir(), top)

    def rename(m: tarfile.TarInfo) -> None:
        rest = m.name.rstrip("/")[len(top):]
        m.name = (rest.lstrip("/") or ".") if top == "." and name == "." else name + rest
        _safe([m])

    for m in members:
        rename(m)

    if name == ".":
        os.makedirs(into, exist_ok=True)  # SRC/. into a new directory DST
    from launcher.backend.linux.copyextract import extract_tar

    owner = None if archive else (os.getuid(), os.getgid())
    with open(tar_path, "rb") as stream:
        extract_tar(stream, into, owner, dst, rename)


def _target(dst: str, src_is_dir: bool, top: str) -> tuple[str, str]:
    """(directory to extract into, name for the top entry there)."""
    trailing = dst.endswith(("/", os.sep)) or dst.endswith(("/.", os.sep + "."))
    path = os.path.abspath(dst)
    if os.path.isdir(path):
        return (path, ".") if top == "." else (path, top)
    if os.path.lexists(path):
        if trailing:
            raise UsageError(f"{dst}: not a directory")
        if src_is_dir:
            raise UsageError(f"cannot copy a directory to a file: {dst} is a file")
        return os.path.dirname(path), os.path.basename(path)
    if not src_is_dir and trailing:
        raise NotFoundError(f"no such directory: {dst}")
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise NotFoundError(f"no such directory: {parent}")
    if top == ".":
        return path, "."
    return parent, os.path.basename(path)


def _safe(members: list[tarfile.TarInfo]) -> None:
    """Names stay below the target; no devices or absolute/climbing links."""
    for m in members:
        parts = m.name.split("/")
        bad = m.name.startswith("/") or ".." in parts
        if m.issym() or m.islnk():
            link = m.linkname
            bad = bad or (m.islnk() and (link.startswith("/") or ".." in link.split("/")))
        if m.isdev():
            bad = True
        if bad:
            raise UsageError(f"refusing to extract {m.name!r} from the machine's tar stream")
