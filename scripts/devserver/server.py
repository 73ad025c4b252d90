"""gevent's pywsgi server, taught to drain: track each connection, and know which are idle.

Why by hand: `WSGIServer.stop(timeout)` waits for in-flight requests only when
the server has a pool, and an idle keep-alive connection would hold it up or be
cut mid-request. Here every connection registers itself, says when it is
waiting for its next request, and a drain either relays late requests to the
successor (reload) or closes idle connections at once (shutdown).
"""

from __future__ import annotations

import socket

import gevent
from gevent.event import Event
from gevent.pywsgi import WSGIHandler, WSGIServer

from devserver.relay import loopback_address, make_relay


class ConnectionHandler(WSGIHandler):
    """One client connection; `idle` while it waits for the next request line."""

    idle = False

    def handle(self):
        self.server.connections.add(self)
        try:
            # pywsgi sends the headers and the body in two writes; with Nagle's algorithm the
            # second waits for the client's delayed ACK: ~40 ms per kept-alive request.
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # not TCP
        try:
            super().handle()
        finally:
            self.server.connections.discard(self)
            self.server.changed.set()

    def read_requestline(self):
        if self.server.closing_idle:
            return ""  # shutting down: no new request on this connection
        self.idle = True
        try:
            return super().read_requestline()
        finally:
            self.idle = False

    def get_environ(self):
        environ = super().get_environ()
        environ["devserver.raw_path"] = self.path  # exactly as sent, for the relay
        return environ

    def log_request(self):
        # The container health check asks every few seconds: a line each would bury the app's log.
        if self.path == "/healthz" and self.code == 200:
            return
        super().log_request()

    def start_response(self, status, headers, exc_info=None):
        if self.server.draining:
            # Tell the client to reconnect: the next connection reaches the new worker.
            headers = [(k, v) for k, v in headers if k.lower() != "connection"] + [("Connection", "close")]
        return super().start_response(status, headers, exc_info)


class DrainingServer(WSGIServer):
    """A WSGIServer on an inherited listening socket that can retire without dropping anything."""

    handler_class = ConnectionHandler

    def __init__(self, listener: socket.socket, application, *, access_log: bool, host: str):
        # SERVER_NAME given up front: otherwise gevent resolves it with getfqdn(),
        # a DNS lookup that can stall start-up for seconds inside a container.
        super().__init__(listener, application, log="default" if access_log else None,
                         environ={"SERVER_NAME": host})
        self.connections: set[ConnectionHandler] = set()
        self.changed = Event()
        self.draining = False
        self.closing_idle = False

    def busy(self) -> int:
        """Requests in flight (connections that are not waiting for a request line)."""
        return sum(1 for handler in self.connections if not handler.idle)

    def begin_drain(self, relay: bool, timeout: float) -> None:
        """Stop accepting; late requests on kept-alive connections go to the successor, or nowhere."""
        address = loopback_address(self.socket.getsockname())
        self.draining = True
        self.close()  # closes only this process's copy of the listening socket
        if relay:
            self.application = make_relay(address, timeout)
        else:
            self.close_idle()

    def close_idle(self) -> None:
        self.closing_idle = True
        for handler in list(self.connections):
            if handler.idle and handler.socket is not None:
                try:
                    handler.socket.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def wait_drained(self, timeout: float, linger: float) -> bool:
        """Wait for in-flight requests (up to `timeout`), then for idle connections (up to `linger`).

        Returns False when requests were still running at the deadline.
        """
        finished = self._wait_until(lambda: self.busy() == 0, timeout)
        self._wait_until(lambda: not self.connections, min(linger, timeout))
        self.close_idle()
        gevent.sleep(0)  # let the handlers see their sockets close
        return finished

    def _wait_until(self, condition, timeout: float) -> bool:
        with gevent.Timeout(timeout, False):
            while not condition():
                self.changed.clear()
                self.changed.wait(0.05)  # a handler finishing sets it; the short wait covers idle flips
            return True
        return condition()
