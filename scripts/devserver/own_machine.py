"""The developer's own machine, as a peer address: who may use Werkzeug's debugger and debugpy.

Both run any code for whoever reaches them, and the PIN is no security boundary (Werkzeug's own
docs say so). So they answer loopback only and, in the container, the container's default
gateway: Docker delivers a connection to a published port from the gateway of the container's
network (its proxy runs on the host side of that network, on Docker Engine and inside Docker
Desktop's VM alike), while every other container on the network has an address of its own.
The host reaching the container's own address comes from the gateway too: it is the same machine.
"""

from __future__ import annotations

import ipaddress
import os
import socket

from devserver.protocol import ENV_FILE_READ_ENV

ROUTES = "/proc/net/route"


def default_gateway(routes: str = ROUTES) -> str | None:
    """The IPv4 default route's gateway (Linux's routing table), or None."""
    try:
        with open(routes) as f:
            next(f, None)  # the header
            for line in f:
                fields = line.split()
                if len(fields) > 2 and fields[1] == "00000000" and fields[2] != "00000000":
                    return socket.inet_ntoa(int(fields[2], 16).to_bytes(4, "little"))
    except OSError:
        pass
    return None


def in_container() -> bool:
    """Run by docker-compose.yml (the dev container, the Dev Container): it sets this variable."""
    return bool(os.environ.get(ENV_FILE_READ_ENV))


def own_machine_addresses() -> frozenset[str]:
    """The peers that are this developer's machine: loopback is checked apart; this is the rest."""
    gateway = default_gateway() if in_container() else None
    return frozenset([gateway] if gateway else [])


def is_own_machine(address: str, others: frozenset[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False  # a Unix socket, an unknown peer: not known to be ours
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    return ip.is_loopback or str(ip) in others
