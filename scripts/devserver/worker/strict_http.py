"""HTTP/1.1 read strictly where gevent's pywsgi is lenient, so no request can be read two ways.

Why by hand: pywsgi reads the first of two Content-Length headers, drops Content-Length when
the request is also chunked, and reads a Transfer-Encoding other than a bare `chunked` as no
encoding at all. A proxy in front that reads the same bytes otherwise would take part of one
request for another (request smuggling, RFC 9112 6.3 and 11.2). Here such a request is the
client's error (400), and so is a malformed chunked body, which pywsgi reports as an I/O error
the app would show as its own crash (500).

`StrictHandler` is the handler's half (the framing headers, checked as they are parsed), and
`StrictChunkedInput` the body's half (wsgi.input). The draining server's handler is a
StrictHandler (server.py).
"""

from __future__ import annotations

# Both private to pywsgi, and imported rather than matched by name: they are what its own
# parser raises and what its handler answers 400 for (WSGIHandler._handle_client_error).
from gevent.pywsgi import WSGIHandler, _InvalidClientInput, _InvalidClientRequest
from werkzeug.exceptions import BadRequest


def check_framing(lengths: list[str], encodings: list[str]) -> None:
    """A request's Content-Length and Transfer-Encoding headers (each as sent, every copy) describe
    one body, one way; raise pywsgi's _InvalidClientRequest (400, connection closed) otherwise."""
    if len(set(lengths)) > 1:
        raise _InvalidClientRequest(f"conflicting Content-Length headers: {', '.join(lengths)}")
    if encodings and lengths:
        raise _InvalidClientRequest("both Content-Length and Transfer-Encoding")
    if encodings and [e.strip().lower() for e in ",".join(encodings).split(",")] != ["chunked"]:
        raise _InvalidClientRequest(f"unsupported Transfer-Encoding: {', '.join(encodings)}")


class StrictHandler(WSGIHandler):
    """pywsgi's handler, with the framing headers checked and a chunked body read strictly."""

    def read_request(self, raw_requestline):
        """pywsgi's parsing, made strict where leniency lets a request be read two ways (smuggling)."""
        seen, original = {}, self.MessageClass

        def parse(fp, seekable):  # pywsgi drops Content-Length when chunked: look before it does
            headers = original(fp, seekable)
            for name in ("Content-Length", "Transfer-Encoding"):
                seen[name] = headers.get_all(name) or []
            return headers

        self.MessageClass = parse
        try:
            super().read_request(raw_requestline)
        finally:
            del self.MessageClass
        check_framing(seen["Content-Length"], seen["Transfer-Encoding"])
        return True

    def get_environ(self):
        environ = super().get_environ()
        if environ.get("wsgi.input") is not None and self.headers.get("Transfer-Encoding"):
            environ["wsgi.input"] = self.wsgi_input = StrictChunkedInput(environ["wsgi.input"], self)
        return environ


class StrictChunkedInput:
    """wsgi.input whose malformed chunked body is the client's error (400), not the app's (500).

    pywsgi raises an IOError for a bad chunk size; the app (or Werkzeug's debugger) would
    show it as a crash. Raised as Werkzeug's BadRequest, Flask answers 400, and pywsgi
    closes the connection since the stream can no longer be trusted.
    """

    def __init__(self, wrapped, handler: WSGIHandler):
        self.wrapped = wrapped
        self.handler = handler
        self.broken = False

    def _call(self, name, *args):
        try:
            return getattr(self.wrapped, name)(*args)
        except _InvalidClientInput as exc:
            # The app answers 400; the rest of the stream cannot be trusted: read no more of it.
            self.handler.close_connection = True
            self.broken = True
            raise BadRequest(f"Malformed chunked request body: {exc}") from exc

    def read(self, *args):
        return self._call("read", *args)

    def readline(self, *args):
        return self._call("readline", *args)

    def readlines(self, *args):
        return self._call("readlines", *args)

    def __iter__(self):
        return iter(self.readline, b"")

    def _discard(self):  # what pywsgi calls after the response, to reach the next request
        if not self.broken:
            self.wrapped._discard()

    def __getattr__(self, name):
        return getattr(self.wrapped, name)
