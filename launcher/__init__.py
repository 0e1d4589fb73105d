"""launcher: a daemonless container launcher for Linux, macOS and Windows.

``from launcher import Client`` is the Python API (launcher.api). Importing
this package must stay cheap and portable: nothing Linux-only and no heavy
module is imported here (the container start path counts milliseconds), so
the API's names are loaded on first use (PEP 562).
"""

__version__ = "0.1.0"
__all__ = ["Client", "Container", "ExecResult", "Image", "LauncherError", "__version__"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.api import Client, Container, ExecResult, Image, LauncherError


def __getattr__(name: str) -> object:
    if name in __all__ and name != "__version__":
        import launcher.api

        return getattr(launcher.api, name)
    raise AttributeError(f"module 'launcher' has no attribute {name!r}")
