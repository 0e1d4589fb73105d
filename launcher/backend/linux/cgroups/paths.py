"""cgroupsPath handling: normalising, relative paths, systemd unit names.

A cgroupsPath never contains ``..``; an absolute one starts at each
hierarchy's root, a relative one below the caller's own cgroup (read from
``/proc/self/cgroup``), as runc does.
"""

from __future__ import annotations

from launcher.errors import ConfigError, RuntimeFailure


def normalise_path(cgroups_path: str) -> str:
    """``"/a//b/"`` → ``"/a/b"``; relative paths stay relative. Rejects ``..``."""
    if "\0" in cgroups_path or "\n" in cgroups_path:
        raise ConfigError(f"cgroupsPath {cgroups_path!r}: control characters")
    parts = [p for p in cgroups_path.split("/") if p and p != "."]
    if ".." in parts:
        raise ConfigError(f"cgroupsPath {cgroups_path!r}: '..' is not allowed")
    if not parts:
        raise ConfigError(f"cgroupsPath {cgroups_path!r}: names no cgroup below the root")
    return ("/" if cgroups_path.startswith("/") else "") + "/".join(parts)


def resolve(path: str, own: str | None) -> str:
    """The cgroup dir relative to its hierarchy's mount, without a leading slash.

    Absolute paths start at the hierarchy root; relative ones below ``own``
    (the calling process's cgroup in that hierarchy), as runc does.  A
    process outside its cgroup namespace's root sees ``/../x`` there; a path
    can't be built on that.
    """
    if path.startswith("/") or not own:
        return path.lstrip("/")
    if ".." in own.split("/"):
        raise RuntimeFailure(f"cgroup: own cgroup {own!r} lies outside this cgroup namespace")
    return (own.strip("/") + "/" + path).lstrip("/")


def join(mount: str, inner: str) -> str:
    """``mount`` (a hierarchy's dir below the fs root, maybe "") + ``inner``."""
    return f"{mount}/{inner}" if mount else inner


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup`` → {controller: path}; the v2 entry has key ``""``.

    ``"2:cpu,cpuacct:/a"`` gives both ``cpu`` and ``cpuacct``; named hierarchies
    keep their ``name=`` prefix (``name=systemd``).
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        if fields[1] == "":
            out[""] = fields[2]
        for ctrl in fields[1].split(","):
            if ctrl:
                out[ctrl] = fields[2]
    return out


def cgroup_of_self() -> dict[str, str]:
    """The calling process's cgroup in every hierarchy (see parse_proc_cgroup)."""
    with open("/proc/self/cgroup", encoding="utf-8") as f:
        return parse_proc_cgroup(f.read())


def _expand_slice(slice_name: str) -> str:
    """``"a-b.slice"`` → ``"/a.slice/a-b.slice"``; ``"-.slice"`` is the root."""
    if slice_name == "-.slice":
        return ""
    stem = slice_name.removesuffix(".slice")
    words = stem.split("-")
    if stem == slice_name or "" in words:
        raise ConfigError(f"systemd slice {slice_name!r}: not a valid slice name")
    return "".join("/" + "-".join(words[: i + 1]) + ".slice" for i in range(len(words)))


def systemd_to_path(cgroups_path: str) -> str:
    """``"machine.slice:libpod:abc"`` → ``"/machine.slice/libpod-abc.scope"``.

    The ``slice:prefix:name`` form of ``--systemd-cgroup``, laid out the way
    systemd would, for hosts where launcher manages cgroupfs itself.  An empty
    slice means ``system.slice``; a name ending in ``.slice`` is used as is.
    """
    parts = cgroups_path.split(":")
    if len(parts) != 3 or not parts[2] or any("/" in p or p == ".." for p in parts):
        raise ConfigError(f"cgroupsPath {cgroups_path!r}: expected 'slice:prefix:name'")
    slice_name, prefix, name = parts
    if name.endswith(".slice"):
        unit = name
    else:
        unit = f"{prefix}-{name}.scope" if prefix else f"{name}.scope"
    return _expand_slice(slice_name or "system.slice") + "/" + unit
