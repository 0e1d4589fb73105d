"""The OCI runtime spec: the one data model from CLI flags down to syscalls."""
