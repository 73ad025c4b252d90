"""A tiny reverse proxy a retiring worker uses for requests that reach it after a reload.

Why: a client's idle keep-alive connection still points at the old worker.
Closing it races with a request the client may be sending right then (the
client sees a reset); answering it with the old code serves stale code. So
the old worker forwards such a request to the shared listening socket, where
only the new worker accepts now, and says `Connection: close` so the client
reconnects straight to the new worker. No HTTP library does this hand-over.
"""

from __future__ import annotations

import http.client

# Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection and are not forwarded.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


def loopback_address(sockname) -> tuple[str, int]:
    """Where to reach the listening socket from inside this machine."""
    host, port = sockname[0], sockname[1]
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return host, port


def request_headers(environ) -> list[tuple[str, str]]:
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
            if name.lower() not in HOP_BY_HOP:
                headers.append((name, value))
    for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
        if environ.get(key):
            headers.append((name, environ[key]))
    return headers


def make_relay(address: tuple[str, int], timeout: float):
    """A WSGI app that replays each request against `address` and streams the answer back."""

    def relay(environ, start_response):
        body = environ["wsgi.input"].read() if environ.get("CONTENT_LENGTH") or environ.get(
            "HTTP_TRANSFER_ENCODING") else None
        if body is not None:
            # The body is forwarded whole, with its real length.
            environ = {**environ, "CONTENT_LENGTH": str(len(body))}
        conn = http.client.HTTPConnection(*address, timeout=timeout)
        try:
            conn.putrequest(environ["REQUEST_METHOD"], environ["devserver.raw_path"],
                            skip_host=True, skip_accept_encoding=True)
            for name, value in request_headers(environ):
                conn.putheader(name, value)
            conn.putheader("Connection", "close")
            conn.endheaders(body)
            response = conn.getresponse()
        except Exception:
            conn.close()
            raise
        headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
        start_response(f"{response.status} {response.reason}", headers + [("Connection", "close")])

        def stream():
            try:
                while chunk := response.read(65536):
                    yield chunk
            finally:
                conn.close()

        return stream()

    return relay
