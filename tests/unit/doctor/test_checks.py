"""launcher.doctor's checks against fake hosts (no root, nothing read from this host)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from launcher import doctor
from launcher.backend.linux.cgroups.delegation import Delegation
from launcher.doctor import Check, GiB, Probe
from launcher.paths import Paths

PATHS = Paths("/srv/launcher/storage", "/run/launcher", "/srv/launcher/config")
ALL_NS = {f"/proc/self/ns/{n}" for n in doctor.NAMESPACES}
LINUX_NAMES = [name for name, _fn in doctor.LINUX_CHECKS]


class FakeProbe(Probe):
    """A healthy rootful x86_64 Linux host; tests change one fact at a time."""

    def __init__(self) -> None:
        self.plat = "linux"
        self.euid_ = self.uid_ = 0
        self.user = "root"
        self.files: dict[str, str] = {
            "/proc/self/uid_map": "         0          0 4294967295\n",
            "/proc/filesystems": "nodev\tproc\nnodev\tcgroup2\n\text4\nnodev\toverlay\n",
            "/proc/self/status": "Name:\tpython3\nSeccomp:\t0\nSeccomp_filters:\t0\n",
            "/proc/sys/user/max_user_namespaces": "63000\n",
        }
        self.present = set(ALL_NS) | {"/srv/launcher/storage"}
        self.tools = {"qemu-system-x86_64": "/usr/bin/qemu-system-x86_64",
                      "newuidmap": "/usr/bin/newuidmap", "newgidmap": "/usr/bin/newgidmap",
                      "slirp4netns": "/usr/bin/slirp4netns"}
        self.libs = {"seccomp": "libseccomp.so.2"}
        self.modules = {"libvirt"}
        self.release = "6.1.0-18-amd64"
        self.layout = "v2"
        self.delegated: Delegation | None = None
        self.cpu = "x86_64"
        self.accel: dict[str, str | None] = {}
        self.free: dict[str, int] = {"/srv/launcher/storage": 100 * GiB}

    def rootless(self, user: str = "alice", uid: int = 1000) -> FakeProbe:
        self.euid_ = self.uid_ = uid
        self.user = user
        self.files["/proc/self/uid_map"] = "0 0 4294967295\n"
        return self

    def platform(self) -> str:
        return self.plat

    def euid(self) -> int:
        return self.euid_

    def uid(self) -> int:
        return self.uid_

    def user_name(self) -> str:
        return self.user

    def read(self, path: str) -> str | None:
        return self.files.get(path)

    def exists(self, path: str) -> bool:
        return path in self.present or path in self.files

    def which(self, name: str) -> str | None:
        return self.tools.get(name)

    def find_library(self, name: str) -> str | None:
        return self.libs.get(name)

    def has_module(self, name: str) -> bool:
        return name in self.modules

    def kernel_release(self) -> str:
        return self.release

    def cgroup_layout(self) -> str:
        return self.layout

    def delegation(self, layout: str, uid: int) -> Delegation | None:
        return self.delegated if layout == "v2" else None

    def arch(self) -> str:
        return self.cpu

    def qemu_binary(self, arch: str) -> str | None:
        return self.tools.get(f"qemu-system-{arch}")

    def accel_problem(self, accel: str) -> str | None:
        return self.accel.get(accel)

    def free_bytes(self, path: str) -> int:
        if path not in self.free:
            raise FileNotFoundError(2, "No such file or directory", path)
        return self.free[path]


def by_name(p: Probe) -> dict[str, Check]:
    return {c.name: c for c in doctor.run_checks(PATHS, p)}


def test_fake_probe_replaces_every_probe_method() -> None:
    own = {n for n, _ in inspect.getmembers(Probe, inspect.isfunction) if not n.startswith("_")}
    assert own <= set(vars(FakeProbe)), "FakeProbe would read the real host"


def test_healthy_rootful_linux() -> None:
    checks = doctor.run_checks(PATHS, FakeProbe())
    assert [c.name for c in checks] == [*LINUX_NAMES, "qemu", "accelerator", "libvirt", "disk"]
    status = {c.name: c.status for c in checks}
    assert status == {**dict.fromkeys(status, "ok"),
                      "subids": "skip", "uidmap": "skip", "slirp4netns": "skip"}
    assert not doctor.failed(checks)
    assert all(c.fix == "" for c in checks)
    assert all(c.status in doctor.STATUSES and "\n" not in c.detail for c in checks)
    got = by_name(FakeProbe())
    assert got["disk"].detail == "100.0 GiB free for /srv/launcher/storage"
    assert got["qemu"].detail == "/usr/bin/qemu-system-x86_64"
    assert got["userns"].detail == "root, in the initial user namespace"


def test_check_json_shape() -> None:
    c = Check("disk", "warn", "2.0 GiB free", "prune")
    assert c.to_json() == {"name": "disk", "status": "warn", "detail": "2.0 GiB free",
                           "fix": "prune"}


def test_rootless_without_subids() -> None:
    p = FakeProbe().rootless()
    p.files["/etc/subuid"] = "bob:100000:65536\n"
    p.files["/etc/subgid"] = "bob:100000:65536\n"
    got = by_name(p)
    assert got["subids"].status == "warn"
    assert "alice has 0 subordinate uids" in got["subids"].detail
    # the suggested range starts past bob's, so it collides with no one
    assert got["subids"].fix == ("usermod --add-subuids 165536-231071 "
                                 "--add-subgids 165536-231071 alice")
    assert got["uidmap"].status == "ok"


def test_rootless_subids_default_range_and_too_few() -> None:
    p = FakeProbe().rootless()
    got = by_name(p)["subids"]
    assert got.fix == "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice"
    p.files["/etc/subuid"] = "alice:100000:1000\n"
    p.files["/etc/subgid"] = "1000:100000:65536\n"  # by uid counts too
    got = by_name(p)["subids"]
    assert got.status == "warn" and "1000 subordinate uids" in got.detail
    assert "65536 gids" in got.detail and "fewer than 65536" in got.detail


def test_rootless_healthy() -> None:
    p = FakeProbe().rootless()
    p.files["/etc/subuid"] = p.files["/etc/subgid"] = "alice:100000:65536\n"
    p.delegated = Delegation("/user.slice/user-1000.slice/user@1000.service",
                             frozenset({"cpu", "io", "memory", "pids"}))
    checks = doctor.run_checks(PATHS, p)
    assert {c.status for c in checks} == {"ok"}, checks


def test_newuidmap_missing_fails_only_with_subids() -> None:
    p = FakeProbe().rootless()
    del p.tools["newuidmap"]
    got = by_name(p)["uidmap"]
    assert (got.status, got.fix) == ("warn", "apt-get install uidmap")
    p.files["/etc/subuid"] = p.files["/etc/subgid"] = "alice:100000:65536\n"
    got = by_name(p)["uidmap"]
    assert got.status == "fail" and got.detail.startswith("newuidmap not found")


def test_slirp4netns_missing_warns_rootless() -> None:
    p = FakeProbe().rootless()
    del p.tools["slirp4netns"]
    got = by_name(p)["slirp4netns"]
    assert (got.status, got.fix) == ("warn", "apt-get install slirp4netns")


@pytest.mark.parametrize("layout", ["v1", "hybrid"])
def test_cgroup_v1_rootless_warns(layout: str) -> None:
    p = FakeProbe().rootless()
    p.layout = layout
    got = by_name(p)["cgroups"]
    assert got.status == "warn"
    assert got.detail.startswith(f"cgroup {layout}: only cgroup v2 can be delegated")
    assert "systemd.unified_cgroup_hierarchy=1" in got.fix


def test_cgroup_v1_root_is_fine() -> None:
    p = FakeProbe()
    p.layout = "v1"
    assert by_name(p)["cgroups"].status == "ok"


def test_cgroup_v2_rootless_not_delegated() -> None:
    got = by_name(FakeProbe().rootless())["cgroups"]
    assert got.status == "warn" and "uid 1000" in got.detail
    assert "systemd-run --user --scope -p Delegate=yes" in got.fix
    assert "loginctl enable-linger alice" in got.fix


def test_cgroup_v2_delegated_without_memory() -> None:
    p = FakeProbe().rootless()
    p.delegated = Delegation("/user.slice/user-1000.slice/user@1000.service",
                             frozenset({"cpu", "pids"}))
    got = by_name(p)["cgroups"]
    assert got.status == "warn" and "missing memory" in got.detail
    assert "user@.service.d/delegate.conf" in got.fix and "Delegate=" in got.fix


def test_no_cgroup_mount() -> None:
    p = FakeProbe()
    p.layout = "none"
    got = by_name(p)["cgroups"]
    assert (got.status, got.fix) == ("fail", "mount -t cgroup2 none /sys/fs/cgroup")
    assert by_name(p.rootless())["cgroups"].status == "warn"


def test_namespaces_missing() -> None:
    p = FakeProbe()
    p.present -= {"/proc/self/ns/cgroup", "/proc/self/ns/user"}
    got = by_name(p)["namespaces"]
    assert got.status == "fail" and got.detail.endswith("user, cgroup")
    assert got.fix == "boot a kernel built with CONFIG_USER_NS=y CONFIG_CGROUPS=y"
    p = FakeProbe()
    p.present.discard("/proc/self/ns/user")
    assert by_name(p)["namespaces"].status == "warn"  # root does not need one
    assert by_name(p.rootless())["namespaces"].status == "fail"


@pytest.mark.parametrize(("key", "value", "fix"), [
    ("kernel/unprivileged_userns_clone", "0", "sysctl -w kernel.unprivileged_userns_clone=1"),
    ("user/max_user_namespaces", "0", "sysctl -w user.max_user_namespaces=15000"),
    ("kernel/apparmor_restrict_unprivileged_userns", "1",
     "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"),
])
def test_rootless_userns_disabled(key: str, value: str, fix: str) -> None:
    p = FakeProbe().rootless()
    p.files[f"/proc/sys/{key}"] = value + "\n"
    got = by_name(p)["userns"]
    assert got.status == "fail" and got.fix.startswith(fix + " ")
    assert by_name(FakeProbe())["userns"].status == "ok"


def test_userns_reports_nesting() -> None:
    p = FakeProbe().rootless()
    p.files["/proc/self/uid_map"] = "0 1000 1\n"
    got = by_name(p)["userns"]
    assert got.status == "ok" and "uid_map: 0 1000 1" in got.detail


def test_overlay_module_or_copy_fallback() -> None:
    p = FakeProbe()
    p.files["/proc/filesystems"] = "nodev\tproc\n\text4\n"
    p.present.add("/lib/modules/6.1.0-18-amd64/kernel/fs/overlayfs")
    assert by_name(p)["overlayfs"].status == "ok"
    p.present.clear()
    got = by_name(p)["overlayfs"]
    assert got.status == "warn" and got.fix.startswith("modprobe overlay")


def test_overlay_rootless_old_kernel() -> None:
    p = FakeProbe().rootless()
    p.release = "5.10.0-28-amd64"
    got = by_name(p)["overlayfs"]
    assert got.status == "warn" and "5.11" in got.fix
    p.release = "5.11.0"
    assert by_name(p)["overlayfs"].status == "ok"


def test_seccomp() -> None:
    p = FakeProbe()
    p.libs.clear()
    got = by_name(p)["seccomp"]
    assert (got.status, got.fix) == ("fail", "apt-get install libseccomp2")
    p.files["/proc/self/status"] = "Name:\tpython3\n"
    got = by_name(p)["seccomp"]
    assert got.status == "fail" and "CONFIG_SECCOMP_FILTER" in got.fix


@pytest.mark.parametrize(("plat", "status", "fix"), [
    ("linux", "warn", "apt-get install qemu-system-x86 qemu-utils"),
    ("darwin", "fail", "brew install qemu"),
    ("win32", "fail", "winget install SoftwareFreedomConservancy.QEMU (or: choco install qemu)"),
])
def test_no_qemu(plat: str, status: str, fix: str) -> None:
    p = FakeProbe()
    p.plat = plat
    del p.tools["qemu-system-x86_64"]
    got = by_name(p)["qemu"]
    assert (got.status, got.fix) == (status, fix)
    assert got.detail.startswith("qemu-system-x86_64 not found on PATH")
    assert doctor.failed(doctor.run_checks(PATHS, p)) == (status == "fail")


def test_no_qemu_arm64_linux() -> None:
    p = FakeProbe()
    p.cpu = "aarch64"
    assert by_name(p)["qemu"].fix == "apt-get install qemu-system-arm qemu-utils"


def test_macos_skips_linux_checks() -> None:
    p = FakeProbe()
    p.plat = "darwin"
    p.files.clear()
    p.present.clear()
    p.present.add("/srv/launcher/storage")
    checks = doctor.run_checks(PATHS, p)
    linux = [c for c in checks if c.name in LINUX_NAMES]
    assert [c.name for c in linux] == LINUX_NAMES
    assert {c.status for c in linux} == {"skip"}
    assert all(c.detail.startswith("not Linux (darwin)") for c in linux)
    assert by_name(p)["accelerator"].detail.startswith("hvf: ok; tcg: ok")
    assert not doctor.failed(checks)


@pytest.mark.parametrize(("free", "status"), [
    (int(0.5 * GiB), "fail"), (2 * GiB, "warn"), (5 * GiB, "ok"),
])
def test_disk_thresholds(free: int, status: str) -> None:
    p = FakeProbe()
    p.free["/srv/launcher/storage"] = free
    got = by_name(p)["disk"]
    assert got.status == status
    assert ("launcher system prune -a" in got.fix) == (status != "ok")


def test_disk_walks_up_to_an_existing_dir() -> None:
    p = FakeProbe()
    p.present = set(ALL_NS) | {"/srv"}
    p.free = {"/srv": 3 * GiB}
    got = by_name(p)["disk"]
    assert got.status == "warn"
    assert got.detail.startswith("3.0 GiB free for /srv/launcher/storage (at /srv)")
    p.present = set(ALL_NS)
    got = by_name(p)["disk"]  # up to "/", which the fake cannot stat
    assert got.status == "warn" and got.detail.startswith("cannot read the free space of /")


@pytest.mark.parametrize(("why", "fix"), [
    ("/dev/kvm does not exist", "enable virtualization"),
    ("/dev/kvm is not readable and writable by this user", "usermod -aG kvm alice"),
    ("no kvm kernel module is loaded", "modprobe kvm_intel"),
])
def test_kvm_unusable(why: str, fix: str) -> None:
    p = FakeProbe().rootless()
    p.accel["kvm"] = why
    got = by_name(p)["accelerator"]
    assert got.status == "warn" and got.detail.startswith(f"kvm: {why}; tcg: ok")
    assert got.fix.startswith(fix)


def test_accelerator_reports_the_cached_choice() -> None:
    p = FakeProbe()
    got = by_name(p)["accelerator"]
    assert "the probe boot at `machine start` decides" in got.detail
    cache = "/run/launcher/machines/accel.json"
    p.files[cache] = ('{"6.1.0-18-amd64|x86_64|vmlinuz|/usr/bin/q:1:2": {"accel": "kvm", '
                      '"tried": [["kvm", "ok"]]}, "5.0|x86_64|k|q": {"accel": "tcg"}}')
    got = by_name(p)["accelerator"]
    assert got.status == "ok" and "last proved at `machine start`: kvm" in got.detail
    p.files[cache] = '{"6.1.0-18-amd64|x86_64|vmlinuz|q": {"accel": "tcg", "tried": []}}'
    got = by_name(p)["accelerator"]
    assert got.status == "warn" and "probe boot failed" in got.detail
    assert got.fix.endswith(f"rm {cache}")
    p.files[cache] = "not json"
    assert by_name(p)["accelerator"].status == "ok"


def test_libvirt_optional() -> None:
    p = FakeProbe()
    p.modules.clear()
    got = by_name(p)["libvirt"]
    assert got.status == "warn" and "launcher[libvirt]" in got.fix


def test_version_parse() -> None:
    assert doctor._version("6.1.0-18-amd64") == (6, 1)
    assert doctor._version("5.15.153.1-microsoft-standard-WSL2") == (5, 15)
    assert doctor._version("4") == (4, 0)
    assert doctor._version("") == (0, 0)


def test_real_probe_reads_without_failing(tmp_path: Path) -> None:
    p = Probe()
    assert p.read("/nonexistent/launcher-doctor") is None
    assert not p.exists("/nonexistent/launcher-doctor")
    assert p.free_bytes(str(tmp_path)) > 0
    assert p.has_module("os") and not p.has_module("launcher_no_such_module")
