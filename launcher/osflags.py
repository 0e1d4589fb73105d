"""``os.open`` flags that exist on every host launcher's client runs on.

Windows' ``os`` has no ``O_CLOEXEC``, ``O_NOCTTY``, ``O_NONBLOCK`` or
``O_NOFOLLOW``, and opens files in text mode unless ``O_BINARY`` is given. The
code that runs on macOS and Windows hosts (the CLI's option parsing, the VM
backend's client side) opens files with these instead; the Linux backend
keeps using ``os``'s own.
"""

from __future__ import annotations

import os

# Not inherited by children: O_CLOEXEC on POSIX, O_NOINHERIT on Windows.
CLOEXEC: int = getattr(os, "O_CLOEXEC", 0) or getattr(os, "O_NOINHERIT", 0)
NOCTTY: int = getattr(os, "O_NOCTTY", 0)
NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
BINARY: int = getattr(os, "O_BINARY", 0)

READ = os.O_RDONLY | BINARY | CLOEXEC
WRITE_NEW = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | BINARY | CLOEXEC
