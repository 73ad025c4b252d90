"""Bind HOST:PORT once, before any worker, so reloads never close the port.

Every worker inherits this socket and accepts on it; between two workers,
connections wait in its backlog instead of being refused.
"""

from __future__ import annotations

import errno
import socket

BACKLOG = 1024


class BindError(Exception):
    """The port can't be had; str() is the one line shown to the user."""


def bind(host: str, port: int) -> socket.socket:
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror:
        raise BindError(f"HOST={host!r} is not an address or a name this machine can resolve: "
                        "use 127.0.0.1 (this machine only) or 0.0.0.0 (all interfaces, e.g. in a container)") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6 and host in ("::", ""):
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # dual stack
    try:
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise BindError(describe(exc, host, port)) from None
    sock.set_inheritable(True)
    return sock


def describe(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"port {port} on {host} is already in use: stop the other server "
                f"(find it with `ss -ltnp 'sport = :{port}'`) or set PORT to a free port")
    if exc.errno == errno.EACCES:
        return f"no permission to listen on port {port}: use a port from 1024 up, e.g. PORT=5000"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"HOST={host!r} is not an address of this machine: use 127.0.0.1 or 0.0.0.0"
    return f"cannot listen on {host}:{port}: {exc.strerror}"


def no_port() -> socket.socket:
    """A task worker's stand-in for the listening socket: never bound, closed by each worker at start, so
    launching one takes the same path as launching a web worker."""
    return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
