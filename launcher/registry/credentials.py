"""Registry credentials in Docker's ``config.json`` format (podman's ``auth.json``)::

    {"auths": {"myregistry:5000": {"auth": "<base64 of user:password>"}}}

Entries are keyed by domain (``host[:port]``); keys written as URLs
(``https://index.docker.io/v1/``, as ``docker login`` does) are found too.
Other keys and fields in the file are kept as they are. The file is private:
created 0600 in a 0700 directory at open time, replaced atomically
(temporary file, fsync, rename), so a crash leaves the old or the new file.
Credential helpers (``credsStore``) are not supported.
"""

from __future__ import annotations

import base64
import binascii
import os

from launcher import fastjson, osflags
from launcher.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_FILE = 16 << 20
DOCKER_HUB_KEYS = ("docker.io", "https://index.docker.io/v1/", "index.docker.io",
                   "registry-1.docker.io")




def _fsync_dir(directory: str) -> None:
    """Make the rename durable (POSIX only: Windows cannot open a directory)."""
    flag = getattr(os, "O_DIRECTORY", None)
    if flag is None:
        return
    dfd = os.open(directory, os.O_RDONLY | flag | osflags.CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _key_domain(key: str) -> str:
    """An ``auths`` key as a domain: scheme and path dropped, lowercased host."""
    for scheme in ("https://", "http://"):
        if key.startswith(scheme):
            key = key[len(scheme) :]
    return key.split("/", 1)[0].lower()


def _aliases(domain: str) -> tuple[str, ...]:
    return DOCKER_HUB_KEYS if domain == "docker.io" else (domain,)


class CredentialStore:
    """The credentials file at ``path`` (read on each call: logins may change it)."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def get(self, domain: str) -> tuple[str, str] | None:
        """(username, password) stored for ``domain``, or None."""
        auths = self._auths(self._read())
        wanted = _aliases(domain)
        for key in wanted:
            if key in auths:
                return self._decode(key, auths[key])
        for key, entry in auths.items():
            if _key_domain(key) in wanted:
                return self._decode(key, entry)
        return None

    def set(self, domain: str, username: str, password: str) -> None:
        """Store credentials for ``domain`` (replacing any under its aliases)."""
        if not username or ":" in username:
            raise UsageError("the username must be non-empty and may not contain ':'")
        doc = self._read()
        auths = self._auths(doc)
        for key in self._matching(auths, domain):
            del auths[key]
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        auths[domain] = {"auth": token}
        doc["auths"] = auths
        self._write(doc)

    def remove(self, domain: str) -> bool:
        """Forget ``domain``'s credentials; False if there were none."""
        doc = self._read()
        auths = self._auths(doc)
        keys = self._matching(auths, domain)
        if not keys:
            return False
        for key in keys:
            del auths[key]
        doc["auths"] = auths
        self._write(doc)
        return True

    # -- file handling ---------------------------------------------------------------

    def _matching(self, auths: dict[str, Any], domain: str) -> list[str]:
        wanted = _aliases(domain)
        return [key for key in auths if key in wanted or _key_domain(key) in wanted]

    def _bad(self, why: str) -> UsageError:
        return UsageError(f"{self.path}: invalid credentials file: {why}")

    def _read(self) -> dict[str, Any]:
        try:
            with open(self.path, "rb") as f:
                data = f.read(MAX_FILE + 1)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise UsageError(f"{self.path}: cannot read credentials: {exc.strerror}") from None
        if len(data) > MAX_FILE:
            raise self._bad(f"larger than {MAX_FILE >> 20} MiB")
        if not data.strip():
            return {}
        try:
            doc = fastjson.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self._bad(f"not JSON ({exc})") from None
        if type(doc) is not dict:
            raise self._bad("not a JSON object")
        return doc

    def _auths(self, doc: dict[str, Any]) -> dict[str, Any]:
        auths = doc.get("auths", {})
        if type(auths) is not dict:
            raise self._bad("'auths' is not an object")
        return auths

    def _decode(self, key: str, entry: object) -> tuple[str, str] | None:
        if type(entry) is not dict:
            raise self._bad(f"entry {key!r} is not an object")
        auth = entry.get("auth")
        if not auth:
            user, password = entry.get("username"), entry.get("password")
            if type(user) is str and type(password) is str and user:
                return user, password
            return None  # e.g. an identity-token entry: not usable here
        try:
            text = base64.b64decode(str(auth), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise self._bad(f"entry {key!r}: 'auth' is not base64 of user:password") from None
        user, colon, password = text.partition(":")
        if not colon or not user:
            raise self._bad(f"entry {key!r}: 'auth' is not base64 of user:password")
        return user, password

    def _write(self, doc: dict[str, Any]) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        tmp = os.path.join(directory, f".{os.path.basename(self.path)}.{os.getpid()}.tmp")
        data = (fastjson.dumps(doc, indent=2) + "\n").encode()
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | osflags.NOFOLLOW
                         | osflags.CLOEXEC,
                         0o600)
            try:
                if hasattr(os, "fchmod"):  # an old tmp left by a crash may have another mode
                    os.fchmod(fd, 0o600)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            _fsync_dir(directory)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise UsageError(f"{self.path}: cannot write credentials: {exc.strerror}") from None
