"""Backends: where containers actually run (native Linux, or a Linux VM)."""
