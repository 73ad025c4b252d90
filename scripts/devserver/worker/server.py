"""gevent's pywsgi server, taught to retire without dropping a connection.

Why by hand: `WSGIServer.stop(timeout)` either waits for idle keep-alive
connections or cuts them, and a connection accepted just before the stop, or
one whose next request is already in the buffer, is closed unread. Here every
connection is a greenlet in a pool, a handler says when it is waiting for the
client's next request, and a retiring server passes each connection it is not
answering to its successor (handover.py), read-ahead bytes included. When there
is no successor (shutdown), requests already sent are answered and idle
connections closed.

The handler reads requests strictly (strict_http.py); the worker's own answers (health.py,
livereload.py) are WSGI in front of the app, which this server only serves.
"""

from __future__ import annotations

import socket
import time

import gevent
from gevent.pool import Pool
from gevent.pywsgi import WSGIServer
from gevent.socket import wait_read

from devserver import handover
from devserver.worker.health import UNLOGGED
from devserver.worker.strict_http import StrictHandler

FIRST_REQUEST_GRACE = 0.5  # seconds a new connection may take to send its request while stopping


def no_delay(sock: socket.socket) -> None:
    """pywsgi sends the headers and the body in two writes; with Nagle's algorithm the second waits for
    the client's delayed ACK: ~40 ms per kept-alive request (the production worker's handler too)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass  # not TCP


def arrived(handler) -> bytes:
    """What a connection's client has sent that is not read yet, taking only what has arrived (no waiting):
    a request pipelined behind the last one, or one on its way (the production worker asks it too)."""
    timeout = handler.socket.gettimeout()
    handler.socket.settimeout(0)
    try:
        return handler.rfile.peek()
    except OSError:
        return b""
    finally:
        handler.socket.settimeout(timeout)


class PassOn(Exception):
    """Thrown into a handler waiting for the client's next request: the server is retiring."""


class ConnectionHandler(StrictHandler):
    """One client connection, from accept (or hand-over) to close or hand-over."""

    waiting = False  # between requests, with nothing read yet: safe to interrupt
    requests = 0

    def handle(self):
        self.greenlet = gevent.getcurrent()
        self.server.handlers.add(self)
        no_delay(self.socket)
        try:
            super().handle()
        except Exception:
            if not self.server.inert:
                raise  # in a fork of the worker, its closed copy of the connection is all this is
        finally:
            self.server.handlers.discard(self)

    def read_requestline(self):
        """Wait for the next request without reading it, so a retiring server can pass it on whole."""
        if not self.server.draining and not self.read_ahead():
            self.waiting = True
            try:
                wait_read(self.socket.fileno())
            except PassOn:
                pass
            finally:
                self.waiting = False
        if self.server.draining:
            line = self.leave()
            if line is not None:
                return line
        self.requests += 1
        return super().read_requestline()

    def read_ahead(self) -> bytes:
        return arrived(self)

    def leave(self) -> str | None:
        """The server is retiring. Returns "" to end this handler, None to read one more request here."""
        successor = self.server.successor
        if successor is not None:
            pending = self.read_ahead()
            if handover.give(successor, self.socket, self.rfile.read(len(pending)) if pending else b""):
                sock, self.socket = self.socket, None  # theirs now: pywsgi's clean-up must not read it
                self.rfile.close()
                sock.close()  # our copy only: the successor's keeps the connection open
            return ""
        # Shutting down: answer a request already sent, close the rest. A new connection that has
        # sent nothing yet gets a moment, since its request may be on the way; a browser's
        # speculative pre-connection sends nothing and must not hold the stop for long.
        if not self.read_ahead() and self.requests == 0:
            try:
                wait_read(self.socket.fileno(), timeout=FIRST_REQUEST_GRACE)
            except (TimeoutError, PassOn):
                pass
        if self.read_ahead():
            self.close_connection = True
            return None
        return ""

    def log_request(self):
        if self.environ and self.environ.get(UNLOGGED):
            return
        super().log_request()

    def start_response(self, status, headers, exc_info=None):
        if self.server.draining and self.server.successor is None:
            # Shutting down: this is the last answer on this connection.
            headers = [(k, v) for k, v in headers if k.lower() != "connection"] + [("Connection", "close")]
        return super().start_response(status, headers, exc_info)


class DrainingServer(WSGIServer):
    """A WSGIServer on an inherited listening socket that can retire without dropping anything."""

    handler_class = ConnectionHandler

    def __init__(self, listener: socket.socket, application, *, access_log: bool, host: str,
                 limits: tuple[int, int, int] | None = None):
        # SERVER_NAME given up front: otherwise gevent resolves it with getfqdn(),
        # a DNS lookup that can stall start-up for seconds inside a container.
        # The pool holds every connection's greenlet from the moment it is accepted.
        # `limits`: LIMIT_REQUEST_LINE, LIMIT_REQUEST_FIELDS, LIMIT_REQUEST_FIELD_SIZE (strict_http.py).
        super().__init__(listener, application, log="default" if access_log else None,
                         environ={"SERVER_NAME": host}, spawn=Pool(),
                         handler_class=ConnectionHandler.limited(*limits) if limits else None)
        self.handlers: set[ConnectionHandler] = set()
        self.draining = False
        self.inert = False  # in a process the app forked from the worker (go_inert)
        self.successor: socket.socket | None = None
        self.adopting: list[gevent.Greenlet] = []
        self.channels: list[socket.socket] = []  # hand-over channels being read

    def handle(self, sock, address, read_ahead: bytes = b""):
        rfile = handover.reader(sock, read_ahead) if read_ahead else None
        self.handler_class(sock, address, self, rfile).handle()

    def adopt(self, channel_end: socket.socket) -> None:
        """Serve the connections a retiring predecessor passes on, until it has none left."""

        self.channels.append(channel_end)

        def receive():
            with channel_end:
                while (received := handover.take(channel_end)) is not None:
                    # Into the pool, not through do_handle: a draining server (closed) must still
                    # take connections in, to pass them on to its own successor.
                    self.pool.spawn(self.serve_adopted, *received)

        self.adopting.append(gevent.spawn(receive))

    def serve_adopted(self, connection: socket.socket, read_ahead: bytes) -> None:
        try:
            try:
                address = connection.getpeername()
            except OSError:
                address = ("", 0)  # already closed by the client: the handler sees that
            self.handle(connection, address, read_ahead)
        finally:
            connection.close()

    def go_inert(self) -> None:
        """In a process the app forked (called at the fork, in the child): close this process's copies of
        the listening socket, every connection and every hand-over channel. The worker keeps its own;
        this one never accepts, answers or passes on anything, and its handlers end quietly."""
        self.inert = True
        if not self.closed:
            self.close()
        for handler in list(self.handlers):
            if handler.socket is not None:
                handler.socket.close()
        for channel_end in (*self.channels, self.successor):
            if channel_end is not None:
                channel_end.close()

    def begin_drain(self, successor: socket.socket | None) -> None:
        """Stop accepting; pass every connection not being answered to `successor` (None: shutting down)."""
        self.draining = True
        self.successor = successor
        self.close()  # closes only this process's copy of the listening socket
        loop = gevent.get_hub().loop
        for handler in [h for h in self.handlers if h.waiting]:
            # Woken where it waits, nothing read; checked again when the callback runs, since the
            # client may have woken it first.
            loop.run_callback(lambda h=handler: h.waiting and h.greenlet.throw(PassOn))

    def wait_drained(self, timeout: float) -> bool:
        """Wait (up to `timeout`) until every connection is answered or passed on and the
        predecessor has passed on its last; False when requests were still running then."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            self.pool.join(timeout=remaining)
            gevent.joinall(self.adopting, timeout=max(0.0, deadline - time.monotonic()))
            if len(self.pool) == 0 and all(g.dead for g in self.adopting):
                return True
        return False  # the worker exits now: the kernel closes what is left
