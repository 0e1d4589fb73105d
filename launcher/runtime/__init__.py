"""``launcher-runtime``: an OCI runtime CLI compatible with runc's, on the native backend."""
