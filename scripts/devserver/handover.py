"""Passing a client connection from a retiring worker to its successor, bytes already read included.

Why: a connection the old worker holds (kept alive between requests, just accepted,
or with pipelined requests already read into its buffer) must be answered by the
new code, and never closed under the client's feet. The old worker sends the socket
itself over a Unix socket pair (SCM_RIGHTS) together with whatever it had read past
the last request; the new worker serves it as if it had accepted it, so the app sees
the real client address and streams answer chunk by chunk. No server library does
this hand-over, so it is written here.

One message per connection on a SOCK_SEQPACKET pair: MARK + bytes read ahead, one descriptor.
"""

from __future__ import annotations

import io
import socket

from devserver import protocol
from devserver.protocol import HANDOVER_MARK as MARK  # never an empty message

# (give, take): the retiring workers send on `give`, their successors receive on `take`.
channel = protocol.control_pair


def give(channel_end: socket.socket, connection: socket.socket, read_ahead: bytes) -> bool:
    """Send one connection on (a worker's read buffer is 8 KiB: it fits one message); False when nobody
    can take it (the successor is gone)."""
    return protocol.send(channel_end, MARK + read_ahead, [connection.fileno()])


def take(channel_end: socket.socket) -> tuple[socket.socket, bytes] | None:
    """The next connection and its read-ahead bytes; None once every giver has closed its end."""
    while True:
        message, fds = protocol.receive(channel_end, 1)
        if not message:
            return None
        if fds:
            return socket.socket(fileno=fds[0]), message[len(MARK):]


class ReplayingSocketIO(socket.SocketIO):
    """A socket's reading side that first gives back the bytes the previous worker had read."""

    def __init__(self, sock: socket.socket, read_ahead: bytes):
        super().__init__(sock, "rb")
        sock._io_refs += 1  # as socket.makefile does: the socket stays open while this reader is
        self.read_ahead = read_ahead

    def readinto(self, buffer) -> int | None:
        if self.read_ahead:
            n = min(len(buffer), len(self.read_ahead))
            buffer[:n] = self.read_ahead[:n]
            self.read_ahead = self.read_ahead[n:]
            return n
        return super().readinto(buffer)


def reader(sock: socket.socket, read_ahead: bytes) -> io.BufferedReader:
    """What pywsgi reads requests from: the read-ahead bytes, then the socket."""
    return io.BufferedReader(ReplayingSocketIO(sock, read_ahead))
