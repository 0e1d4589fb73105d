"""clone3(CLONE_INTO_CGROUP) on the real cgroup2 hierarchy of this host."""

import os

import pytest

from launcher.backend.linux import clone
from launcher.host import cgroup_layout

pytestmark = pytest.mark.root


def _cgroup2_root() -> str | None:
    layout = cgroup_layout()
    return {"v2": "/sys/fs/cgroup", "hybrid": "/sys/fs/cgroup/unified"}.get(layout)


def test_child_is_born_in_the_cgroup() -> None:
    root = _cgroup2_root()
    if root is None:
        pytest.skip("no cgroup2 hierarchy on this host")
    d = os.path.join(root, f"launcher-test-clone-{os.getpid()}")
    os.mkdir(d)
    try:
        r, w = os.pipe()
        pid, born = clone.fork_into_cgroup(d)
        if pid == 0:
            os.close(r)
            with open("/proc/self/cgroup", "rb") as f:
                os.write(w, f.read())
            os._exit(0)
        os.close(w)
        data = b""
        while chunk := os.read(r, 4096):
            data += chunk
        os.close(r)
        os.waitpid(pid, 0)
        assert born is True
        line = next(ln for ln in data.decode().splitlines() if ln.startswith("0::"))
        assert line.endswith(os.path.basename(d))
    finally:
        os.rmdir(d)
