"""Resolve ``docker run -u`` against the image's /etc/passwd and /etc/group.

Forms: ``uid``, ``uid:gid``, ``name``, ``name:group``, ``uid:group``,
``name:gid`` (and empty: the image default, root). Semantics as Docker's:

* a numeric user is a uid even when passwd has no entry (gid then 0);
  a name must exist in passwd;
* with no explicit group, the gid is the passwd entry's and the additional
  gids are the groups listing the user name as a member;
* an explicit group (numeric or a name that must exist) replaces the gid
  and adds no additional groups.

The files are never looked up through NSS or any program from the image
(SECURITY.md rule 3): each is opened inside the rootfs component by
component with O_NOFOLLOW (a symlink anywhere on the way is refused), must be
a regular file (checked on an O_PATH fd before any real open, so a FIFO or a
device never blocks or gets opened), at most 4 MiB, and is parsed by hand.
Numeric ids are unsigned 32-bit, 0..4294967294, never wrapped to 0.

``*_in_layers`` read the files straight from the layer directories with
overlay rules (top-most layer wins; a whiteout, an opaque directory or a
non-directory on the way hides what lies below), for a host process that
never sees the container's rootfs mount.
"""

from __future__ import annotations

import errno
import os
import stat

from launcher.errors import ImageError, UsageError
from launcher.image import resolve

MAX_FILE = 4 << 20
MAX_ID = 2**32 - 2
_OPATH = getattr(os, "O_PATH", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


class ExecUser:
    """The resolved user: ids for setresuid/setgroups and the passwd home."""

    __slots__ = ("additional_gids", "gid", "home", "uid")

    def __init__(self, uid: int, gid: int, additional_gids: list[int], home: str) -> None:
        self.uid = uid
        self.gid = gid
        self.additional_gids = additional_gids
        self.home = home

    def __repr__(self) -> str:
        return f"ExecUser({self.uid}, {self.gid}, {self.additional_gids}, {self.home!r})"


def resolve_user(rootfs: str, spec: str | None) -> tuple[int, int, list[int]]:
    """``(uid, gid, additional_gids)`` for ``-u spec`` in the image at ``rootfs``."""
    u = lookup_user(rootfs, spec)
    return u.uid, u.gid, u.additional_gids


def lookup_user(rootfs: str, spec: str | None) -> ExecUser:
    """Resolve ``spec`` against the files of a mounted (or copied) rootfs."""
    root = resolve.open_root(rootfs)
    try:
        return _lookup(spec, lambda parts: _read(root, parts, rootfs))
    finally:
        os.close(root)


def resolve_user_in_layers(layer_dirs: list[str], spec: str | None) -> tuple[int, int, list[int]]:
    """As :func:`resolve_user`, reading the files through the layer directories
    (base first) as their overlay would show them: for a host process that
    never sees the container's rootfs mount."""
    u = lookup_user_in_layers(layer_dirs, spec)
    return u.uid, u.gid, u.additional_gids


def lookup_user_in_layers(layer_dirs: list[str], spec: str | None) -> ExecUser:
    return _lookup(spec, lambda parts: _read_layers(layer_dirs, parts))


def _lookup(spec: str | None, read: Callable[[list[str]], bytes | None]) -> ExecUser:
    user, _, group = (spec or "").partition(":")
    if spec and not user:
        raise UsageError(f"invalid user {spec!r}: empty user name")
    if ":" in group:
        raise UsageError(f"invalid user {spec!r}: too many ':'")
    uid_arg = _number(user, "uid") if user else None
    passwd = read(["etc", "passwd"])
    groups = read(["etc", "group"]) if group or passwd is not None else None
    entry = _find_passwd(passwd or b"", user, uid_arg)
    if entry is None and user and uid_arg is None:
        raise UsageError(f"unable to find user {user}: no matching entries in passwd file")
    if entry is not None:
        name, uid, gid, home = entry
    else:
        name, uid, gid, home = "", (uid_arg or 0), 0, "/"
    extra: list[int] = []
    if group:
        gid = _resolve_group(groups or b"", group)
    elif name:
        extra = _member_gids(groups or b"", name)
    return ExecUser(uid, gid, extra, home)


def _number(text: str, what: str) -> int | None:
    """An ASCII decimal id in range, None for a name; int() alone would take
    '+1', ' 1', '1_0' and non-ASCII digits."""
    if not (text.isascii() and text.isdigit()):
        if text[:1] == "-" and text[1:].isascii() and text[1:].isdigit():
            raise UsageError(f"invalid {what} {text!r}: must be 0..{MAX_ID}")
        return None
    value = int(text)
    if value > MAX_ID:
        raise UsageError(f"invalid {what} {text!r}: must be 0..{MAX_ID}")
    return value


def _read(root: int, parts: list[str], rootfs: str) -> bytes | None:
    """The bytes of a small regular file inside ``root``; None if absent."""
    shown = os.path.join(rootfs, *parts)
    try:
        pfd = resolve.open_in_root(root, parts, _OPATH | os.O_NOFOLLOW, follow=False)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ImageError(f"{shown}: a symlink on the way; refusing to follow it") from None
        raise ImageError(f"cannot open {shown}: {exc.strerror}") from None
    return _read_opath(pfd, shown)


def _read_opath(pfd: int, shown: str) -> bytes:
    """Read the regular file behind an O_PATH fd (closed here), size-capped."""
    try:
        st = os.fstat(pfd)
        if stat.S_ISLNK(st.st_mode):
            raise ImageError(f"{shown} is a symlink; refusing to follow it")
        if not stat.S_ISREG(st.st_mode):
            raise ImageError(f"{shown} is not a regular file")
        if st.st_size > MAX_FILE:
            raise ImageError(f"{shown} is larger than {MAX_FILE} bytes")
        # reopen the very inode we checked; O_PATH fds cannot be read
        fd = os.open(f"/proc/self/fd/{pfd}", os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        raise ImageError(f"cannot read {shown}: {exc.strerror}") from None
    finally:
        os.close(pfd)
    try:
        data = os.read(fd, MAX_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE:
        raise ImageError(f"{shown} is larger than {MAX_FILE} bytes")
    return data


def _read_layers(layer_dirs: list[str], parts: list[str]) -> bytes | None:
    """The file as the overlay of ``layer_dirs`` (base first) shows it: the
    top-most layer that has it, unless a whiteout or an opaque dir hides it."""
    for layer in reversed(layer_dirs):
        shown = os.path.join(layer, *parts)
        root = resolve.open_root(layer)
        try:
            state, pfd = _probe_layer(root, parts, shown)
        except OSError as exc:
            raise ImageError(f"cannot open {shown}: {exc.strerror}") from None
        finally:
            os.close(root)
        if pfd is not None:
            return _read_opath(pfd, shown)
        if state == "hidden":
            return None
    return None


def _probe_layer(root: int, parts: list[str], shown: str) -> tuple[str, int | None]:
    """("found", O_PATH fd) | ("hidden", None) | ("absent", None) in one layer."""
    fd = os.dup(root)
    opaque = False
    try:
        for i, comp in enumerate(parts):
            try:
                st = os.stat(comp, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return ("hidden" if opaque else "absent"), None
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return "hidden", None  # overlay whiteout
            if i == len(parts) - 1:
                return "found", os.open(comp, _OPATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            if stat.S_ISLNK(st.st_mode):
                raise ImageError(f"{shown}: a symlink on the way; refusing to follow it")
            if not stat.S_ISDIR(st.st_mode):
                return "hidden", None  # a file here hides lower directories
            sub = os.open(comp, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = sub
            opaque = opaque or _xattr(fd, "trusted.overlay.opaque") == b"y"
        return "absent", None
    finally:
        os.close(fd)


def _xattr(fd: int, name: str) -> bytes | None:
    try:
        return os.getxattr(fd, name)
    except OSError:
        return None


def _lines(data: bytes) -> list[list[str]]:
    """Colon-split fields of each entry line (comments and NIS +/- lines skipped)."""
    out = []
    for raw in data.decode("utf-8", "replace").split("\n"):
        line = raw.strip()
        if line and line[0] not in "#+-":
            out.append(line.split(":"))
    return out


def _id_field(fields: list[str], i: int) -> int | None:
    """A well-formed id field, else None (the line is skipped, never read as 0)."""
    if len(fields) <= i:
        return None
    text = fields[i]
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        return None
    return int(text)


def _find_passwd(data: bytes, user: str, uid_arg: int | None) -> tuple[str, int, int, str] | None:
    """First passwd entry for a uid / name (the empty spec means uid 0)."""
    want_uid = uid_arg if user else 0
    for f in _lines(data):
        uid, gid = _id_field(f, 2), _id_field(f, 3)
        if uid is None or gid is None:
            continue
        hit = uid == want_uid if (uid_arg is not None or not user) else f[0] == user
        if hit:
            home = f[5] if len(f) > 5 and f[5] else "/"
            return f[0], uid, gid, home
    return None


def _resolve_group(data: bytes, group: str) -> int:
    gid_arg = _number(group, "gid")
    for f in _lines(data):
        gid = _id_field(f, 2)
        if gid is None:
            continue
        if (gid == gid_arg) if gid_arg is not None else (f[0] == group):
            return gid
    if gid_arg is None:
        raise UsageError(f"unable to find group {group}: no matching entries in group file")
    return gid_arg


def _member_gids(data: bytes, name: str) -> list[int]:
    out: list[int] = []
    for f in _lines(data):
        gid = _id_field(f, 2)
        if gid is None or len(f) < 4:
            continue
        members = [m.strip() for m in f[3].split(",")]
        if name in members and gid not in out:
            out.append(gid)
    return out
