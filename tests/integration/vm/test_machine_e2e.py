"""The VM backend end to end: a real guest booted with QEMU (TCG here), containers
run in it through the host agent, a port published to the host, a host directory
bound in, and the faults the issue names."""

from __future__ import annotations

import json
import os
import signal
import tarfile
import time
from pathlib import Path

import pytest

from launcher.vm import hostproc
from launcher.vm.machine import host_arch
from tests.integration.vm.conftest import Vm, fetch, free_port

pytestmark = [pytest.mark.vm, pytest.mark.slow]


def test_machine_is_listed_running(vm: Vm) -> None:
    res = vm.cli("machine", "ls", "--format", "json")
    (row,) = [json.loads(line) for line in res.stdout.splitlines()]
    assert (row["Name"], row["Status"], row["Shares"]) == ("default", "running", [str(vm.share)])
    doc = json.loads(vm.cli("machine", "inspect").stdout)[0]
    assert doc["SSHPort"] > 0 and doc["Arch"] == host_arch()


def test_output_and_exit_codes_come_back(vm: Vm) -> None:
    res = vm.vm("run", "--rm", "busybox", "echo", "hello from the guest")
    assert (res.returncode, res.stdout) == (0, "hello from the guest\n"), res.stderr
    assert vm.vm("run", "--rm", "busybox", "sh", "-c", "exit 7").returncode == 7
    # PID 1 of a namespace ignores SIGKILL from inside it: the container's init is
    # killed from outside (`kill`), and reports 128+9 as it would natively.
    assert vm.vm("run", "-d", "--name", "victim", "busybox", "sleep", "600").returncode == 0
    assert vm.vm("kill", "victim").returncode == 0
    assert vm.vm("wait", "victim").stdout.strip() == "137"
    assert vm.vm("rm", "victim").returncode == 0
    res = vm.vm("run", "--rm", "--pull", "never", "nosuch/image:1")
    assert res.returncode == 125 and len(res.stderr.splitlines()) == 1, res.stderr
    assert res.stderr.startswith("launcher: ")


def test_stdin_and_large_output(vm: Vm) -> None:
    res = vm.vm("run", "--rm", "-i", "busybox", "wc", "-c", input="x" * 100000)
    assert res.stdout.strip() == "100000", res.stderr
    res = vm.vm("run", "--rm", "busybox", "sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' y")
    assert len(res.stdout) == 3000000 and set(res.stdout) == {"y"}


def test_a_host_directory_is_bound(vm: Vm) -> None:
    (vm.share / "in.txt").write_text("from the host\n")
    res = vm.vm("run", "--rm", "-v", f"{vm.share}:/data", "busybox", "sh", "-c",
                "cat /data/in.txt; echo from the container > /data/out.txt")
    assert res.stdout == "from the host\n", res.stderr
    assert (vm.share / "out.txt").read_text() == "from the container\n"
    res = vm.vm("run", "--rm", "-v", "/etc:/x", "busybox", "true")
    assert res.returncode == 125 and "not shared" in res.stderr


def test_a_published_port_is_reached_from_the_host(vm: Vm) -> None:
    www = vm.share / "www"
    www.mkdir(exist_ok=True)
    (www / "index.html").write_text("served from a container in the VM\n")
    port = free_port()
    res = vm.vm("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:80", "-v",
                f"{www}:/www:ro", "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
    assert res.returncode == 0, res.stderr
    try:
        body = fetch(f"http://127.0.0.1:{port}/", 60)
        assert body == "served from a container in the VM\n"
    finally:
        assert vm.vm("rm", "-f", "web").returncode == 0


def _forwarded(vm: Vm) -> dict[str, object]:
    path = vm.run_dir / "forwards.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _wait_unforwarded(vm: Vm, key: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while key in _forwarded(vm):
        assert time.monotonic() < deadline, f"{key} still forwarded: {_forwarded(vm)}"
        time.sleep(0.5)


def _image_exposing(vm: Vm, tmp_path: Path, port: str) -> str:
    """busybox re-tagged with ExposedPorts (a docker-archive edited here, loaded)."""
    import hashlib
    import io

    saved, edited = tmp_path / "bb.tar", tmp_path / "bb-exposed.tar"
    assert vm.vm("save", "-o", str(saved), "busybox").returncode == 0
    with tarfile.open(saved) as src, tarfile.open(edited, "w") as dst:
        manifest = json.loads(src.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = json.loads(src.extractfile(manifest[0]["Config"]).read())  # type: ignore[union-attr]
        config.setdefault("config", {})["ExposedPorts"] = {port: {}}
        blob = json.dumps(config).encode()
        name = hashlib.sha256(blob).hexdigest() + ".json"
        manifest[0].update(Config=name, RepoTags=["lt-exposed:1"])
        for member in src.getmembers():
            if member.name not in ("manifest.json", "repositories") \
                    and not member.name.endswith(".json"):
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        for fname, data in ((name, blob), ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(fname)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    res = vm.vm("load", "-i", str(edited))
    assert res.returncode == 0, res.stderr
    return "lt-exposed:1"


def test_forwards_follow_the_containers(vm: Vm, tmp_path: Path) -> None:
    www = vm.share / "www"
    www.mkdir(exist_ok=True)
    (www / "index.html").write_text("published with -P\n")
    image = _image_exposing(vm, tmp_path, "80/tcp")
    res = vm.vm("run", "-d", "--name", "pub", "-P", "-v", f"{www}:/www:ro", image, "httpd",
                "-f", "-p", "80", "-h", "/www")
    assert res.returncode == 0, res.stderr
    try:  # the port the guest chose is forwarded from the same port on the host
        line = vm.vm("port", "pub", "80").stdout.strip()
        port = int(line.rsplit(":", 1)[1])
        assert f"tcp/{port}" in _forwarded(vm)  # there when run -d -P returned
        assert fetch(f"http://127.0.0.1:{port}/", 60) == "published with -P\n"
    finally:
        assert vm.vm("rm", "-f", "pub").returncode == 0
    _wait_unforwarded(vm, f"tcp/{port}")  # the container went: so did its forward
    # a foreground run -p: forwarded while it runs, gone when it ends
    port = free_port()
    res = vm.vm("run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true")
    assert res.returncode == 0, res.stderr
    _wait_unforwarded(vm, f"tcp/{port}", within=5)
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", port))  # QEMU let go of the host port


def test_cp_of_host_paths_outside_the_shares(vm: Vm, tmp_path: Path) -> None:
    src = tmp_path / "data"  # not under the machine's share
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "b").write_text("beta")
    assert vm.vm("run", "-d", "--name", "cpc", "busybox", "sleep", "600").returncode == 0
    try:
        res = vm.vm("cp", str(src), "cpc:/tmp/in")
        assert res.returncode == 0, res.stderr
        assert vm.vm("exec", "cpc", "cat", "/tmp/in/sub/b").stdout == "beta"
        res = vm.vm("cp", str(src / "a.txt"), "cpc:/tmp/renamed")  # a file, a new name
        assert res.returncode == 0, res.stderr
        assert vm.vm("exec", "cpc", "cat", "/tmp/renamed").stdout == "alpha\n"
        back = tmp_path / "back"
        res = vm.vm("cp", "cpc:/tmp/in", str(back))
        assert res.returncode == 0, res.stderr
        assert (back / "a.txt").read_text() == "alpha\n" and (back / "sub" / "b").exists()
        res = vm.vm("cp", "cpc:/nope", str(back))
        assert res.returncode != 0 and "Could not find the file /nope" in res.stderr
        left = vm.cli("machine", "ssh", "default", "ls -A /var/lib/launcher/stage").stdout
        assert left.strip() == ""  # the guest's staging directories went
    finally:
        assert vm.vm("rm", "-f", "cpc").returncode == 0


def test_the_machines_launcher_follows_the_hosts(vm: Vm) -> None:
    from launcher.vm import selfsync

    pkg = "/usr/local/lib/python3.11/dist-packages/launcher"
    # as if an older launcher had made the machine: another digest, a file only it has
    res = vm.cli("machine", "ssh", "default", f"echo stale >{selfsync.GUEST_DIGEST} && "
                 f"touch {pkg}/only_in_the_old_one.py")
    assert res.returncode == 0, res.stderr
    assert vm.vm("run", "--rm", "busybox", "true").returncode == 0  # the agent is up
    pid = int((vm.run_dir / "agent.pid").read_text())
    hostproc.terminate(pid, False)  # the next command starts a new agent, which checks
    deadline = time.monotonic() + 30
    while hostproc.exists(pid):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    res = vm.vm("run", "--rm", "busybox", "echo", "after the update")
    assert (res.returncode, res.stdout) == (0, "after the update\n"), res.stderr
    res = vm.cli("machine", "ssh", "default", f"cat {selfsync.GUEST_DIGEST}; "
                 f"ls {pkg}/only_in_the_old_one.py 2>&1")
    lines = res.stdout.splitlines()
    assert lines[0] == selfsync.digest(selfsync.package_dir())
    assert "No such file" in lines[1]
    assert "updated launcher in the machine" in (vm.run_dir / "agent.log").read_text()


def test_save_and_import_travel_over_the_channel(vm: Vm, tmp_path: Path) -> None:
    out = tmp_path / "busybox.tar"
    assert vm.vm("save", "-o", str(out), "busybox").returncode == 0
    with tarfile.open(out) as tar:
        assert "manifest.json" in tar.getnames()
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 6
        tar.addfile(info, __import__("io").BytesIO(b"hello\n"))
    assert vm.vm("import", str(rootfs), "lt-imported:1").returncode == 0
    assert "lt-imported" in vm.vm("images").stdout


def test_host_key_mismatch_is_refused(vm: Vm) -> None:
    pub = vm.root / "storage" / "machines" / "default" / "ssh_host_ed25519_key.pub"
    good = pub.read_text()
    other = vm.root / "storage" / "machines" / "default" / "id_ed25519.pub"
    pub.write_text(other.read_text())  # a valid key, but not the guest's
    try:
        res = vm.cli("machine", "ssh", "default", "true")
        assert res.returncode == 125 and "does not match the pinned key" in res.stderr
    finally:
        pub.write_text(good)
    assert vm.cli("machine", "ssh", "default", "true").returncode == 0


def test_ssh_dropped_mid_run_keeps_the_container(vm: Vm) -> None:
    assert vm.vm("run", "-d", "--name", "sleeper", "busybox", "sleep", "600").returncode == 0
    agent = int((vm.run_dir / "agent.pid").read_text())
    proc = vm.popen("logs", "-f", "sleeper")  # a command in flight when SSH drops
    time.sleep(2)
    hostproc.terminate(agent, True)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    res = vm.vm("ps", "--filter", "name=sleeper", "--format", "json")  # a new agent
    assert json.loads(res.stdout)["State"] == "running", res.stderr
    assert vm.vm("rm", "-f", "sleeper").returncode == 0


def test_the_guest_clock_is_set_from_the_host(vm: Vm) -> None:
    """A guest clock gone wrong (as after a host sleep that dropped the agent's
    connection) is set from the host's when the next agent connects."""
    assert vm.vm("ps").returncode == 0
    hostproc.terminate(int((vm.run_dir / "agent.pid").read_text()), True)
    wrong = vm.cli("machine", "ssh", "default", "busybox date -u -s @1000000000 >/dev/null; "
                   "date +%s")
    assert wrong.returncode == 0 and int(wrong.stdout.split()[-1]) < 1100000000, wrong.stderr
    assert vm.vm("ps").returncode == 0  # a new agent: it pushes the clock at once
    deadline = time.monotonic() + 30
    while True:
        guest = int(vm.cli("machine", "ssh", "default", "date +%s").stdout.split()[-1])
        if abs(guest - time.time()) < 5 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert abs(guest - time.time()) < 5, guest


def test_version_shows_client_backend_and_guest(vm: Vm) -> None:
    assert vm.vm("ps").returncode == 0  # the agent is up and has looked at the guest
    res = vm.vm("version", "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["Backend"]["Name"] == "vm" and doc["Backend"]["State"] == "running"
    assert doc["Backend"]["Accelerator"] in ("kvm", "tcg", "hvf", "whpx")
    assert doc["Guest"]["Version"] == doc["Client"]["Version"]  # synced from the host
    assert doc["Guest"]["Kernel"][0].isdigit()


@pytest.mark.skipif(os.name == "nt", reason="a console's Ctrl-C cannot be sent to a child "
                    "on another console; tests/unit/vm/test_agent.py covers the frames")
def test_ctrl_c_reaches_the_container(vm: Vm) -> None:
    """Ctrl-C on the host without -t: the agent signals the guest's launcher,
    which forwards SIGINT to the container (Docker's sig-proxy)."""
    proc = vm.popen("run", "--rm", "--name", "int", "busybox", "sh", "-c",
                    "trap 'echo got INT; exit 3' INT; echo ready; "
                    "while true; do sleep 0.2; done")
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out) == (3, "got INT\n"), err


def test_qemu_killed_mid_command(vm: Vm) -> None:
    proc = vm.popen("run", "--rm", "busybox", "sleep", "600")
    time.sleep(8)
    pid = vm.qemu_pid()
    assert pid is not None
    hostproc.terminate(pid, True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 125 and err.strip().startswith("launcher: "), err
    row = json.loads(vm.cli("machine", "ls", "--format", "json").stdout)
    assert row["Status"] == "stopped"
    res = vm.cli("machine", "start")  # and it boots again
    assert res.returncode == 0, res.stderr
    assert vm.vm("run", "--rm", "busybox", "true").returncode == 0


def test_cgroup_v2_limits_for_real_in_the_guest(vm: Vm) -> None:
    """The guest boots with cgroup v2 only: the v2 code path, on a real kernel."""
    res = vm.cli("machine", "ssh", "default", "stat -fc %T /sys/fs/cgroup")
    assert res.stdout.strip() == "cgroup2fs", res.stderr
    # Roomy limits: the container's init is launcher's own forked process until it
    # execs, and a tight memory.max with no swap makes the TCG guest thrash.
    res = vm.vm("run", "--rm", "--network", "none", "--memory", "256m", "--pids-limit", "32",
                "--cpus", "0.5", "busybox", "cat", "/sys/fs/cgroup/memory.max",
                "/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/cpu.max", timeout=300)
    assert res.stdout.split("\n")[:3] == ["268435456", "32", "50000 100000"], res.stderr
    # over the limit (the guest has 1 GiB and no swap): the OOM killer, reported as Docker does
    res = vm.vm("run", "--name", "hog", "--network", "none", "--memory", "256m",
                "busybox", "sh", "-c",
                "dd if=/dev/zero of=/dev/null bs=600M count=1", timeout=300)  # 600 MiB
    assert res.returncode == 137, res.stderr
    doc = json.loads(vm.vm("inspect", "hog").stdout)[0]
    assert doc["State"]["OOMKilled"] is True
    assert vm.vm("rm", "hog").returncode == 0


_DELEGATED = "/sys/fs/cgroup/lt-deleg"
_ROOTLESS_SCRIPT = f"""set -e
busybox grep -q '^lt:' /etc/passwd || echo 'lt:x:1500:1500::/tmp/lt-home:/bin/sh' >> /etc/passwd
busybox grep -q '^lt:' /etc/group || echo 'lt:x:1500:' >> /etc/group
mkdir -p /tmp/lt-home {_DELEGATED}/shell
chown 1500:1500 /tmp/lt-home
for c in cpu memory pids; do echo +$c > /sys/fs/cgroup/cgroup.subtree_control || true; done
cd {_DELEGATED}
chown 1500:1500 . cgroup.procs cgroup.subtree_control shell shell/cgroup.procs
echo $$ > shell/cgroup.procs
# The guest keeps resolv.conf in root's private /run/launcher: give the user a
# readable one, as any ordinary host has.
cp /etc/resolv.conf /tmp/lt-resolv && chmod 644 /tmp/lt-resolv
unshare -m sh -c 'mount -t tmpfs -o mode=755 none /run/launcher && \
  cp /tmp/lt-resolv /run/launcher/resolv.conf && \
  exec setpriv --reuid=1500 --regid=1500 --clear-groups env -i HOME=/tmp/lt-home \
  PATH=/usr/local/bin:/usr/bin:/bin launcher run --rm --network none --memory 256m \
  --pids-limit 32 busybox sh -c \
  "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /proc/self/uid_map; id -u"'
busybox find {_DELEGATED}/launcher -mindepth 1 -type d | busybox wc -l
"""


def test_rootless_limits_in_a_delegated_cgroup2_subtree(vm: Vm) -> None:
    """An ordinary user in the guest (cgroup v2) owning a delegated subtree, as
    systemd's user@UID.service is: its containers get their limits there."""
    assert vm.vm("run", "--rm", "busybox", "true").returncode == 0  # guest launcher current
    try:
        res = vm.cli("machine", "ssh", "default", _ROOTLESS_SCRIPT, timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
        lines = res.stdout.split("\n")
        assert lines[:2] == ["268435456", "32"], res.stdout + res.stderr
        assert lines[2].split() == ["0", "1500", "1"]  # container root is the user
        assert lines[3] == "0"
        assert lines[4:] == ["0", ""]  # the container's cgroup went with --rm
    finally:
        vm.cli("machine", "ssh", "default",
               f"rmdir {_DELEGATED}/launcher {_DELEGATED}/shell {_DELEGATED}; "
               "rm -rf /tmp/lt-home /tmp/launcher-run-1500 /tmp/lt-resolv")


def test_host_ssh_url_reaches_any_linux_host(vm: Vm, tmp_path: Path) -> None:
    """--host ssh://: the guest stands in for a remote Linux host with launcher on it.
    Its key must be in known_hosts first; an unknown host is refused."""
    port = json.loads(vm.cli("machine", "inspect").stdout)[0]["SSHPort"]
    mdir = vm.root / "storage" / "machines" / "default"
    known = tmp_path / "known_hosts"
    known.write_text("")
    vm.env.update({"LAUNCHER_SSH_KNOWN_HOSTS": str(known),
                   "LAUNCHER_SSH_KEY": str(mdir / "id_ed25519")})
    url = f"ssh://root@127.0.0.1:{port}"
    try:
        res = vm.cli("--host", url, "run", "--rm", "busybox", "true")
        assert res.returncode == 125 and "not in" in res.stderr, res.stderr
        known.write_text(f"[127.0.0.1]:{port} {(mdir / 'ssh_host_ed25519_key.pub').read_text()}")
        res = vm.cli("--host", url, "run", "--rm", "busybox", "echo", "via ssh://")
        assert (res.returncode, res.stdout) == (0, "via ssh://\n"), res.stderr
        res = vm.cli("--host", url, "run", "--rm", "busybox", "sh", "-c", "exit 5")
        assert res.returncode == 5
    finally:
        for key in ("LAUNCHER_SSH_KNOWN_HOSTS", "LAUNCHER_SSH_KEY"):
            vm.env.pop(key, None)
