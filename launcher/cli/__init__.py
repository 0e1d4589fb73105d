"""The ``launcher`` command line.

Two ways in, one declaration (``options``): hot commands (``run``, ``import``)
are parsed by ``fastparse`` without importing typer; help, completion and the
rare commands go through the typer app built from the same table (``app``).
``main`` picks the way. Nothing here branches on the OS.
"""
