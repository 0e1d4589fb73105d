"""``launcher attach [--no-stdin] [--sig-proxy=BOOL] [--detach-keys KEYS] CONTAINER``.

Docker's flags and behaviour: attach to a container started with ``-d``; the
exit code is the container's, or 0 after the detach keys (default
ctrl-p,ctrl-q). The core is ``backend.linux.attachclient``.

A rare command: plain typer, imported only by ``app``.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from launcher.cli.state import state_of

_TRUE = ("1", "t", "true", "T", "TRUE", "True")  # Go's strconv.ParseBool, as Docker reads it
_FALSE = ("0", "f", "false", "F", "FALSE", "False")


def attach(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="CONTAINER", show_default=False)],
    no_stdin: Annotated[bool, typer.Option("--no-stdin", help="Do not attach STDIN")] = False,
    sig_proxy: Annotated[str, typer.Option(
        "--sig-proxy", metavar="BOOL",
        help="Proxy the signals this process gets to the container (not with a tty)")] = "true",
    detach_keys: Annotated[str | None, typer.Option(
        "--detach-keys", metavar="KEYS",
        help="Key sequence to detach: ctrl-<a-z@[\\]^_> or a character, comma-separated "
             "(default ctrl-p,ctrl-q)")] = None,
) -> int:
    """Attach this terminal's input and output to a running container."""
    from launcher.backend.linux import attachclient
    from launcher.errors import UsageError

    if sig_proxy not in _TRUE + _FALSE:
        raise UsageError(f'invalid argument "{sig_proxy}" for "--sig-proxy" flag: want true '
                         "or false")
    try:
        keys = attachclient.parse_detach_keys(detach_keys or attachclient.DEFAULT_DETACH_KEYS)
    except ValueError as exc:
        raise UsageError(f"invalid detach keys {detach_keys!r}: {exc}") from None
    sys.stdout.flush()
    return attachclient.attach(state_of(ctx.obj).paths(), ref, stdin=not no_stdin,
                               sig_proxy=sig_proxy in _TRUE, keys=keys)
