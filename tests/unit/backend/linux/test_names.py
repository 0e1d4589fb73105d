"""Name claims: atomic, stale ones taken over, pruned (no root)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from launcher.backend.linux import layout, names
from launcher.errors import ConflictError
from launcher.paths import Paths

A, B = "a" * 64, "b" * 64


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths.from_root(str(tmp_path / "root"))


def test_claim_then_conflict_while_the_owner_exists(paths: Paths) -> None:
    layout.make_bundle_dir(paths, A)
    link = names.claim(paths, "web", A)
    assert os.readlink(link) == A
    with pytest.raises(ConflictError, match=f'"web" is already in use by container "{A}"'):
        names.claim(paths, "web", B)


def test_a_stale_claim_is_taken_over(paths: Paths) -> None:
    names.claim(paths, "web", A)  # its bundle never came to be: the creator died
    assert os.readlink(names.claim(paths, "web", B)) == B


def test_prune_stale_keeps_live_names(paths: Paths) -> None:
    layout.make_bundle_dir(paths, A)
    names.claim(paths, "live", A)
    names.claim(paths, "dead", B)
    assert names.prune_stale(paths) == ["dead"]
    assert sorted(os.listdir(names.names_dir(paths))) == ["live"]


def test_prune_stale_without_a_names_dir(paths: Paths) -> None:
    assert names.prune_stale(paths) == []


def test_creation_lock_is_seen_until_closed(paths: Paths) -> None:
    bundle, fd = layout.make_bundle_dir(paths, A)
    assert layout.being_created(bundle)
    os.close(fd)
    assert not layout.being_created(bundle)
    assert not layout.being_created(bundle + "-missing")
