"""Images built to hurt the host that runs them (SECURITY.md's "Images" list):
``/proc``, ``/sys`` or ``/dev`` as symlinks, ``/etc/passwd`` as a symlink to
``/dev/zero``, a FIFO or a 5 MiB file, ``Volumes`` and ``WorkingDir`` with
``..`` or through symlinks towards a host directory, ``User`` 2147483648 and
ids past the unsigned 32-bit range.

tests/unit/spec/test_image_config.py and tests/unit/image/test_userdb.py check
the parsers; tests/integration/runtime/test_runtime_bad_input.py feeds a bundle
with a /proc symlink to the runtime. Here each case is an image brought in with
``launcher load`` and run (or exec'd into) through the CLI, so the whole path
from image config to mounts is what is tested.

Every case: the exact outcome (the container's view, or exit 125 with one
``launcher:`` line), no hang (a FIFO or /dev/zero never blocks the CLI), the
mounts inside the rootfs (host /dev and a host decoy directory the images
aim at are unchanged), and nothing left behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.attacks.kit import (
    HANG_TIMEOUT,
    Detached,
    HostFiles,
    Sentinel,
    assert_refused,
    busybox_base,
    load_ok,
)
from tests.integration.cli.conftest import Cli, wait_for
from tests.integration.image import ocibuild
from tests.integration.image.layertar import Entry, dir_, fifo, file, symlink

STATUS_IDS = "grep -E '^(Uid|Gid):' /proc/self/status | tr -s '\\t' ' '"


def _base(*replace: Entry) -> list[Entry]:
    """Busybox's base layer with the entries of the same names replaced."""
    names = {e.name for e in replace}
    return [e for e in busybox_base() if e.name not in names] + list(replace)


def _images(decoy: Path) -> dict[str, tuple[list[list[Entry]], dict[str, object]]]:
    """name -> (layers, config). ``decoy`` is a host directory the images aim at."""
    return {
        "proc-to-root": ([_base(symlink("proc", "/"))], {}),
        "proc-up-and-out": ([_base(symlink("proc", "../../../../proc"))], {}),
        "sys-to-tmp": ([_base(symlink("sys", "/tmp"))], {}),
        "dev-inside": ([_base(dir_("devdir"), symlink("dev", "/devdir"))], {}),
        "dev-to-root": ([_base(symlink("dev", "/"))], {}),
        "dev-to-proc": ([_base(symlink("dev", "/proc"))], {}),
        "dev-up-and-out": ([_base(symlink("dev", "../../../../../../dev"))], {}),
        "dev-to-host": ([_base(symlink("dev", str(decoy)))], {}),
        "dev-file": ([_base(file("dev", "x"))], {}),
        "passwd-zero": ([_base(symlink("etc/passwd", "/dev/zero"))], {}),
        "passwd-fifo": ([_base(fifo("etc/passwd"))], {}),
        "passwd-huge": ([_base(file("etc/passwd", b"#" * (5 << 20)))], {}),
        "group-fifo": ([_base(fifo("etc/group"))], {}),
        "user-app-fifo": ([_base(fifo("etc/passwd"))], {"User": "app"}),
        "vol-dotdot": ([busybox_base()], {"Volumes": {"/data/../../etc": {}}}),
        "vol-relative": ([busybox_base()], {"Volumes": {"data": {}}}),
        "vol-symlink": ([busybox_base(), [symlink("data", str(decoy))]],
                        {"Volumes": {"/data/sub": {}}}),
        "wd-dotdot": ([busybox_base()], {"WorkingDir": f"/../../../..{decoy}/wd"}),
        "wd-relative": ([busybox_base()], {"WorkingDir": f"wd/../../../..{decoy}/wd"}),
        "wd-symlink": ([busybox_base(), [symlink("wdlink", str(decoy))]],
                       {"WorkingDir": "/wdlink/sub"}),
        "wd-magic-link": ([busybox_base()], {"WorkingDir": "/proc/self/fd/3"}),
        "user-2147483648": ([busybox_base()], {"User": "2147483648"}),
        "user-4294967294": ([busybox_base()], {"User": "4294967294"}),
        "user-4294967295": ([busybox_base()], {"User": "4294967295"}),
        "user-4294967296": ([busybox_base()], {"User": "4294967296"}),
        "user-minus-1": ([busybox_base()], {"User": "-1"}),
        "gid-2147483648": ([busybox_base()], {"User": "1000:2147483648"}),
    }


class Loaded:
    __slots__ = ("decoy",)

    def __init__(self, decoy: Sentinel) -> None:
        self.decoy = decoy


@pytest.fixture(scope="module")
def loaded(cli_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """Every image, in one layout, loaded once; the decoy they aim at."""
    decoy = Sentinel(tmp_path_factory.mktemp("poisoned") / "decoy")
    layout = tmp_path_factory.mktemp("poisoned-layout") / "layout"
    for name, (layers, config) in _images(decoy.dir).items():
        ocibuild.build_image(str(layout), _ref(name), layers, config_extra=config,
                             compression="none")
    load_ok(Cli(cli_root), layout)
    return Loaded(decoy)


def _ref(name: str) -> str:
    return f"attacks/{name}:1"


def _host_dev() -> tuple[list[str], list[str]]:
    """/dev's entries and the mount points under it, as the host sees them."""
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        points = sorted(ln.split()[4] for ln in f if ln.split()[4].startswith("/dev"))
    return sorted(os.listdir("/dev")), points


@pytest.fixture
def guard(loaded: Loaded, sentinel: Sentinel, host_files: HostFiles) -> object:
    """Checks after the test: the decoy, the sentinel, host /dev, host files."""
    before = _host_dev()
    yield None
    loaded.decoy.check()
    sentinel.check()
    host_files.check()
    assert _host_dev() == before


MOUNT_POINTS_REFUSED = [
    ("proc-to-root", "/proc must be mounted on ordinary directory: in the rootfs it is not a "
                     "plain directory (symbolic link not allowed here)"),
    ("proc-up-and-out", "/proc must be mounted on ordinary directory: in the rootfs it is not "
                        "a plain directory (symbolic link not allowed here)"),
    ("sys-to-tmp", "/sys must be mounted on ordinary directory: in the rootfs it is not a "
                   "plain directory (symbolic link not allowed here)"),
    ("dev-to-root", "No such file or directory: /dev/null"),  # /dev's tmpfs hid the root
    ("dev-to-proc", "masking /sys/firmware: mount tmpfs on /proc/self/fd/"),  # ... hid /proc
    ("dev-up-and-out", "mount destination /dev: Too many levels of symbolic links"),
    ("dev-file", "mount destination /dev: Not a directory"),
    # A host path means that path inside the rootfs, which is not there.
    ("dev-to-host", "mount destination /dev: No such file or directory"),
]


@pytest.mark.parametrize(("image", "error"), MOUNT_POINTS_REFUSED,
                         ids=[c for c, _ in MOUNT_POINTS_REFUSED])
def test_mount_points_that_are_not_directories(cli: Cli, guard: object, image: str,
                                               error: str) -> None:
    res = cli.run("run", "--rm", _ref(image), "true", timeout=HANG_TIMEOUT)
    assert_refused(res, f"launcher: {error}")


def test_dev_symlink_gets_its_tmpfs_inside_the_rootfs(cli: Cli, guard: object) -> None:
    res = cli.run("run", "--rm", _ref("dev-inside"), "sh", "-c",
                  "busybox readlink /dev; ls /devdir | busybox tr '\\n' ' '; "
                  "echo hi > /dev/null && busybox head -c 3 /dev/zero | busybox od -An -tx1")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        "/devdir",
        "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero  00 00 00"]


PASSWD_BY_NAME = [
    ("passwd-zero", "app", "/etc/passwd is a symlink; refusing to follow it"),
    ("passwd-fifo", "app", "/etc/passwd is not a regular file"),
    ("passwd-huge", "app:app", "/etc/passwd is larger than 4194304 bytes"),
    ("group-fifo", "app", "/etc/group is not a regular file"),
    ("group-fifo", "1000:app", "/etc/group is not a regular file"),
]


@pytest.mark.parametrize(("image", "user", "error"), PASSWD_BY_NAME,
                         ids=[f"{i}-{u}" for i, u, _ in PASSWD_BY_NAME])
def test_user_names_against_hostile_passwd_files(cli: Cli, guard: object, image: str,
                                                 user: str, error: str) -> None:
    """Never opened, never read past the cap, never a hang: one clear line."""
    res = cli.run("run", "--rm", "-u", user, _ref(image), "true", timeout=HANG_TIMEOUT)
    line = assert_refused(res, "/storage/layers/")
    assert line.endswith(error), line


def test_image_user_against_a_fifo_passwd(cli: Cli, guard: object) -> None:
    res = cli.run("run", "--rm", _ref("user-app-fifo"), "true", timeout=HANG_TIMEOUT)
    line = assert_refused(res)
    assert line.endswith("/etc/passwd is not a regular file"), line


@pytest.mark.parametrize(("image", "home"), [("passwd-zero", "/"), ("passwd-fifo", "/"),
                                             ("passwd-huge", "/"), ("group-fifo", "/root")])
def test_numeric_users_need_no_passwd(cli: Cli, guard: object, image: str, home: str) -> None:
    """Root (the default) and a numeric uid run; HOME's lookup in passwd does not
    block or follow the link either (it falls back to /)."""
    res = cli.run("run", "--rm", _ref(image), "sh", "-c", f"{STATUS_IDS}; echo $HOME",
                  timeout=HANG_TIMEOUT)
    assert (res.returncode, res.stdout) == (0, f"Uid: 0 0 0 0\nGid: 0 0 0 0\n{home}\n"), \
        res.stderr
    res = cli.run("run", "--rm", "-u", "1000", _ref(image), "sh", "-c", STATUS_IDS,
                  timeout=HANG_TIMEOUT)
    assert (res.returncode, res.stdout) == (0, "Uid: 1000 1000 1000 1000\nGid: 0 0 0 0\n")


def test_exec_against_hostile_passwd_files(cli: Cli, guard: object) -> None:
    """``exec -u`` reads the running container's files: the same rules, no hang."""
    name = "atk-passwd-fifo"
    res = cli.run("run", "-d", "--name", name, _ref("passwd-fifo"), "sleep", "60")
    assert res.returncode == 0, res.stderr
    try:
        wait_for(lambda: cli.run("exec", name, "true").returncode == 0)
        res = cli.run("exec", "-u", "app", name, "true", timeout=HANG_TIMEOUT)
        line = assert_refused(res)
        assert line.endswith("/etc/passwd is not a regular file"), line
        res = cli.run("exec", "-u", "1000", name, "sh", "-c", f"{STATUS_IDS}; echo $HOME",
                      timeout=HANG_TIMEOUT)
        assert (res.returncode, res.stdout) == (0, "Uid: 1000 1000 1000 1000\nGid: 0 0 0 0\n/\n")
    finally:
        cli.run("rm", "-f", name)


def test_exec_user_ids_out_of_range_are_refused(cli: Cli, guard: object) -> None:
    """As ``run -u`` does: (uid_t)-1 means "leave unchanged" to setresuid, so it
    would run the process as root; 2**32 must not reach the kernel either."""
    users = ["4294967295", "4294967295:4294967295", "0:4294967295", "4294967296"]
    got = {}
    with Detached(cli, "atk-exec-uid", "busybox", "sleep", "60") as c:
        for user in users:
            res = c.exec("-u", user, "--", "sh", "-c", STATUS_IDS)
            got[user] = (res.returncode, res.stdout or res.stderr.strip())
    want = {u: (125, f'launcher: invalid argument "{u}" for "-u, --user" flag: id '
                     f'{max(u.split(":"), key=int)} is out of range (0-4294967294)')
            for u in users}
    assert got == want


VOLUMES_REFUSED = [
    ("vol-dotdot", "launcher: image config: Volumes: '/data/../../etc' must name a directory "
                   "below / without '.' or '..'"),
    ("vol-relative", "launcher: image config: Volumes: 'data' is not an absolute path"),
    ("vol-symlink", "launcher: image volume /data/sub: /data is a symlink in a layer; "
                    "refusing to follow it"),
]


@pytest.mark.parametrize(("image", "error"), VOLUMES_REFUSED, ids=[c for c, _ in VOLUMES_REFUSED])
def test_volumes_with_dotdot_or_symlinks(cli: Cli, guard: object, image: str,
                                         error: str) -> None:
    res = cli.run("run", "--rm", _ref(image), "true", timeout=HANG_TIMEOUT)
    assert assert_refused(res) == error


def test_working_dirs_stay_in_the_rootfs(cli: Cli, guard: object, loaded: Loaded) -> None:
    decoy = loaded.decoy.dir
    res = cli.run("run", "--rm", _ref("wd-dotdot"), "sh", "-c", "pwd; ls -a | busybox wc -l")
    assert (res.returncode, res.stdout) == (0, f"{decoy}/wd\n2\n"), res.stderr  # made inside
    res = cli.run("run", "--rm", _ref("wd-relative"), "true")
    assert assert_refused(res) == (f"launcher: image WorkingDir 'wd/../../../..{decoy}/wd' "
                                   "must be an absolute path")
    # A symlink to a host path means that path inside the rootfs, which is not there.
    res = cli.run("run", "--rm", _ref("wd-symlink"), "true")
    assert assert_refused(res) == ("launcher: working directory /wdlink/sub: No such file or "
                                   "directory")
    res = cli.run("run", "--rm", _ref("wd-magic-link"), "true")
    assert assert_refused(res) == ("launcher: working directory /proc/self/fd/3: Too many "
                                   "levels of symbolic links")


USERS = [
    ("user-2147483648", "Uid: 2147483648 2147483648 2147483648 2147483648\nGid: 0 0 0 0\n"),
    ("user-4294967294", "Uid: 4294967294 4294967294 4294967294 4294967294\nGid: 0 0 0 0\n"),
    ("gid-2147483648", "Uid: 1000 1000 1000 1000\nGid: 2147483648 2147483648 2147483648 "
                       "2147483648\n"),
    ("user-4294967295", "launcher: user id 4294967295 is out of range (0..4294967294)"),
    ("user-4294967296", "launcher: user id 4294967296 is out of range (0..4294967294)"),
    ("user-minus-1", "launcher: invalid uid '-1': must be 0..4294967294"),
]


@pytest.mark.parametrize(("image", "want"), USERS, ids=[c for c, _ in USERS])
def test_user_ids_are_unsigned_32_bit_never_root(cli: Cli, guard: object, image: str,
                                                 want: str) -> None:
    res = cli.run("run", "--rm", _ref(image), "sh", "-c", STATUS_IDS, timeout=HANG_TIMEOUT)
    if want.startswith("launcher: "):
        assert assert_refused(res) == want
    else:
        assert (res.returncode, res.stdout) == (0, want), res.stderr
