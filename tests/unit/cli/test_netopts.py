"""run's network options: all in RUN, together, in their declared order."""

from __future__ import annotations

from launcher.cli import options
from launcher.cli.netopts import NETWORK_OPTS


def test_network_options_stand_together_in_run() -> None:
    run = list(options.RUN.options)
    start = run.index(NETWORK_OPTS[0])
    assert tuple(run[start : start + len(NETWORK_OPTS)]) == NETWORK_OPTS
    assert [o.dest for o in NETWORK_OPTS] == [
        "network", "publish", "publish_all", "ip", "network_aliases",
        "dns", "dns_search", "dns_options", "add_hosts",
    ]  # fmt: skip


def test_network_options_are_looked_up_by_name() -> None:
    assert options.RUN.long["--net"] is options.RUN.long["--network"]
    assert options.RUN.short["p"].dest == "publish"
    assert options.RUN.short["P"].dest == "publish_all"
