"""launcher: a daemonless container launcher for Linux, macOS and Windows.

Importing this package must stay cheap and portable: nothing Linux-only and no
heavy module is imported here (the container start path counts milliseconds).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
