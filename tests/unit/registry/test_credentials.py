from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from launcher.errors import UsageError
from launcher.registry.credentials import CredentialStore


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_set_get_remove_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "config" / "auth.json"
    store = CredentialStore(str(path))
    assert store.get("example.com") is None
    assert store.remove("example.com") is False
    store.set("example.com:5000", "alice", "s3cr:et")
    assert store.get("example.com:5000") == ("alice", "s3cr:et")
    assert store.get("example.com") is None
    doc = json.loads(path.read_text())
    assert doc == {"auths": {"example.com:5000": {"auth": _auth("alice", "s3cr:et")}}}
    assert store.remove("example.com:5000") is True
    assert store.get("example.com:5000") is None
    assert store.remove("example.com:5000") is False


def test_file_and_directory_are_private(tmp_path: Path) -> None:
    path = tmp_path / "config" / "auth.json"
    old = os.umask(0)
    try:
        CredentialStore(str(path)).set("example.com", "alice", "pw")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert os.listdir(path.parent) == ["auth.json"]  # no temporary file left


def test_rewrite_keeps_unknown_keys_and_other_entries(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({
        "auths": {"other.io": {"auth": _auth("bob", "x"), "email": "b@o.b"}},
        "credHelpers": {"gcr.io": "gcloud"},
        "HttpHeaders": {"X-Meta": "1"},
    }))
    path.chmod(0o644)
    store = CredentialStore(str(path))
    store.set("example.com", "alice", "pw")
    doc = json.loads(path.read_text())
    assert doc["credHelpers"] == {"gcr.io": "gcloud"}
    assert doc["HttpHeaders"] == {"X-Meta": "1"}
    assert doc["auths"]["other.io"]["email"] == "b@o.b"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the replacement is private


def test_docker_hub_aliases(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {
        "auth": _auth("hubuser", "pw")}}}))
    store = CredentialStore(str(path))
    assert store.get("docker.io") == ("hubuser", "pw")
    store.set("docker.io", "hubuser", "new")  # replaces the alias, one entry remains
    assert json.loads(path.read_text())["auths"] == {"docker.io": {"auth": _auth("hubuser", "new")}}
    assert store.get("docker.io") == ("hubuser", "new")
    assert store.remove("docker.io") and store.get("docker.io") is None


def test_url_keys_and_plain_fields(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {
        "https://registry.example.com/v2/": {"auth": _auth("a", "b")},
        "legacy.example.com": {"username": "u", "password": "p"},
        "token.example.com": {"identitytoken": "opaque"},
    }}))
    store = CredentialStore(str(path))
    assert store.get("registry.example.com") == ("a", "b")
    assert store.get("legacy.example.com") == ("u", "p")
    assert store.get("token.example.com") is None


@pytest.mark.parametrize("content", [
    "{not json",
    "[]",
    '{"auths": []}',
    '{"auths": {"example.com": "x"}}',
    '{"auths": {"example.com": {"auth": "%%%"}}}',
    '{"auths": {"example.com": {"auth": "' + base64.b64encode(b"nocolon").decode() + '"}}}',
])
def test_corrupt_file_is_a_usage_error_naming_it(tmp_path: Path, content: str) -> None:
    path = tmp_path / "auth.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=r"auth\.json"):
        CredentialStore(str(path)).get("example.com")


def test_corrupt_file_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text("{not json")
    with pytest.raises(UsageError, match=r"auth\.json"):
        CredentialStore(str(path)).set("example.com", "a", "b")
    assert path.read_text() == "{not json"


def test_empty_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text("")
    assert CredentialStore(str(path)).get("example.com") is None


def test_username_with_colon_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        CredentialStore(str(tmp_path / "auth.json")).set("example.com", "a:b", "c")
