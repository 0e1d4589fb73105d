"""build_spec: one test (or table) per rule in the module docstring."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from launcher.errors import ImageError, UsageError
from launcher.spec import build
from launcher.spec.caps import PODMAN_DEFAULT_CAPS
from launcher.spec.defaults import DEFAULT_PATH
from launcher.spec.image_config import ImageConfig
from launcher.spec.model import Process, Spec
from launcher.spec.request import RunRequest
from launcher.spec.validate import problems

CID = "0123456789abcdef0123"
IMAGE = ImageConfig(
    env=["PATH=/image/bin", "LANG=C.UTF-8"],
    entrypoint=["/entry"],
    cmd=["serve", "--port=80"],
    working_dir="/srv",
    stop_signal="SIGQUIT",
)


def make(
    req: RunRequest | None = None,
    image: ImageConfig | None = None,
    environ: dict[str, str] | None = None,
    **kw: Any,
) -> Spec:
    kw.setdefault("host_nofile_hard", 1048576)
    return build.build_spec(
        req or RunRequest("nginx"), image or IMAGE, container_id=kw.pop("container_id", CID),
        rootfs="/var/lib/launcher/rootfs", environ=environ or {}, **kw
    )  # fmt: skip


def proc(spec: Spec) -> Process:
    assert spec.process is not None
    return spec.process


# -- args ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "entrypoint", "image", "args"),
    [
        ([], None, IMAGE, ["/entry", "serve", "--port=80"]),
        (["x", "y"], None, IMAGE, ["/entry", "x", "y"]),
        ([], "/bin/sh", IMAGE, ["/bin/sh"]),
        (["-c", "id"], "/bin/sh", IMAGE, ["/bin/sh", "-c", "id"]),
        (["ls", "/"], "", IMAGE, ["ls", "/"]),
        ([], None, ImageConfig(cmd=["sh"]), ["sh"]),
        (["echo"], None, ImageConfig(cmd=["sh"]), ["echo"]),
        ([], None, ImageConfig(entrypoint=["/e"]), ["/e"]),
        ([], None, ImageConfig(entrypoint=[], cmd=["sh"]), ["sh"]),
    ],
)
def test_args(command: list[str], entrypoint: str | None, image: ImageConfig,
              args: list[str]) -> None:  # fmt: skip
    req = RunRequest("img", command, entrypoint=entrypoint)
    assert proc(make(req, image)).args == args


@pytest.mark.parametrize(
    ("command", "entrypoint", "image"),
    [
        ([], None, ImageConfig()),
        ([], "", IMAGE),  # --entrypoint "" clears it and drops the image Cmd: nothing left
        ([], None, ImageConfig(entrypoint=[], cmd=[])),
    ],
)
def test_no_command(command: list[str], entrypoint: str | None, image: ImageConfig) -> None:
    with pytest.raises(UsageError, match="no command specified"):
        make(RunRequest("img", command, entrypoint=entrypoint), image)


# -- env -------------------------------------------------------------------------------------


def test_env_layers_in_order() -> None:
    req = RunRequest("img", env=["LANG=fr_FR", "NEW=1", "FROM_HOST", "UNSET_ON_HOST"], tty=True)
    env = proc(make(req, environ={"FROM_HOST": "h=v"})).env
    assert env == ["PATH=/image/bin", f"HOSTNAME={CID[:12]}", "TERM=xterm", "LANG=fr_FR",
                   "NEW=1", "FROM_HOST=h=v"]  # fmt: skip


def test_env_defaults_without_image_env() -> None:
    env = proc(make(RunRequest("img"), ImageConfig(cmd=["sh"]))).env
    assert env == [DEFAULT_PATH, f"HOSTNAME={CID[:12]}"]


def test_env_user_overrides_term_hostname_and_path() -> None:
    req = RunRequest("img", env=["TERM=vt100", "HOSTNAME=h", "PATH=/x"], tty=True)
    assert proc(make(req)).env == ["PATH=/x", "HOSTNAME=h", "TERM=vt100", "LANG=C.UTF-8"]


def test_env_bare_key_uses_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAUNCHER_TEST_VAR", "42")
    spec = build.build_spec(RunRequest("img", env=["LAUNCHER_TEST_VAR"]), IMAGE,
                            container_id=CID, rootfs="r", host_nofile_hard=1024)  # fmt: skip
    assert "LAUNCHER_TEST_VAR=42" in (proc(spec).env or [])


def test_env_malformed_image_entries_are_dropped() -> None:
    env = proc(make(RunRequest("img"), ImageConfig(cmd=["sh"], env=["JUNK", "=x", "A=1"]))).env
    assert env == [DEFAULT_PATH, f"HOSTNAME={CID[:12]}", "A=1"]


@pytest.mark.parametrize("entry", ["=value", "", "A=\0"])
def test_env_invalid_user_entries(entry: str) -> None:
    with pytest.raises(UsageError, match="invalid environment variable"):
        make(RunRequest("img", env=[entry]))


# -- cwd -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("workdir", "image_dir", "cwd"),
    [
        (None, None, "/"),
        (None, "/srv", "/srv"),
        ("/work", "/srv", "/work"),
        ("/a/./b//c/", None, "/a/b/c"),
        ("/a/../../etc", None, "/etc"),
        ("//x", None, "/x"),
    ],
)
def test_cwd(workdir: str | None, image_dir: str | None, cwd: str) -> None:
    image = ImageConfig(cmd=["sh"], working_dir=image_dir)
    assert proc(make(RunRequest("img", workdir=workdir), image)).cwd == cwd


def test_cwd_must_be_absolute() -> None:
    with pytest.raises(UsageError, match="--workdir 'rel' must be an absolute path"):
        make(RunRequest("img", workdir="rel"))
    with pytest.raises(ImageError, match="image WorkingDir 'app' must be an absolute path"):
        make(RunRequest("img"), ImageConfig(cmd=["sh"], working_dir="app"))


# -- user ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "uid", "gid"),
    [(None, 0, 0), ("0", 0, 0), ("1000", 1000, 0), ("1000:1001", 1000, 1001),
     ("2147483648", 2147483648, 0), ("4294967294:4294967294", 4294967294, 4294967294)],
)  # fmt: skip
def test_numeric_user(user: str | None, uid: int, gid: int) -> None:
    u = proc(make(RunRequest("img", user=user))).user
    assert u is not None and (u.uid, u.gid, u.additional_gids) == (uid, gid, None)


def test_image_user_is_the_default() -> None:
    u = proc(make(RunRequest("img"), ImageConfig(cmd=["sh"], user="33:33"))).user
    assert u is not None and (u.uid, u.gid) == (33, 33)
    u = proc(make(RunRequest("img", user="7"), ImageConfig(cmd=["sh"], user="33:33"))).user
    assert u is not None and (u.uid, u.gid) == (7, 0)


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ("-1", "negative"),
        ("1000:-1", "negative"),
        ("4294967295", "out of range"),
        ("99999999999999999999", "out of range"),
        ("+5", "not numeric"),
        (" 5", "not numeric"),
        ("١٢", "not numeric"),  # Arabic-Indic digits: isdigit() but not ASCII
        ("nobody", "not numeric and was not resolved"),
        ("1000:staff", "not numeric"),
        ("1000:", "not numeric"),
    ],
)
def test_bad_users_never_become_root(user: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        make(RunRequest("img", user=user))


def test_resolved_user_ids() -> None:
    u = proc(make(RunRequest("img", user="www-data"), user_ids=(33, 34, [4, 27]))).user
    assert u is not None and (u.uid, u.gid, u.additional_gids) == (33, 34, [4, 27])
    with pytest.raises(UsageError, match="out of range"):
        make(RunRequest("img", user="x"), user_ids=(-1, 0, []))
    with pytest.raises(UsageError, match="out of range"):
        make(RunRequest("img", user="x"), user_ids=(1, 1, [2**32]))


def test_capabilities_root_and_non_root() -> None:
    caps = proc(make()).capabilities
    assert caps is not None and caps.effective == list(PODMAN_DEFAULT_CAPS)
    caps = proc(make(RunRequest("img", user="1000"))).capabilities
    assert caps is not None and caps.bounding == list(PODMAN_DEFAULT_CAPS)
    assert caps.effective == caps.permitted == caps.inheritable == caps.ambient == []


# -- hostname, root, terminal, cgroup, annotations -------------------------------------------


def test_hostname() -> None:
    assert make().hostname == CID[:12]
    assert make(RunRequest("img", hostname="web")).hostname == "web"
    for bad in ["", "a/b", "a b", "x" * 65]:
        with pytest.raises(UsageError, match="invalid hostname"):
            make(RunRequest("img", hostname=bad))


@pytest.mark.parametrize("cid", ["", "-x", ".x", "a/b", "a..b", "a b", "é"])
def test_container_id_is_checked(cid: str) -> None:
    with pytest.raises(UsageError, match="invalid container id"):
        make(container_id=cid)


def test_root_terminal_cgroup_annotations() -> None:
    spec = make(RunRequest("nginx:1.25", name="web", tty=True))
    assert spec.root is not None and spec.root.path == "/var/lib/launcher/rootfs"
    assert spec.root.readonly is None
    assert proc(spec).terminal is True
    assert spec.linux is not None and spec.linux.cgroups_path == f"/launcher/{CID}"
    assert spec.annotations == {"io.launcher.image": "nginx:1.25", "io.launcher.name": "web",
                                "org.opencontainers.image.stopSignal": "SIGQUIT"}  # fmt: skip
    spec = make(RunRequest("img", read_only=True))
    assert spec.root is not None and spec.root.readonly is True
    assert proc(spec).terminal is False


# -- limits ----------------------------------------------------------------------------------


def _resources(req: RunRequest) -> Any:
    spec = make(req)
    assert spec.linux is not None and spec.linux.resources is not None
    return spec.linux.resources


def test_memory() -> None:
    res = _resources(RunRequest("img", memory=512 * 2**20))
    assert (res.memory.limit, res.memory.swap) == (512 * 2**20, 1024 * 2**20)
    assert _resources(RunRequest("img")).memory is None
    assert _resources(RunRequest("img", memory=0)).memory is None
    with pytest.raises(UsageError, match="--memory"):
        make(RunRequest("img", memory=-1))


@pytest.mark.parametrize(
    ("cpus", "quota"), [(1.5, 150000), (0.29, 29000), (0.01, 1000), (8, 800000)]
)
def test_cpus(cpus: float, quota: int) -> None:
    res = _resources(RunRequest("img", cpus=cpus))
    assert (res.cpu.quota, res.cpu.period) == (quota, 100000)


def test_cpus_edges() -> None:
    assert _resources(RunRequest("img")).cpu is None
    assert _resources(RunRequest("img", cpus=0)).cpu is None
    for bad in (-1, 0.001):
        with pytest.raises(UsageError, match="--cpus"):
            make(RunRequest("img", cpus=bad))


@pytest.mark.parametrize(("given", "limit"), [(None, 2048), (100, 100), (0, -1), (-1, -1)])
def test_pids_limit(given: int | None, limit: int) -> None:
    assert _resources(RunRequest("img", pids_limit=given)).pids.limit == limit
    assert build.DEFAULT_PIDS_LIMIT == 2048


def test_pids_limit_invalid() -> None:
    with pytest.raises(UsageError, match="--pids-limit"):
        make(RunRequest("img", pids_limit=-2))


def test_device_cgroup_denies_by_default() -> None:
    rules = _resources(RunRequest("img")).devices
    assert [r.to_json() for r in rules] == [{"allow": False, "access": "rwm"}]


@pytest.mark.parametrize(
    ("host_hard", "nofile"), [(1048576, 1048576), (4096, 4096), (2**20 + 1, 1048576), (-1, 1048576)]
)
def test_nofile(host_hard: int, nofile: int) -> None:
    rlimits = proc(make(host_nofile_hard=host_hard)).rlimits
    assert [r.to_json() for r in rlimits or []] == [
        {"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}
    ]


# -- network ---------------------------------------------------------------------------------


def _namespaces(spec: Spec) -> list[str | None]:
    assert spec.linux is not None
    return [ns.type for ns in spec.linux.namespaces or []]


def test_network_modes() -> None:
    assert "network" in _namespaces(make(RunRequest("img", network="none")))
    spec = make(RunRequest("img", network="host"))
    assert "network" not in _namespaces(spec)
    sys_mount = next(m for m in spec.mounts or [] if m.destination == "/sys")
    assert "ro" in (sys_mount.options or [])
    for mode in ("bridge", "web"):  # wired up by the backend after create
        assert "network" in _namespaces(make(RunRequest("img", network=mode)))


def test_container_network_joins_the_given_namespace_with_its_hostname() -> None:
    spec = make(RunRequest("img", network="container:db"), netns_path="/proc/42/ns/net",
                hostname="dbhost")
    assert spec.linux is not None
    net = [ns for ns in spec.linux.namespaces or [] if ns.type == "network"]
    assert [ns.path for ns in net] == ["/proc/42/ns/net"]
    assert spec.hostname == "dbhost"
    assert spec.process is not None and "HOSTNAME=dbhost" in (spec.process.env or [])
    with pytest.raises(UsageError, match="namespace was not found"):
        make(RunRequest("img", network="container:db"))


# -- the result as a whole -------------------------------------------------------------------


FULL_REQ = RunRequest("nginx", ["a"], env=["X=1"], workdir="/w", user="1:2", hostname="h",
                      memory=2**30, cpus=2.5, pids_limit=10, read_only=True, network="host",
                      interactive=True, tty=True, name="n")  # fmt: skip


@pytest.mark.parametrize("req", [RunRequest("nginx"), FULL_REQ], ids=["plain", "every-flag"])
def test_result_is_valid(req: RunRequest, schema_validate: Callable[[str, Any], list[str]]) -> None:
    spec = make(req)
    assert problems(spec) == []
    assert schema_validate("config-schema.json", spec.to_json()) == []
    assert Spec.from_json(spec.to_json()) == spec


def test_pure_and_fresh() -> None:
    a, b = make(FULL_REQ), make(FULL_REQ)
    assert a == b and a is not b
    assert IMAGE.env == ["PATH=/image/bin", "LANG=C.UTF-8"]  # the image is not modified


def test_cgroup_placement_for_rootless_users() -> None:
    warnings: list[str] = []
    spec = make(RunRequest("img", memory=64 << 20), cgroups=None, warn=warnings.append)
    assert spec.linux is not None
    assert spec.linux.cgroups_path is None and spec.linux.resources is None
    assert warnings == ["--memory ignored: no cgroup is delegated to this user (rootless on "
                        "cgroup v1 or hybrid, or outside a systemd user session)"]
    warnings.clear()
    spec = make(RunRequest("img", memory=64 << 20, cpus=0.5),
                cgroups=("/user.slice/u@1.service/launcher", frozenset({"memory", "pids"})),
                warn=warnings.append)
    assert spec.linux is not None and spec.linux.resources is not None
    assert spec.linux.cgroups_path == f"/user.slice/u@1.service/launcher/{CID}"
    res = spec.linux.resources
    assert res.memory is not None and res.cpu is None and res.devices is None
    assert res.pids is not None and res.pids.limit == build.DEFAULT_PIDS_LIMIT
    assert warnings == ["--cpus ignored: the delegated cgroup /user.slice/u@1.service/launcher "
                        "lacks the controller"]


def test_privileged_request() -> None:
    spec = make(RunRequest("img", privileged=True))
    assert spec.linux is not None and spec.linux.seccomp is None
    assert spec.linux.masked_paths is None
    caps = proc(spec).capabilities
    assert caps is not None and "CAP_SYS_ADMIN" in (caps.effective or [])
