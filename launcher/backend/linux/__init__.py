"""The native Linux backend: namespaces, mounts, cgroups and processes, driven from Python."""
