"""HTTP/1.1 read strictly where gevent's pywsgi is lenient, so no request can be read two ways.

Why by hand: pywsgi reads the request line by splitting it on any whitespace, the header block
with the email package (bare LF line ends, folded lines, a space before the colon, control
characters, no limit but http.client's), the first of two Content-Length headers, `+5` or `0_5`
as a length (int()), drops Content-Length when the request is also chunked, and reads a
Transfer-Encoding other than a bare `chunked` as no encoding at all. A proxy in front that reads
the same bytes otherwise would take part of one request for another (request smuggling, RFC 9112
6.3 and 11.2). Here each such request is refused: 400 (414 for a request line over the limit, 431
for a header field or a number of them over theirs), and the connection closed.

What is read, and how (RFC 9112; gunicorn 22-26's rules, where it has one):
- the request line: `METHOD SP target SP HTTP/1.x CRLF`, one space each; a method of 3 to 20
  token characters without lower case letters or `#` (gunicorn's); a target without spaces or
  control characters, in origin-form (`/...`), absolute-form (http(s)://, its authority the Host
  header's), `*` for OPTIONS only and authority-form for CONNECT only; HTTP/1.0 or HTTP/1.1.
- each header field: `token ":" OWS value OWS CRLF`, the value without control characters but
  HTAB; no folded lines, no bare CR or LF.
- at most one Host (HTTP/1.1 has exactly one), Content-Length, Content-Type and Transfer-Encoding;
  a Content-Length of digits only; a Transfer-Encoding of `chunked` only (any case), never with
  Content-Length nor in HTTP/1.0; no `Content_Length` or `Transfer_Encoding` (what a proxy that
  maps `_` to `-` would read as framing; other names with `_` are dropped, as pywsgi does).
- a chunked body (StrictInput): chunk sizes of 1 to 16 hex digits below 2^63, extensions without
  control characters, CRLF after each line and each chunk's data, trailers read as header fields
  are, and none that frames or routes (Host, Content-Length, Transfer-Encoding, ...).

Each check is made where the line is read, one compiled pattern per line on the usual path; the
reason is worked out only for a request that fails it. The limits are class attributes with
gunicorn's defaults, and `StrictHandler.limited(...)` a handler with others (the worker's settings).
The draining server's handler is a StrictHandler (server.py).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Private to pywsgi, and imported rather than matched by name: what its own parser raises and
# what its handler answers 400 for (WSGIHandler._handle_client_error), its input and its headers.
from gevent.pywsgi import MAX_REQUEST_LINE, Input, OldMessage, WSGIHandler, _InvalidClientInput, _InvalidClientRequest
from werkzeug.exceptions import BadRequest

# The longest request line pywsgi lets through: it answers 414 itself to one of MAX_REQUEST_LINE
# bytes with its CRLF, before the handler sees it.
LONGEST_REQUEST_LINE = MAX_REQUEST_LINE - 3
MOST_FIELDS = 32768  # gunicorn's ceiling for limit_request_fields
CHUNK_LINE_LIMIT = MAX_REQUEST_LINE  # a chunk-size line with its extensions, as pywsgi bounds it
LARGEST_CHUNK = 2**63 - 1

_TCHAR = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"  # RFC 9110 5.6.2
# The usual path: one match per line. A field line, name and value (trailing OWS still on it).
_FIELD = re.compile(rb"([" + _TCHAR + rb"]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*)\r\n").fullmatch
_TOKEN = re.compile(rb"[" + _TCHAR + rb"]+").fullmatch
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]").search  # in a value or a chunk extension
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}").fullmatch
# gunicorn's conventional methods: tokens of 3 to 20 characters, no lower case letters, no `#`.
_METHOD = r"[!$%&'*+\-.^_`|~0-9A-Z]{3,20}"
_TARGET = r"[^\x00-\x20\x7f]+"
_REQUEST_LINE = re.compile(f"({_METHOD}) ({_TARGET}) (HTTP/1\\.[01])\r\n").fullmatch
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*").fullmatch

# Fields a request has at most one of (RFC 9110 5.3, 8.6; gunicorn's singletons): lower-case names.
SINGLE = frozenset((b"host", b"content-length", b"transfer-encoding", b"content-type"))
# What a proxy that maps `_` to `-` (as CGI does) reads as framing: refused, not dropped.
LOOKALIKES = frozenset((b"content_length", b"transfer_encoding"))
# Fields a trailer may not carry: they frame, route or authenticate (RFC 9110 6.5.1; gunicorn's list).
NOT_IN_TRAILERS = frozenset((b"host", b"content-length", b"transfer-encoding", b"trailer", b"authorization",
                             b"te")) | LOOKALIKES

_ANSWERS = {
    414: b"HTTP/1.1 414 URI Too Long\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    431: b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
}


class Refused(_InvalidClientRequest):
    """A request this server reads one way only would be misread: answered `status`, the connection closed.

    An _InvalidClientRequest, so pywsgi logs it as the client's error, not as a crash."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def shown(data: bytes | str, most: int = 80) -> str:
    """What a log line says of the client's bytes: their repr, cut short."""
    return repr(data[:most]) + ("..." if len(data) > most else "")


def request_line_problem(line: str, limit: int) -> Refused:
    """Why a request line (with its line end, as read) is refused; `limit`: its longest, without CRLF."""
    if not line.endswith("\n"):
        if len(line) >= limit + 2:
            return Refused(f"request line longer than {limit} bytes", 414)
        return Refused(f"request line cut short: {shown(line)}")
    if not line.endswith("\r\n"):
        return Refused(f"request line ends in a bare LF: {shown(line)}")
    content = line[:-2]
    if len(content) > limit:
        return Refused(f"request line longer than {limit} bytes", 414)
    parts = content.split(" ")
    if len(parts) != 3:
        return Refused(f"request line is not method, target and version apart by single spaces: {shown(content)}")
    method, target, version = parts
    if not re.fullmatch(_METHOD, method):
        return Refused(f"invalid method: {shown(method)}")
    if not re.fullmatch(_TARGET, target):
        return Refused(f"invalid request target: {shown(target)}")
    return Refused(f"invalid HTTP version: {shown(version)}")


def parse_request_line(line: str, limit: int = 4094) -> tuple[str, str, str]:
    """(method, target, version) of a request line as read (latin-1, its CRLF on), or Refused."""
    match = _REQUEST_LINE(line)
    if match is None or len(line) - 2 > limit:
        raise request_line_problem(line, limit)
    return match.groups()


def origin_form(method: str, target: str, host: bytes | None) -> str:
    """The path and query a target not in origin-form asks for, or Refused (RFC 9112 3.2)."""
    if target == "*":
        if method != "OPTIONS":
            raise Refused(f"asterisk-form target for {method}, not OPTIONS")
        return target
    if method == "CONNECT":
        if "/" in target or ":" not in target:
            raise Refused(f"CONNECT to no host:port: {shown(target)}")
        return target
    if "://" not in target:
        raise Refused(f"request target neither a path nor an absolute URI: {shown(target)}")
    try:
        parts = urlsplit(target)
        parts.port  # noqa: B018 - raises for a port that is no number
    except ValueError as exc:
        raise Refused(f"invalid absolute URI {shown(target)}: {exc}") from None
    if not _SCHEME(parts.scheme) or parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise Refused(f"absolute URI not http(s)://host: {shown(target)}")
    # RFC 9112 3.2.2: the target's authority is the one that counts; one that differs from Host
    # would be routed by Host in front (a proxy) and by the target here.
    if host is None or parts.netloc.lower() != host.decode("latin-1").lower():
        raise Refused(f"absolute URI for {shown(parts.netloc)} with Host {shown(host or b'')}")
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def field_problem(line: bytes, limit: int, what: str = "header") -> Refused:
    """Why a header (or trailer) field line, as read, is refused; `limit`: its longest, CRLF included."""
    if not line:
        return Refused(f"the stream ended inside the {what} fields")
    if not line.endswith(b"\n"):
        if len(line) >= limit:
            return Refused(f"{what} field longer than {limit} bytes: {shown(line, 40)}", 431)
        return Refused(f"the stream ended inside a {what} field: {shown(line)}")
    if not line.endswith(b"\r\n"):
        return Refused(f"{what} field ends in a bare LF: {shown(line)}")
    content = line[:-2]
    if b"\r" in content:
        return Refused(f"bare CR in a {what} field: {shown(content)}")
    if content[:1] in (b" ", b"\t"):
        return Refused(f"folded {what} field (obs-fold): {shown(content)}")
    name, colon, _ = content.partition(b":")
    if not colon:
        return Refused(f"{what} field without a colon: {shown(content)}")
    if not name:
        return Refused(f"{what} field without a name: {shown(content)}")
    if not _TOKEN(name):
        return Refused(f"invalid {what} field name: {shown(name)}")
    return Refused(f"control character in the value of {what} field {shown(name)}")


def read_fields(readline, size_limit: int, count_limit: int, what: str = "header") -> list[tuple[bytes, bytes]]:
    """The fields up to the blank line, as (name, value) with the value's OWS stripped, or Refused.
    `readline(n)`: the stream's; `size_limit`: a field line's longest with its CRLF."""
    found = []
    while (line := readline(size_limit)) != b"\r\n":
        match = _FIELD(line)
        if match is None:
            raise field_problem(line, size_limit, what)
        if len(found) == count_limit:
            raise Refused(f"more than {count_limit} {what} fields", 431)
        name, value = match.groups()
        found.append((name, value.rstrip(b" \t")))
    return found


def framing(version: str, length: bytes | None, coding: bytes | None) -> int | None:
    """The body's Content-Length (None: none, or chunked) from its one Content-Length and one
    Transfer-Encoding value (each None when absent), or Refused (RFC 9112 6.1-6.3)."""
    if coding is not None:
        if length is not None:
            raise Refused("both Content-Length and Transfer-Encoding")
        if version == "HTTP/1.0":
            raise Refused("Transfer-Encoding in an HTTP/1.0 request")
        if coding.lower() != b"chunked":
            raise Refused(f"unsupported Transfer-Encoding: {shown(coding)}")
        return None
    if length is None:
        return None
    if not length.isdigit() or len(length) > 18:  # bytes.isdigit(): ASCII digits only
        raise Refused(f"invalid Content-Length: {shown(length)}")
    return int(length)


class StrictHandler(WSGIHandler):
    """pywsgi's handler, reading the request line and the headers itself, and a chunked body strictly."""

    # gunicorn's settings of the same names and defaults: the request line's longest (its CRLF not
    # counted), the most header fields, a header field line's longest (its CRLF counted).
    limit_request_line = 4094
    limit_request_fields = 100
    limit_request_field_size = 8190

    @classmethod
    def limited(cls, line: int, fields: int, field_size: int) -> type[StrictHandler]:
        """This handler with other limits, set as gunicorn's settings of those names are: a value
        at or below 0 (gunicorn's "unlimited") or over the ceiling is the ceiling: 8189 bytes for
        the request line (pywsgi reads no longer one), 32768 fields, and 8190 bytes for a field."""
        line = line if 0 < line <= LONGEST_REQUEST_LINE else LONGEST_REQUEST_LINE
        fields = fields if 0 < fields <= MOST_FIELDS else MOST_FIELDS
        field_size = field_size if field_size > 0 else 8190
        return type(cls.__name__, (cls,), {
            "__qualname__": cls.__qualname__, "__module__": cls.__module__, "__doc__": cls.__doc__,
            "limit_request_line": line, "limit_request_fields": fields, "limit_request_field_size": field_size,
        })

    def read_requestline(self):
        # Up to the limit and its CRLF: one byte more, with no LF in it, is a line over the limit.
        return self.rfile.readline(self.limit_request_line + 2).decode("latin-1")

    def read_request(self, raw_requestline):
        """The request line and the header block, checked as they are read: True, or Refused."""
        # What the connection's last request left, until this one's are known: an access log asks them of a refusal.
        self.environ = self.command = self.path = self.request_version = None
        match = _REQUEST_LINE(raw_requestline)
        if match is None or len(raw_requestline) - 2 > self.limit_request_line:
            shown_line = raw_requestline.rstrip("\r\n")[:200]  # what the access log shows of it
            self.requestline = shown_line if shown_line.isprintable() else shown(shown_line, 200)
            raise request_line_problem(raw_requestline, self.limit_request_line)
        method, target, version = match.groups()
        self.requestline = raw_requestline[:-2]
        self.command, self.path, self.request_version = method, target, version

        fields = read_fields(self.rfile.readline, self.limit_request_field_size, self.limit_request_fields)
        single = {}
        decoded = []
        for name, value in fields:
            key = name.lower()
            if key in SINGLE:
                if key in single:
                    raise Refused(f"two {name.decode('latin-1')} fields")
                single[key] = value
            elif key in LOOKALIKES:
                raise Refused(f"{name.decode('latin-1')} field: read as {key.replace(b'_', b'-').decode()} in front")
            decoded.append((name.decode("latin-1"), value.decode("latin-1")))

        host = single.get(b"host")
        if host is None:
            if version == "HTTP/1.1":
                raise Refused("HTTP/1.1 request without Host")
        elif b"," in host or b" " in host or b"\t" in host:
            raise Refused(f"invalid Host: {shown(host)}")
        if target[0] != "/":
            self.path = origin_form(method, target, host)

        self.content_length = framing(version, single.get(b"content-length"), single.get(b"transfer-encoding"))
        if self.content_length and method == "HEAD":
            raise Refused("HEAD request with a body")  # as pywsgi refuses it

        self.headers = headers = OldMessage()
        headers._headers = decoded  # what its parser would have made of them; get() reads these
        connection = headers.get("Connection", "").lower()
        if version == "HTTP/1.1":
            self.close_connection = connection == "close"
        else:
            self.close_connection = connection != "keep-alive"
        return True

    def _handle_client_error(self, ex):
        answer = super()._handle_client_error(ex)  # logs it
        if self.environ is None:  # refused before it had one (not a body's error, after the app)
            self.environ = self.refused_environ()
            self.response_headers = [("Connection", "close"), ("Content-Length", "0")]
        status = getattr(ex, "status", 400)
        return (str(status), _ANSWERS[status]) if status in _ANSWERS else answer

    def refused_environ(self) -> dict[str, str]:
        """What an access log asks of a request (gunicorn's: the method, RAW_URI, the protocol, the
        address), for one refused before its environ was made; its request line's parts, or "-"."""
        address = self.client_address
        return {
            "REQUEST_METHOD": self.command or "-",
            "RAW_URI": self.path or self.requestline or "-",
            "PATH_INFO": "",
            "QUERY_STRING": "",
            "SERVER_PROTOCOL": self.request_version or "-",
            "REMOTE_ADDR": str(address[0] if isinstance(address, tuple) else address or "-"),
        }

    def _headers(self):
        # pywsgi's, from the fields as read (its own formats each as a line and splits it again).
        for name, value in self.headers._headers:
            if "_" in name:
                continue  # dropped, as pywsgi drops them: HTTP_X_Y must come from one name only
            key = name.replace("-", "_").upper()
            if key != "CONTENT_TYPE" and key != "CONTENT_LENGTH":
                yield "HTTP_" + key, value

    def get_environ(self):
        environ = super().get_environ()
        given = self.wsgi_input
        if given.chunked_input and environ["wsgi.input"] is given:  # not for a connection upgrade's raw stream
            environ["wsgi.input"] = self.wsgi_input = StrictInput(self.rfile, None, given.socket, True, handler=self)
        return environ


class StrictInput(Input):
    """wsgi.input for a chunked body, read strictly; a malformed one is the client's error (400).

    To the app, a malformed body raises Werkzeug's BadRequest (Flask answers 400, and the
    connection is closed: the stream can no longer be trusted). pywsgi's own discard of what the
    app left unread, after the response, gets pywsgi's _InvalidClientInput (400 if nothing was
    answered yet; closed either way).
    """

    __slots__ = ("handler",)

    def __init__(self, rfile, content_length, socket=None, chunked_input=False, handler=None):
        super().__init__(rfile, content_length, socket, chunked_input)
        self.handler = handler

    @property
    def broken(self) -> bool:
        return self._chunked_input_error

    def _fail(self, message: str):
        self._chunked_input_error = True  # pywsgi's flag: its _discard reads no more of the stream
        raise _InvalidClientInput(message)

    def _refused(self, exc: _InvalidClientInput) -> BadRequest:
        if self.handler is not None:
            self.handler.close_connection = True
        return BadRequest(f"Malformed chunked request body: {exc}")

    def read(self, length=None):
        try:
            return super().read(length)
        except _InvalidClientInput as exc:
            raise self._refused(exc) from exc

    def readline(self, size=None):
        try:
            return super().readline(size)
        except _InvalidClientInput as exc:
            raise self._refused(exc) from exc

    def _discard(self):
        # pywsgi's, reading with Input.read: the error it gets is its own, which it answers 400.
        if self._chunked_input_error:
            return
        if self.chunked_input or self.position < (self.content_length or 0):
            self.send_100_continue_enabled = False
            while Input.read(self, 16384):
                pass
            self.send_100_continue_enabled = True

    def _chunked_read(self, length=None, use_readline=False):
        """pywsgi's, with the chunk-size lines, the CRLFs and the trailers read strictly."""
        rfile = self.rfile
        self._send_100_continue()
        if length == 0:
            return b""
        reader = rfile.readline if use_readline else rfile.read
        response = []
        while self.chunk_length != 0:
            left = self.chunk_length - self.position
            if left <= 0:  # at a chunk's start (chunk_length is -1 before the first)
                self.chunk_length = self._chunk_size()
                self.position = 0
                continue
            if length is not None and length < left:
                left = length
            data = reader(left)
            if not data:
                self._fail("the stream ended inside a chunk")
            response.append(data)
            self.position += len(data)
            if self.position == self.chunk_length and rfile.read(2) != b"\r\n":
                self._fail("chunk data not followed by CRLF")
            if length is not None:
                length -= len(data)
                if length == 0:
                    break
            if use_readline and data[-1:] == b"\n":
                break
        return b"".join(response)

    def _chunk_size(self) -> int:
        """The next chunk's size, its line read; the trailers read too when it is the last (0)."""
        line = self.rfile.readline(CHUNK_LINE_LIMIT)
        size = chunk_size(line)
        if isinstance(size, str):
            self._fail(size)
        if size == 0:
            handler = self.handler or StrictHandler
            try:
                for name, _ in read_fields(self.rfile.readline, handler.limit_request_field_size,
                                           handler.limit_request_fields, "trailer"):
                    if name.lower() in NOT_IN_TRAILERS:
                        self._fail(f"{name.decode('latin-1')} in the trailers")
            except Refused as exc:
                self._fail(exc.formatted_message)
        return size


def chunk_size(line: bytes) -> int | str:
    """A chunk-size line's size (RFC 9112 7.1: 1*HEXDIG [BWS chunk-ext] CRLF), or why it is refused."""
    if not line.endswith(b"\r\n"):
        if not line:
            return "the stream ended before a chunk size"
        if not line.endswith(b"\n") and len(line) >= CHUNK_LINE_LIMIT:
            return f"chunk-size line longer than {CHUNK_LINE_LIMIT} bytes"
        return f"chunk-size line not ended by CRLF: {shown(line)}"
    size, semicolon, extensions = line[:-2].partition(b";")
    if semicolon:
        if _CONTROL(extensions):
            return f"control character in a chunk extension: {shown(extensions)}"
        size = size.rstrip(b" \t")  # BWS, before extensions only
    if not _HEX(size):
        return f"invalid chunk size: {shown(size)}"
    value = int(size, 16)
    if value > LARGEST_CHUNK:
        return f"chunk size over 2^63 - 1: {shown(size)}"
    return value
