"""The runc-compatible verbs. Each takes the parsed values and returns an exit code."""

from __future__ import annotations

import os
import sys

from launcher import fastjson
from launcher.backend.linux import lifecycle, procinfo, teardown
from launcher.backend.linux.syscalls import real
from launcher.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Values = dict[str, Any]


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _create_opts(v: Values, gate: str) -> lifecycle.CreateOptions:
    opts = lifecycle.CreateOptions()
    opts.pid_file = v.get("pid_file") or None
    if opts.pid_file:
        opts.pid_file = os.path.abspath(opts.pid_file)
    opts.preserve_fds = int(v.get("preserve_fds") or 0)
    opts.systemd_cgroup = bool(v.get("systemd_cgroup"))
    opts.gate = gate
    sock = v.get("console_socket")
    if sock:
        from launcher.backend.linux.console import connect_console_socket

        opts.console_fd = connect_console_socket(sock)
    return opts


def cmd_create(root: str, v: Values) -> int:
    lifecycle.create(root, v["id"], v.get("bundle") or ".", real(), _create_opts(v, "fifo"))
    return 0


def cmd_start(root: str, v: Values) -> int:
    lifecycle.start(root, v["id"])
    return 0


def cmd_run(root: str, v: Values) -> int:
    detach = bool(v.get("detach"))
    bundle = os.path.abspath(v.get("bundle") or ".")
    spec = lifecycle.load_bundle_spec(bundle)
    opts = _create_opts(v, "pipe")
    opts.subreaper = not detach
    mine = -1
    if spec.process is not None and spec.process.terminal and opts.console_fd < 0:
        if detach:
            raise UsageError("a detached container with a terminal needs --console-socket")
        # No console socket in the foreground: we hold the pty, as runc and crun do.
        from launcher.backend.linux.console import console_pair

        mine, opts.console_fd = console_pair()
    created = lifecycle.create(root, v["id"], bundle, real(), opts, spec)
    try:
        lifecycle.release_after_exec(created)
    except BaseException:
        teardown.delete(root, v["id"], force=True)
        raise
    if detach:
        return 0
    from launcher.backend.linux.forward import forward_signals

    pid = created.state.pid
    with forward_signals(pid):
        if mine >= 0:
            from launcher.backend.linux.ttyproxy import proxy

            code = proxy(mine, pid, True)
        else:
            code = procinfo.wait_exit(pid)
    if not v.get("keep"):  # --keep: stays listed as stopped, for state/delete later
        teardown.delete(root, v["id"], force=True)
    return code


def cmd_state(root: str, v: Values) -> int:
    from launcher.backend.linux.state import ContainerState

    st = ContainerState.load(root, v["id"])
    _out(fastjson.dumps(st.oci_state(), indent=2) + "\n")
    return 0


def cmd_kill(root: str, v: Values) -> int:
    from launcher.backend.linux.signals import parse

    sig = parse(v.get("signal") or "TERM")
    teardown.kill(root, v["id"], sig, bool(v.get("all")))
    return 0


def cmd_delete(root: str, v: Values) -> int:
    teardown.delete(root, v["id"], bool(v.get("force")))
    return 0


def cmd_list(root: str, v: Values) -> int:
    from launcher.backend.linux.state import ContainerState, list_ids

    rows: list[dict[str, Any]] = []
    for cid in list_ids(root):
        try:
            st = ContainerState.load(root, cid)
        except Exception:
            continue
        status = st.status()
        rows.append({"ociVersion": "1.2.0", "id": cid,
                     "pid": st.pid if status != "stopped" else 0, "status": status,
                     "bundle": st.bundle, "rootfs": st.rootfs, "created": st.created,
                     "owner": st.owner, "annotations": st.spec.get("annotations") or {}})
    fmt = v.get("format") or "table"
    if v.get("quiet"):
        _out("".join(r["id"] + "\n" for r in rows))
    elif fmt == "json":
        _out(fastjson.dumps(rows, compact=True) + "\n")
    elif fmt == "table":
        _out(_table(["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
                    [[r["id"], str(r["pid"]), r["status"], r["bundle"], r["created"], r["owner"]]
                     for r in rows]))
    else:
        raise UsageError(f"invalid format option {fmt!r}: use table or json")
    return 0


def _table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "".join(
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n"
        for r in [head, *rows]
    )


def cmd_ps(root: str, v: Values) -> int:
    from launcher.backend.linux.cgroups import open_manager
    from launcher.backend.linux.state import ContainerState

    st = ContainerState.load(root, v["id"])
    pids = open_manager(st.cgroup_path, st.cgroup_layout or None).pids() if st.cgroup_path else []
    if (v.get("format") or "table") == "json":
        _out(fastjson.dumps(pids, compact=True) + "\n")
        return 0
    import subprocess

    ps_args = v.get("ps_args") or ["-ef"]
    res = subprocess.run(["ps", *ps_args], capture_output=True, text=True, check=False)
    lines = res.stdout.splitlines()
    if not lines:
        raise UsageError(f"ps failed: {res.stderr.strip()}")
    head = lines[0].split()
    col = head.index("PID") if "PID" in head else 1
    keep = {str(p) for p in pids}
    _out("\n".join([lines[0], *(ln for ln in lines[1:]
                                 if len(ln.split()) > col and ln.split()[col] in keep)]) + "\n")
    return 0


def cmd_pause(root: str, v: Values) -> int:
    _freezer(root, v["id"], True)
    return 0


def cmd_resume(root: str, v: Values) -> int:
    _freezer(root, v["id"], False)
    return 0


def _freezer(root: str, cid: str, freeze: bool) -> None:
    from launcher.backend.linux.teardown import set_frozen

    set_frozen(root, cid, freeze)


def cmd_update(root: str, v: Values) -> int:
    from launcher.backend.linux.cgroups import open_manager
    from launcher.backend.linux.state import ContainerState
    from launcher.runtime.update import resources_from

    st = ContainerState.load(root, v["id"])
    res = resources_from(v)
    if not st.cgroup_path:
        from launcher.errors import UnsupportedError

        raise UnsupportedError("update: it has no cgroup (rootless: only a delegated "
                               "cgroup v2 gives one)")
    open_manager(st.cgroup_path, st.cgroup_layout or None).apply(res)
    linux = st.spec.setdefault("linux", {})
    merged = linux.get("resources") or {}
    for key, value in res.to_json().items():
        merged[key] = value if not isinstance(value, dict) else {**merged.get(key, {}), **value}
    linux["resources"] = merged
    st.save()
    return 0


def cmd_exec(root: str, v: Values) -> int:
    from launcher.backend.linux.execproc import ExecOptions, exec_process
    from launcher.runtime.update import exec_process_spec

    proc = exec_process_spec(root, v)
    opts = ExecOptions()
    opts.detach = bool(v.get("detach"))
    opts.ignore_paused = bool(v.get("ignore_paused"))
    opts.pid_file = os.path.abspath(v["pid_file"]) if v.get("pid_file") else None
    opts.preserve_fds = int(v.get("preserve_fds") or 0)
    if v.get("console_socket"):
        from launcher.backend.linux.console import connect_console_socket

        opts.console_fd = connect_console_socket(v["console_socket"])
    if proc.terminal and opts.console_fd < 0:
        if opts.detach:
            raise UsageError("exec --detach --tty needs --console-socket")
        from launcher.backend.linux.console import console_pair

        # In the foreground without a socket we hold the pty, as runc does.
        opts.proxy_fd, opts.console_fd = console_pair()
    if opts.detach:
        return exec_process(root, v["id"], proc, real(), opts)
    from launcher.backend.linux.forward import forward_signals

    with forward_signals(None):
        return exec_process(root, v["id"], proc, real(), opts)


def cmd_features(root: str, v: Values) -> int:
    from launcher.runtime.features import features

    _out(fastjson.dumps(features(), indent=2) + "\n")
    return 0


def cmd_spec(root: str, v: Values) -> int:
    from launcher.errors import ConflictError
    from launcher.spec.defaults import default_spec
    from launcher.spec.model import dump_spec

    path = os.path.join(v.get("bundle") or ".", "config.json")
    if os.path.exists(path):
        raise ConflictError(f"File {path} exists. Remove it first")
    spec = default_spec(terminal=True)  # as `runc spec`: a terminal, and no cgroup namespace
    if spec.linux is not None and spec.linux.namespaces:  # (tools add one to runc's output)
        spec.linux.namespaces = [n for n in spec.linux.namespaces if n.type != "cgroup"]
    dump_spec(spec, path, 0o644)
    return 0
