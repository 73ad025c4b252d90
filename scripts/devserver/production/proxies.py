"""X-Forwarded-* from the trusted proxies only: werkzeug's ProxyFix for a request that comes from one,
and the headers dropped from any other, so an outside client cannot forge its address or scheme.

Why a gate around ProxyFix: ProxyFix trusts the headers of whoever connects. Here the proxy's
address decides (TRUSTED_PROXIES: addresses, networks, or host names such as compose's `proxy`).
A host name is looked up again, at most every RESOLVE_EVERY seconds, when a request comes from an
address it did not have: the proxy may start after the app (compose starts it once the app is
healthy) and come back at another address.
"""

from __future__ import annotations

import ipaddress
import socket
import time

from werkzeug.middleware.proxy_fix import ProxyFix

FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT",
             "HTTP_X_FORWARDED_PREFIX", "HTTP_FORWARDED")
RESOLVE_EVERY = 5.0  # seconds between lookups of the host names


def parse(names: tuple[str, ...]) -> tuple[list, list[str]]:
    """(the addresses and networks, the host names) among `names`."""
    networks, hosts = [], []
    for name in names:
        try:
            networks.append(ipaddress.ip_network(name, strict=False))
        except ValueError:
            hosts.append(name)
    return networks, hosts


def resolve(hosts: list[str]) -> list:
    """The host names' addresses now; a name that does not resolve (not started yet) gives none."""
    found = []
    for host in hosts:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except OSError:
            continue
        found.extend(ipaddress.ip_network(address) for address in sorted({info[4][0] for info in infos}))
    return found


class TrustedProxies:
    """WSGI: one proxy hop's X-Forwarded-For, -Proto, -Host and -Port applied when the peer is trusted."""

    def __init__(self, application, trusted: tuple[str, ...]):
        self.application = application
        self.networks, self.hosts = parse(trusted)
        self.resolved: list = []
        self.resolved_at = float("-inf")
        self.fixed = ProxyFix(application, x_for=1, x_proto=1, x_host=1, x_port=1)

    def trusts(self, address: str) -> bool:
        try:
            peer = ipaddress.ip_address(address)
        except ValueError:
            return False
        if any(peer in network for network in self.networks + self.resolved):
            return True
        if self.hosts and time.monotonic() - self.resolved_at >= RESOLVE_EVERY:
            self.resolved, self.resolved_at = resolve(self.hosts), time.monotonic()
            return any(peer in network for network in self.resolved)
        return False

    def __call__(self, environ, start_response):
        if (self.networks or self.hosts) and self.trusts(environ.get("REMOTE_ADDR", "")):
            return self.fixed(environ, start_response)
        for name in FORWARDED:
            environ.pop(name, None)
        return self.application(environ, start_response)
