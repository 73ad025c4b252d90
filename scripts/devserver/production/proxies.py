"""X-Forwarded-* from the trusted proxies only: werkzeug's ProxyFix for a request that comes from one,
and the headers dropped from any other, so an outside client cannot forge its address or scheme.

Why a gate around ProxyFix: ProxyFix trusts the headers of whoever connects. Here the proxy's
address decides (TRUSTED_PROXIES: addresses, networks, or host names such as compose's `proxy`,
resolved when the worker starts).
"""

from __future__ import annotations

import ipaddress
import socket

from werkzeug.middleware.proxy_fix import ProxyFix

from devserver.log import say

FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT",
             "HTTP_X_FORWARDED_PREFIX", "HTTP_FORWARDED")


def networks(names: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Each name as a network: an address (a /32 or /128), a network, or a host name's addresses now.
    A name that does not resolve (the proxy not started yet) trusts nothing, and says so."""
    found = []
    for name in names:
        try:
            found.append(ipaddress.ip_network(name, strict=False))
            continue
        except ValueError:
            pass
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)}
        except OSError as exc:
            say(f"warning: TRUSTED_PROXIES names {name!r}, which does not resolve ({exc.strerror or exc}): "
                "its X-Forwarded-* headers are not trusted")
            continue
        found.extend(ipaddress.ip_network(address) for address in sorted(addresses))
    return found


class TrustedProxies:
    """WSGI: one proxy hop's X-Forwarded-For, -Proto, -Host and -Port applied when the peer is trusted."""

    def __init__(self, application, trusted: list):
        self.application = application
        self.trusted = trusted
        self.fixed = ProxyFix(application, x_for=1, x_proto=1, x_host=1, x_port=1)

    def trusts(self, address: str) -> bool:
        try:
            peer = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(peer in network for network in self.trusted)

    def __call__(self, environ, start_response):
        if self.trusted and self.trusts(environ.get("REMOTE_ADDR", "")):
            return self.fixed(environ, start_response)
        for name in FORWARDED:
            environ.pop(name, None)
        return self.application(environ, start_response)
