"""``launcher run``'s network options, spliced into ``options.RUN`` where they stand.

Each ``dest`` is a ``RunRequest`` slot, like every other ``run`` option; the
values are checked by ``convert`` and turned into a network config by
``launcher.network.runconfig``.
"""

from __future__ import annotations

from launcher.cli import convert
from launcher.cli.optspec import FLAG, MULTI, VALUE, Opt

# In ``--help`` order: which network, its ports, the address and names on it, DNS.
NETWORK_OPTS = (
    Opt(
        ("--network", "--net"),
        "network",
        VALUE,
        "Network: bridge (default; see launcher.toml), none, host, container:NAME, "
        "or a network's name",
        metavar="NETWORK",
        convert=convert.network,
    ),
    Opt(
        ("-p", "--publish"),
        "publish",
        MULTI,
        "Publish a container's port on the host (repeatable)",
        metavar="[IP:][HOST:]PORT[/PROTO]",
        convert=convert.publish,
    ),
    Opt(
        ("-P", "--publish-all"),
        "publish_all",
        FLAG,
        "Publish every port the image exposes on a free host port",
    ),
    Opt(
        ("--ip",),
        "ip",
        VALUE,
        "IPv4 address on a user-defined network",
        metavar="ADDRESS",
        convert=convert.ip_address,
    ),
    Opt(
        ("--network-alias",),
        "network_aliases",
        MULTI,
        "Another name for the container on its network (repeatable)",
        metavar="NAME",
        convert=convert.network_alias,
    ),
    Opt(
        ("--dns",),
        "dns",
        MULTI,
        "DNS server for /etc/resolv.conf (repeatable)",
        metavar="ADDRESS",
        convert=convert.nameserver,
    ),
    Opt(
        ("--dns-search",),
        "dns_search",
        MULTI,
        "DNS search domain (repeatable; . for none)",
        metavar="DOMAIN",
        convert=convert.dns_search,
    ),
    Opt(
        ("--dns-option",),
        "dns_options",
        MULTI,
        "Resolver option, like ndots:2 (repeatable)",
        metavar="OPTION",
        convert=convert.dns_option,
    ),
    Opt(
        ("--add-host",),
        "add_hosts",
        MULTI,
        "Add a line to /etc/hosts (repeatable; IP host-gateway: the host)",
        metavar="NAME:IP",
        convert=convert.add_host,
    ),
)
