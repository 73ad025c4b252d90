"""The strict HTTP reading (worker/strict_http.py), in process: no server, pywsgi's own handler and input.

Through the real dev server, with a request smuggled behind each, these are test_smuggling.py's cases.
"""

import io

import pytest
from gevent.pywsgi import Input, _InvalidClientInput
from werkzeug.exceptions import BadRequest

import smuggling_cases
from devserver.worker.strict_http import (
    CHUNK_LINE_LIMIT,
    Refused,
    StrictHandler,
    StrictInput,
    chunk_size,
    framing,
    origin_form,
    parse_request_line,
    read_fields,
)

pytestmark = pytest.mark.unit  # in process: no server (conftest.py marks this module so too)


def handler_reading(head: bytes, handler_class=StrictHandler) -> StrictHandler:
    """A handler whose client sent `head` (the headers, the blank line, maybe a body) after its request line."""
    return handler_class(None, ("192.0.2.1", 40000), object(), io.BufferedReader(io.BytesIO(head)))


def refusal(call, *args) -> Refused:
    with pytest.raises(Refused) as raised:  # pywsgi answers it (400 unless said) and closes the connection
        call(*args)
    return raised.value


def fields_of(block: bytes, size: int = 8190, count: int = 100) -> list[tuple[bytes, bytes]]:
    return read_fields(io.BufferedReader(io.BytesIO(block)).readline, size, count)


# -- the limits --------------------------------------------------------------------------------------


def test_the_limits_are_gunicorns_defaults_and_the_cases_use_them():
    assert (StrictHandler.limit_request_line, StrictHandler.limit_request_fields,
            StrictHandler.limit_request_field_size) == (4094, 100, 8190)
    assert (smuggling_cases.LIMIT_REQUEST_LINE, smuggling_cases.LIMIT_REQUEST_FIELDS,
            smuggling_cases.LIMIT_REQUEST_FIELD_SIZE) == (4094, 100, 8190)


def test_limited_is_a_subclass_with_those_limits():
    class Connection(StrictHandler):  # as server.py's ConnectionHandler is
        pass

    limited = Connection.limited(100, 5, 200)
    assert issubclass(limited, Connection) and limited.__name__ == "Connection"
    assert (limited.limit_request_line, limited.limit_request_fields, limited.limit_request_field_size) == (100, 5, 200)
    assert StrictHandler.limit_request_line == 4094  # untouched
    # gunicorn's "unlimited" (0), a negative value and one over the ceiling are the ceilings.
    ceiling = StrictHandler.limited(0, 0, 0)
    assert (ceiling.limit_request_line, ceiling.limit_request_fields, ceiling.limit_request_field_size) == (
        8189, 32768, 8190)
    assert StrictHandler.limited(99999, 40000, -1).limit_request_line == 8189
    assert StrictHandler.limited(99999, 40000, 20000).limit_request_field_size == 20000


def test_the_limits_of_a_limited_handler_are_the_ones_applied():
    handler = handler_reading(b"GET /" + b"a" * 12 + b" HTTP/1.1\r\n", StrictHandler.limited(20, 1, 100))
    line = handler.read_requestline()
    assert line == "GET /" + "a" * 12 + " HTTP"  # the limit and 2 bytes
    refused = refusal(handler.read_request, line)
    assert refused.status == 414
    handler = handler_reading(b"Host: x\r\nAccept: */*\r\n\r\n", StrictHandler.limited(20, 1, 100))
    refused = refusal(handler.read_request, "GET / HTTP/1.1\r\n")
    assert (refused.status, refused.formatted_message) == (431, "more than 1 header fields")
    handler = handler_reading(b"Host: x\r\n" + b"X: " + b"a" * 100 + b"\r\n\r\n", StrictHandler.limited(20, 5, 100))
    assert refusal(handler.read_request, "GET / HTTP/1.1\r\n").status == 431


def test_a_request_line_is_read_up_to_the_limit_and_one_byte_more():
    long_line = b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n"
    handler = handler_reading(long_line)
    line = handler.read_requestline()
    assert len(line) == 4096 and not line.endswith("\n")
    assert refusal(handler.read_request, line).status == 414


def test_a_refusal_over_a_limit_is_answered_with_its_status():
    handler = handler_reading(b"")
    assert handler._handle_client_error(Refused("x", 431))[1].startswith(b"HTTP/1.1 431 Request Header Fields")
    assert handler._handle_client_error(Refused("x", 414))[1].startswith(b"HTTP/1.1 414 ")
    assert handler._handle_client_error(Refused("x"))[1].startswith(b"HTTP/1.1 400 ")


@pytest.mark.parametrize(("line", "head", "logged"), [
    ("GET / HTTP/1.10\r\n", b"Host: x\r\n\r\n", "- GET / HTTP/1.10 -"),
    ("GET\t/ HTTP/1.1\r\n", b"Host: x\r\n\r\n", "- 'GET\\t/ HTTP/1.1' -"),  # not printable: its repr
    ("GET /a HTTP/1.1\r\n", b"Host: x\r\nHost: y\r\n\r\n", "GET /a HTTP/1.1"),
])
def test_a_refusal_is_one_line_of_gunicorns_access_log(line, head, logged):
    """Its access log asks every request for an environ: a refused one has one that says what was read."""
    from datetime import timedelta

    from gunicorn.config import Config
    from gunicorn.glogging import Logger
    from gunicorn.workers.ggevent import GeventResponse

    handler = handler_reading(head)
    handler.environ = {"REQUEST_METHOD": "GET"}  # the connection's last request's
    handler.server = type("Server", (), {"error_log": io.StringIO()})()
    with pytest.raises(Refused) as raised:
        handler.read_request(line)
    status, _ = handler._handle_client_error(raised.value)
    response = GeventResponse(status, handler.response_headers, 0)
    atoms = Logger(Config()).atoms(response, handler.headers.items(), handler.environ, timedelta(0))
    assert (atoms["r"], atoms["s"], atoms["h"]) == (logged, "400", "192.0.2.1")
    assert "(from ('192.0.2.1', 40000))" in handler.server.error_log.getvalue()  # pywsgi's own line, with why


# -- the request line --------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "parsed"), [
    ("GET / HTTP/1.1\r\n", ("GET", "/", "HTTP/1.1")),
    ("POST /a?b=c%20d HTTP/1.0\r\n", ("POST", "/a?b=c%20d", "HTTP/1.0")),
    ("OPTIONS * HTTP/1.1\r\n", ("OPTIONS", "*", "HTTP/1.1")),
    ("M-SEARCH * HTTP/1.1\r\n", ("M-SEARCH", "*", "HTTP/1.1")),
    ("GET http://example/x HTTP/1.1\r\n", ("GET", "http://example/x", "HTTP/1.1")),
    ("GET /caf\xe9 HTTP/1.1\r\n", ("GET", "/caf\xe9", "HTTP/1.1")),  # obs-text, as pywsgi lets it through
])
def test_a_request_line_read_one_way(line, parsed):
    assert parse_request_line(line) == parsed


@pytest.mark.parametrize(("line", "why"), [
    ("GET / HTTP/1.1\n", "request line ends in a bare LF: 'GET / HTTP/1.1\\n'"),
    ("GET / HTTP/1.1", "request line cut short: 'GET / HTTP/1.1'"),
    ("GET  / HTTP/1.1\r\n", "request line is not method, target and version apart by single spaces: 'GET  / HTTP/1.1'"),
    ("GET\t/\tHTTP/1.1\r\n", "request line is not method, target and version apart by single spaces: "
                             "'GET\\t/\\tHTTP/1.1'"),
    ("GET /\r\n", "request line is not method, target and version apart by single spaces: 'GET /'"),
    ("get / HTTP/1.1\r\n", "invalid method: 'get'"),
    ("GET\0 / HTTP/1.1\r\n", "invalid method: 'GET\\x00'"),
    ("GE / HTTP/1.1\r\n", "invalid method: 'GE'"),
    ("GET# / HTTP/1.1\r\n", "invalid method: 'GET#'"),
    ("GET /a\x7fb HTTP/1.1\r\n", "invalid request target: '/a\\x7fb'"),
    ("GET / HTTP/1.10\r\n", "invalid HTTP version: 'HTTP/1.10'"),
    ("GET / HTTP/2.0\r\n", "invalid HTTP version: 'HTTP/2.0'"),
    ("GET / HTTP/0.9\r\n", "invalid HTTP version: 'HTTP/0.9'"),
    ("GET / http/1.1\r\n", "invalid HTTP version: 'http/1.1'"),
])
def test_a_request_line_that_could_be_read_two_ways_is_refused(line, why):
    refused = refusal(parse_request_line, line)
    assert (refused.status, refused.formatted_message) == (400, why)


def test_a_request_line_over_the_limit_is_414():
    at_limit = "GET /" + "a" * (4094 - 14) + " HTTP/1.1\r\n"
    assert parse_request_line(at_limit)[0] == "GET"
    over = "GET /" + "a" * (4094 - 13) + " HTTP/1.1\r\n"
    assert refusal(parse_request_line, over).status == 414
    assert refusal(parse_request_line, over[:4096]).status == 414  # as read: the limit and 2 bytes, no LF


@pytest.mark.parametrize(("method", "target", "host", "path"), [
    ("OPTIONS", "*", b"x", "*"),
    ("GET", "http://example:8000/a/b?c=d", b"example:8000", "/a/b?c=d"),
    ("GET", "HTTPS://Example", b"example", "/"),
    ("CONNECT", "example:443", b"example:443", "example:443"),
])
def test_a_target_in_another_form(method, target, host, path):
    assert origin_form(method, target, host) == path


@pytest.mark.parametrize(("method", "target", "host"), [
    ("GET", "*", b"x"),
    ("GET", "example:443", b"example"),
    ("GET", "a/b", b"x"),
    ("PUT", "s://]ufd/:", b"x"),
    ("GET", "ftp://example/", b"example"),
    ("GET", "http:///a", b""),
    ("GET", "http://example:port/", b"example:port"),
    ("GET", "http://example/", b"other"),  # read by Host in front, by the target here
    ("GET", "http://user@example/", b"example"),
    ("GET", "http://example/", None),
    ("CONNECT", "/a", b"x"),
])
def test_a_target_that_could_be_read_two_ways_is_refused(method, target, host):
    refusal(origin_form, method, target, host)


# -- the header fields -------------------------------------------------------------------------------


def test_fields_as_read():
    block = b"Host: x\r\nX-Ows:  \t a b \t\r\nX-Empty:\r\nX-Obs: caf\xe9\r\nX_Under: 1\r\n\r\nbody"
    assert fields_of(block) == [(b"Host", b"x"), (b"X-Ows", b"a b"), (b"X-Empty", b""), (b"X-Obs", b"caf\xe9"),
                                (b"X_Under", b"1")]
    assert fields_of(b"\r\n") == []


@pytest.mark.parametrize(("block", "why"), [
    (b"Host: x\n\r\n", "header field ends in a bare LF: b'Host: x\\n'"),
    (b"Host: x\r\n\n", "header field ends in a bare LF: b'\\n'"),
    (b"Host: x\ry: z\r\n\r\n", "bare CR in a header field: b'Host: x\\ry: z'"),
    (b"Host: x\r\n folded\r\n\r\n", "folded header field (obs-fold): b' folded'"),
    (b"Host: x\r\n\tfolded\r\n\r\n", "folded header field (obs-fold): b'\\tfolded'"),
    (b"Host x\r\n\r\n", "header field without a colon: b'Host x'"),
    (b": x\r\n\r\n", "header field without a name: b': x'"),
    (b"Host : x\r\n\r\n", "invalid header field name: b'Host '"),
    (b"Ho st: x\r\n\r\n", "invalid header field name: b'Ho st'"),
    (b"Ho\0st: x\r\n\r\n", "invalid header field name: b'Ho\\x00st'"),
    (b"Ho\xdfst: x\r\n\r\n", "invalid header field name: b'Ho\\xdfst'"),
    (b"X: a\0b\r\n\r\n", "control character in the value of header field b'X'"),
    (b"X: \x0bchunked\r\n\r\n", "control character in the value of header field b'X'"),
    (b"X: a\x7f\r\n\r\n", "control character in the value of header field b'X'"),
    (b"Host: x\r\n", "the stream ended inside the header fields"),
    (b"Host: x", "the stream ended inside a header field: b'Host: x'"),
])
def test_a_field_that_could_be_read_two_ways_is_refused(block, why):
    refused = refusal(fields_of, block)
    assert (refused.status, refused.formatted_message) == (400, why)


def test_the_field_limits_count_as_gunicorns_do():
    at_limit = b"X: " + b"a" * (8190 - 5) + b"\r\n"  # the line with its CRLF
    assert fields_of(at_limit + b"\r\n")[0][1] == b"a" * 8185
    over = b"X: " + b"a" * (8190 - 4) + b"\r\n"
    assert refusal(fields_of, over + b"\r\n").status == 431
    hundred = b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(100))
    assert len(fields_of(hundred + b"\r\n")) == 100
    refused = refusal(fields_of, hundred + b"X-100: 100\r\n\r\n")
    assert (refused.status, refused.formatted_message) == (431, "more than 100 header fields")


# -- framing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "length", "coding", "content_length"), [
    ("HTTP/1.1", None, None, None),
    ("HTTP/1.1", b"0", None, 0),
    ("HTTP/1.0", b"005", None, 5),
    ("HTTP/1.1", None, b"chunked", None),
    ("HTTP/1.1", None, b"Chunked", None),
])
def test_a_body_framed_one_way(version, length, coding, content_length):
    assert framing(version, length, coding) == content_length


@pytest.mark.parametrize(("version", "length", "coding", "why"), [
    ("HTTP/1.1", b"5", b"chunked", "both Content-Length and Transfer-Encoding"),
    ("HTTP/1.0", None, b"chunked", "Transfer-Encoding in an HTTP/1.0 request"),
    ("HTTP/1.1", None, b"chunked, identity", "unsupported Transfer-Encoding: b'chunked, identity'"),
    ("HTTP/1.1", None, b"identity, chunked", "unsupported Transfer-Encoding: b'identity, chunked'"),
    ("HTTP/1.1", None, b"gzip", "unsupported Transfer-Encoding: b'gzip'"),
    ("HTTP/1.1", None, b"", "unsupported Transfer-Encoding: b''"),
    ("HTTP/1.1", b"+5", None, "invalid Content-Length: b'+5'"),
    ("HTTP/1.1", b"-0", None, "invalid Content-Length: b'-0'"),
    ("HTTP/1.1", b"0_5", None, "invalid Content-Length: b'0_5'"),
    ("HTTP/1.1", b"5, 5", None, "invalid Content-Length: b'5, 5'"),
    ("HTTP/1.1", b"5\xb2", None, "invalid Content-Length: b'5\\xb2'"),  # '²' is a digit to str.isdigit()
    ("HTTP/1.1", b"", None, "invalid Content-Length: b''"),
    ("HTTP/1.1", b"1" * 19, None, f"invalid Content-Length: b'{'1' * 19}'"),
])
def test_a_body_that_could_be_read_two_ways_is_refused(version, length, coding, why):
    assert refusal(framing, version, length, coding).formatted_message == why


# -- the handler, the request line and the header block together -------------------------------------


@pytest.mark.parametrize(("line", "head", "why"), [
    ("POST / HTTP/1.1\r\n", b"Host: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
     "two Content-Length fields"),
    ("POST / HTTP/1.1\r\n", b"Host: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
     "two Content-Length fields"),
    ("POST / HTTP/1.1\r\n", b"Host: x\r\ntransfer-encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
     "two Transfer-Encoding fields"),
    ("POST / HTTP/1.1\r\n", b"Host: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
     "both Content-Length and Transfer-Encoding"),
    ("POST / HTTP/1.1\r\n", b"Host: x\r\nContent_Length: 3\r\n\r\n",
     "Content_Length field: read as content-length in front"),
    ("GET / HTTP/1.1\r\n", b"Host: x\r\nHOST: y\r\n\r\n", "two HOST fields"),
    ("GET / HTTP/1.1\r\n", b"Host: x, y\r\n\r\n", "invalid Host: b'x, y'"),
    ("GET / HTTP/1.1\r\n", b"Accept: */*\r\n\r\n", "HTTP/1.1 request without Host"),
    ("POST / HTTP/1.1\r\n", b"Host: x\r\nContent-Type: a\r\nContent-Type: b\r\n\r\n", "two Content-Type fields"),
    ("HEAD / HTTP/1.1\r\n", b"Host: x\r\nContent-Length: 3\r\n\r\nabc", "HEAD request with a body"),
    ("GET http://y/ HTTP/1.1\r\n", b"Host: x\r\n\r\n", "absolute URI for 'y' with Host b'x'"),
])
def test_a_request_that_could_be_read_two_ways_is_the_clients_error(line, head, why):
    assert refusal(handler_reading(head).read_request, line).formatted_message == why


def test_a_request_read_one_way_is_as_pywsgi_would_have_read_it():
    handler = handler_reading(b"Host: x\r\nContent-Length: 3\r\nContent-Type: text/plain\r\nX-A: 1\r\n"
                              b"x-a: 2\r\nX_B: 3\r\nCookie: a=1\r\ncookie: b=2\r\n\r\nabc")
    assert handler.read_request("POST /p?q=1 HTTP/1.1\r\n") is True
    assert (handler.command, handler.path, handler.request_version) == ("POST", "/p?q=1", "HTTP/1.1")
    assert handler.requestline == "POST /p?q=1 HTTP/1.1" and handler.content_length == 3
    assert not handler.close_connection
    assert handler.headers.get("content-type") == handler.headers.typeheader == "text/plain"
    assert handler.headers.get_all("X-A") == ["1", "2"]
    assert list(handler._headers()) == [("HTTP_HOST", "x"), ("HTTP_X_A", "1"), ("HTTP_X_A", "2"),
                                        ("HTTP_COOKIE", "a=1"), ("HTTP_COOKIE", "b=2")]


@pytest.mark.parametrize(("line", "head", "close"), [
    ("GET / HTTP/1.1\r\n", b"Host: x\r\n\r\n", False),
    ("GET / HTTP/1.1\r\n", b"Host: x\r\nConnection: Close\r\n\r\n", True),
    ("GET / HTTP/1.0\r\n", b"\r\n", True),  # HTTP/1.0 needs no Host
    ("GET / HTTP/1.0\r\n", b"Connection: keep-alive\r\n\r\n", False),
    ("OPTIONS * HTTP/1.1\r\n", b"Host: x\r\n\r\n", False),
    ("GET http://x:1/a HTTP/1.1\r\n", b"Host: X:1\r\n\r\n", False),
])
def test_what_the_connection_does_next(line, head, close):
    handler = handler_reading(head)
    assert handler.read_request(line) is True
    assert handler.close_connection is close


def test_an_absolute_form_target_is_read_as_its_path():
    handler = handler_reading(b"Host: x\r\n\r\n")
    handler.read_request("GET http://x/a/b?c HTTP/1.1\r\n")
    assert handler.path == "/a/b?c"


class Server:
    """What get_environ needs of its server."""

    application = None

    def get_environ(self):
        return {}


@pytest.mark.parametrize(("head", "given"), [
    (b"Host: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", StrictInput),
    (b"Host: x\r\nContent-Length: 0\r\n\r\n", Input),
    (b"Host: x\r\nTransfer-Encoding: chunked\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", io.BufferedReader),
])
def test_a_chunked_body_is_read_strictly(head, given):
    handler = StrictHandler(None, ("192.0.2.1", 40000), Server(), io.BufferedReader(io.BytesIO(head)))
    handler.read_request("POST / HTTP/1.1\r\n")
    environ = handler.get_environ()
    assert type(environ["wsgi.input"]) is given  # an upgraded connection's raw stream is left as it is
    if given is StrictInput:
        assert environ["wsgi.input"] is handler.wsgi_input  # what pywsgi discards after the response


# -- a chunked body ----------------------------------------------------------------------------------


class Handler:
    """What StrictInput needs of its handler."""

    close_connection = False
    limit_request_fields = 100
    limit_request_field_size = 8190


def chunked(body: bytes) -> tuple[StrictInput, Handler]:
    handler = Handler()
    return StrictInput(io.BufferedReader(io.BytesIO(body)), None, None, True, handler=handler), handler


@pytest.mark.parametrize(("line", "size"), [
    (b"5\r\n", 5), (b"a\r\n", 10), (b"FF\r\n", 255), (b"0\r\n", 0), (b"000\r\n", 0),
    (b"5;name=value\r\n", 5), (b"5 ; name=\"a b;c\" ;flag\r\n", 5), (b"5;\tx\r\n", 5),
    (b"7fffffffffffffff\r\n", 2**63 - 1), (b"0000000000000005\r\n", 5),
])
def test_a_chunk_size(line, size):
    assert chunk_size(line) == size


@pytest.mark.parametrize(("line", "why"), [
    (b"", "the stream ended before a chunk size"),
    (b"5", "chunk-size line not ended by CRLF: b'5'"),
    (b"5\n", "chunk-size line not ended by CRLF: b'5\\n'"),
    (b"5;ext\n", "chunk-size line not ended by CRLF: b'5;ext\\n'"),
    (b"5;a\rb\r\n", "control character in a chunk extension: b'a\\rb'"),
    (b"5;a\0\r\n", "control character in a chunk extension: b'a\\x00'"),
    (b"\r\n", "invalid chunk size: b''"),
    (b" ;a\r\n", "invalid chunk size: b''"),
    (b"zz\r\n", "invalid chunk size: b'zz'"),
    (b"0x5\r\n", "invalid chunk size: b'0x5'"),
    (b"-5\r\n", "invalid chunk size: b'-5'"),
    (b"+5\r\n", "invalid chunk size: b'+5'"),
    (b"6_0\r\n", "invalid chunk size: b'6_0'"),
    (b" 5\r\n", "invalid chunk size: b' 5'"),
    (b"5 \r\n", "invalid chunk size: b'5 '"),
    (b"00000000000000005\r\n", "invalid chunk size: b'00000000000000005'"),
    (b"8000000000000000\r\n", "chunk size over 2^63 - 1: b'8000000000000000'"),
    (b"5;" + b"x" * CHUNK_LINE_LIMIT, f"chunk-size line longer than {CHUNK_LINE_LIMIT} bytes"),
])
def test_a_chunk_size_that_could_be_read_two_ways(line, why):
    assert chunk_size(line) == why


def test_a_well_formed_chunked_body_reads_as_pywsgi_reads_it():
    body, handler = chunked(b"3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nX-Sum: 1\r\n\r\nnext request")
    assert body.read() == b"abcdefg" and body.read() == b""
    assert not handler.close_connection and not body.broken
    assert body.rfile.read() == b"next request"  # the trailers read, nothing more


def test_reading_in_pieces():
    body, _ = chunked(b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
    assert [body.read(2), body.read(2), body.read(5), body.read(1)] == [b"ab", b"cd", b"efg", b""]


def test_lines_and_iteration():
    body, _ = chunked(b"8\r\none\ntwo\n\r\n0\r\n\r\n")
    assert list(body) == [b"one\n", b"two\n"]
    body, _ = chunked(b"8\r\none\ntwo\n\r\n0\r\n\r\n")
    assert body.readline() == b"one\n" and body.readlines() == [b"two\n"]


@pytest.mark.parametrize("raw", [
    b"zz\r\nabc\r\n0\r\n\r\n",
    b"3\r\nabc",
    b"3\r\nabcXY0\r\n\r\n",
    b"3\r\nabc\n0\r\n\r\n",
    b"3;a\nb\r\nabc\r\n0\r\n\r\n",
    b"3\r\nabc\r\n0\r\nGET /smuggled HTTP/1.1\r\n\r\n",
    b"3\r\nabc\r\n0\r\nX: a\nb\r\n\r\n",
    b"3\r\nabc\r\n0\r\nX\r\n\r\n",
    b"3\r\nabc\r\n0\r\nX: a\r\n folded\r\n\r\n",
    b"3\r\nabc\r\n0\r\nContent-Length: 5\r\n\r\n",
    b"3\r\nabc\r\n0\r\nhost: x\r\n\r\n",
    b"3\r\nabc\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"3\r\nabc\r\n0\r\nX: " + b"a" * 9000 + b"\r\n\r\n",
    b"3\r\nabc\r\n0\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n",
    b"3\r\nabc\r\n0\r\n",
])
def test_a_malformed_chunked_body_is_a_400_and_the_connection_is_not_trusted_again(raw):
    body, handler = chunked(raw)
    with pytest.raises(BadRequest, match="Malformed chunked request body"):
        body.read()
    assert handler.close_connection and body.broken
    left = body.rfile.tell()
    body._discard()  # what pywsgi calls after the response: the rest of a broken stream is not read
    assert body.rfile.tell() == left


def test_what_the_app_left_unread_is_discarded_and_a_malformed_rest_is_pywsgis_400():
    body, _ = chunked(b"3\r\nabc\r\n0\r\n\r\nnext")
    body._discard()
    assert body.rfile.read() == b"next"
    body, handler = chunked(b"3\r\nabc\r\nzz\r\n")
    with pytest.raises(_InvalidClientInput):  # pywsgi answers it 400 (if nothing was yet) and closes
        body._discard()
    assert body.broken


def test_an_error_that_is_not_the_clients_is_left_as_it_is():
    class Failing(io.RawIOBase):
        def readinto(self, buffer):
            raise OSError("the disk")

        def readable(self):
            return True

    body = StrictInput(io.BufferedReader(Failing()), None, None, True, handler=Handler())
    with pytest.raises(OSError, match="the disk"):
        body.read()
    assert not body.broken
