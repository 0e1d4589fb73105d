"""process.* and the UTS names, as a probe inside the container sees them."""

from __future__ import annotations

import socket

import pytest

from launcher.spec.caps import PODMAN_DEFAULT_CAPS, cap_number

pytestmark = pytest.mark.root


def status_fields(text: str) -> dict[str, str]:
    """``/proc/self/status`` lines as a dict (``CapEff`` → ``00000000a80425fb``)."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def mask(names: list[str] | tuple[str, ...]) -> str:
    """The /proc/self/status rendering of a capability set."""
    bits = 0
    for name in names:
        bits |= 1 << cap_number(name)
    return f"{bits:016x}"


def test_hostname_and_domainname(bundle):
    host_name = socket.gethostname()
    bundle.config["hostname"] = "foomachine"
    bundle.config["domainname"] = "foo.example"
    out = bundle.probe("hostname; cat /proc/sys/kernel/domainname")
    assert out.split() == ["foomachine", "foo.example"]
    assert socket.gethostname() == host_name


def test_env_is_exactly_the_spec(bundle, monkeypatch):
    monkeypatch.setenv("LAUNCHER_HOST_ONLY", "leak")
    bundle.process["env"] = ["PATH=/bin", "FOO=bar baz", "EMPTY="]
    out = bundle.probe("env")
    env = dict(line.partition("=")[::2] for line in out.splitlines())
    assert env["FOO"] == "bar baz"
    assert env["EMPTY"] == ""
    assert env["PATH"] == "/bin"
    assert "LAUNCHER_HOST_ONLY" not in env


def test_cwd(bundle):
    bundle.process["cwd"] = "/tmp"
    assert bundle.probe("pwd") == "/tmp\n"


def test_user_and_additional_gids(bundle):
    bundle.process["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [10, 20]}
    out = bundle.probe("id -u; id -g; grep '^Groups:' /proc/self/status")
    uid, gid, groups = out.splitlines()
    assert (uid, gid) == ("1000", "1001")
    assert groups.split()[1:] == ["10", "20"]


def test_no_additional_gids_means_no_groups(bundle):
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    out = bundle.probe("grep '^Groups:' /proc/self/status")
    assert out.split() == ["Groups:"]  # not the host's supplementary groups


def test_umask(bundle):
    bundle.process["user"]["umask"] = 0o077
    out = bundle.probe("umask; touch /dev/shm/f; stat -c %a /dev/shm/f")
    assert out.split() == ["0077", "600"]


def test_rlimit_nofile_soft_and_hard(bundle):
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 2000}]
    assert bundle.probe("ulimit -n; ulimit -Hn").split() == ["1000", "2000"]


def test_rlimit_nproc(bundle):
    bundle.process["rlimits"].append({"type": "RLIMIT_NPROC", "soft": 555, "hard": 666})
    assert bundle.probe("ulimit -u; ulimit -Hu").split() == ["555", "666"]


def test_rlimit_above_hard_limit_fails_clearly(bundle, rt):
    with open("/proc/self/limits", encoding="ascii") as f:
        hard = int(next(ln for ln in f if ln.startswith("Max open files")).split()[4])
    with open("/proc/self/status", encoding="ascii") as f:
        cap_eff = int(status_fields(f.read())["CapEff"], 16)
    # Raising a hard limit needs CAP_SYS_RESOURCE (this sandbox has none; nofile hard 20000).
    if cap_eff & (1 << cap_number("CAP_SYS_RESOURCE")):
        pytest.skip("this runtime host holds CAP_SYS_RESOURCE: it may raise RLIMIT_NOFILE")
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": hard, "hard": hard + 1000}]
    bundle.set_script("true")
    bundle.write()
    cid = rt.new_id()
    err = rt.fails("run", "--bundle", str(bundle.path), cid)
    assert "RLIMIT_NOFILE" in err
    assert rt.leftovers(cid) == []


def test_default_capabilities(bundle):
    st = status_fields(bundle.probe("cat /proc/self/status"))
    caps = bundle.process["capabilities"]
    assert sorted(caps["bounding"]) == sorted(PODMAN_DEFAULT_CAPS)
    assert st["CapBnd"] == mask(caps["bounding"])
    assert st["CapPrm"] == mask(caps["permitted"])
    assert st["CapEff"] == mask(caps["effective"])
    assert st["CapInh"] == mask([]) == st["CapAmb"]


def test_ambient_capability_for_non_root_user(bundle):
    """uid 1000 keeps what is ambient across exec; the kernel empties the rest of
    permitted/effective, so those equal the ambient set (capabilities(7))."""
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    bundle.process["capabilities"] = {
        "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    }
    st = status_fields(bundle.probe("cat /proc/self/status"))
    assert st["CapBnd"] == mask(["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"])
    assert st["CapInh"] == mask(["CAP_KILL", "CAP_NET_BIND_SERVICE"])
    assert st["CapAmb"] == mask(["CAP_NET_BIND_SERVICE"])
    assert st["CapPrm"] == mask(["CAP_NET_BIND_SERVICE"])
    assert st["CapEff"] == mask(["CAP_NET_BIND_SERVICE"])
    assert st["Uid"].split()[0] == "1000"


@pytest.mark.parametrize("nnp", [True, False])
def test_no_new_privileges(bundle, nnp):
    bundle.process["noNewPrivileges"] = nnp
    st = status_fields(bundle.probe("cat /proc/self/status"))
    assert st["NoNewPrivs"] == ("1" if nnp else "0")


def test_oom_score_adj(bundle):
    bundle.process["oomScoreAdj"] = 123
    assert bundle.probe("cat /proc/self/oom_score_adj") == "123\n"


def test_init_has_only_stdio_open(bundle):
    """No runtime fd (state dir, cgroup, channel) reaches the container (SECURITY.md rule 4)."""
    assert bundle.probe("ls /proc/1/fd; true").split() == ["0", "1", "2"]


@pytest.mark.parametrize("fd", range(3, 9))
def test_cwd_through_a_leaked_fd_stays_inside(bundle, rt, fd):
    """CVE-2024-21626: a cwd of /proc/self/fd/N must not land outside the container."""
    bundle.process["cwd"] = f"/proc/self/fd/{fd}"
    res = bundle.run("cd ../../../../../../..; ls -a")
    if res.returncode != 0:  # refusing is fine: one error line, nothing left
        assert res.returncode == 1, res
        assert len(res.stderr.strip().splitlines()) == 1, res
        return
    listing = set(res.stdout.split())
    assert "bin" in listing
    assert not listing & {"usr", "work", "lib64", "var"}, f"escaped to the host: {listing}"
