"""Requests that could be read two ways (request smuggling), and requests that must stay valid, as data.

Each case is the exact bytes a client sends on one connection. A refused case is one request
followed by a complete `GET /smuggled` request: a server that reads the first the way a lenient
parser (or a proxy in front) might, answers that second request too. The strict handler
(devserver/worker/strict_http.py) must answer the first 400 (414, 431 for the limits) and close the
connection, so `/smuggled` is never answered. A valid case ends with a request that closes the
connection (`Connection: close`, or HTTP/1.0), so every case ends with the server closing.

The cases come from gunicorn's own invalid-request tests (tests/requests/invalid/*.http, versions
22 to 26, named in `source`), gevent's fix for CVE-2023-41419 (its chunked-trailer tests,
src/gevent/tests/test__pywsgi.py), and RFC 9110/9112. `send_case` sends one over a raw socket,
or through TLS (a proxy in front) with `ssl_context`; test_smuggling.py runs them all against the
dev server, and a test of a TLS proxy may run the same list through it.

Requests go to `/echo` (ECHO_ROUTE: a test appends it to the app) as `Host: localhost`.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass

# gunicorn's defaults, which StrictHandler's are (test_strict_http.py checks they agree).
LIMIT_REQUEST_LINE = 4094  # bytes of the request line, its CRLF not counted
LIMIT_REQUEST_FIELDS = 100  # header fields
LIMIT_REQUEST_FIELD_SIZE = 8190  # bytes of one header field line, its CRLF counted

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"
SMUGGLED_PATH = "/smuggled"

# What the cases ask for: a route that reads the whole body and says what it got.
ECHO_ROUTE = '''

@bp.route("/echo", methods=["GET", "POST", "PUT", "HEAD", "OPTIONS"])
def echo():
    body = request.get_data()
    return f"{request.method} {request.path} host={request.host} {len(body)}:".encode() + body
'''


@dataclass(frozen=True)
class Case:
    """One connection's bytes, and the answer expected: the first final status, how many final answers."""

    id: str
    raw: bytes
    status: int = 400
    answers: int = 1
    bodies: tuple[bytes, ...] = ()  # what each final answer's body contains, in order (valid cases)
    source: str = ""  # where the case comes from: gunicorn's file, gevent's test, the RFC

    @property
    def refused(self) -> bool:
        return self.status >= 400


def refused(case_id: str, request: bytes, *, status: int = 400, source: str = "", smuggle: bool = True) -> Case:
    """A request the server must refuse, with a complete second request behind it."""
    return Case(case_id, request + (SMUGGLED if smuggle else b""), status=status, source=source)


def post(head: bytes, body: bytes = b"", target: bytes = b"/echo", version: bytes = b"HTTP/1.1") -> bytes:
    """A POST to `target`: its request line, Host, `head` (header lines, each with its CRLF), a blank line, `body`."""
    return b"POST " + target + b" " + version + b"\r\nHost: localhost\r\n" + head + b"\r\n" + body


def chunked(body: bytes) -> bytes:
    return post(b"Transfer-Encoding: chunked\r\n", body)


def line(request_line: bytes, head: bytes = b"Host: localhost\r\n") -> bytes:
    return request_line + b"\r\n" + head + b"\r\n"


def get(head: bytes) -> bytes:
    """GET /echo with these header lines (Host not added)."""
    return b"GET /echo HTTP/1.1\r\n" + head + b"\r\n"


def fields(count: int) -> bytes:
    return b"".join(b"X-Field-%d: %d\r\n" % (i, i) for i in range(count))


def field_of_size(size: int, name: bytes = b"X-Long") -> bytes:
    """One header field line `size` bytes long, its CRLF included."""
    return name + b": " + b"a" * (size - len(name) - 4) + b"\r\n"


HELLO = b"5\r\nhello\r\n0\r\n\r\n"

REFUSED = [
    # -- Content-Length and Transfer-Encoding: one body, said one way ------------------------------
    refused("cl-and-te", post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", HELLO),
            source="gunicorn rfc9112_smuggle_cl_te_chunked_01; RFC 9112 6.3"),
    refused("te-and-cl", post(b"Transfer-Encoding: chunked\r\nContent-Length: 35\r\n", b"0\r\n\r\n"),
            source="RFC 9112 6.3 (either order)"),
    refused("cl-twice-different", post(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"),
            source="gunicorn 021"),
    refused("cl-twice-same", post(b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"),
            source="gunicorn set_body_reader: any second Content-Length"),
    refused("cl-list", post(b"Content-Length: 5, 5\r\n", b"hello"), source="gunicorn rfc9112_smuggle_cl_list_form_01"),
    refused("cl-plus", post(b"Content-Length: +5\r\n", b"hello"), source="gunicorn 024"),
    refused("cl-minus", post(b"Content-Length: -1\r\n", b"hello"), source="gunicorn 014"),
    refused("cl-minus-zero", post(b"Content-Length: -0\r\n", b""), source="gunicorn 022"),
    refused("cl-underscore", post(b"Content-Length: 0_5\r\n", b"hello"), source="gunicorn 023"),
    refused("cl-vertical-tab", post(b"Content-Length: \x0b5\r\n", b"hello"), source="RFC 9110 5.5: VT is no OWS"),
    refused("cl-form-feed", post(b"Content-Length: 5\x0c\r\n", b"hello"), source="RFC 9110 5.5"),
    refused("cl-two-numbers", post(b"Content-Length: 3 1\r\n", b"xyz"), source="gunicorn prefix_04"),
    refused("cl-zero-space-one", post(b"Content-Length: 0 1\r\n", b"x"), source="gunicorn prefix_03"),
    refused("cl-not-a-number", post(b"Content-Length: bla-bla-bla\r\n", b"hello"), source="gunicorn 015"),
    refused("cl-hex", post(b"Content-Length: 0x5\r\n", b"hello"), source="RFC 9110 8.6: 1*DIGIT"),
    refused("cl-empty", post(b"Content-Length:\r\n", b"hello"), source="RFC 9110 8.6: 1*DIGIT"),
    refused("cl-superscript-digit", post(b"Content-Length: 5\xb2\r\n", b"hello"),
            source="str.isdigit() takes latin-1 '\u00b2' for a digit"),
    refused("cl-space-before-colon", post(b"Content-Length : 5\r\n", b"hello"), source="gunicorn 020; RFC 9112 5.1"),
    refused("cl-underscore-name", post(b"Content-Length: 5\r\nContent_Length: 40\r\n", b"hello"),
            source="gunicorn 040 (header_map=refuse): a proxy may map _ to -"),
    refused("te-chunked-identity", post(b"Transfer-Encoding: chunked, identity\r\n", HELLO),
            source="gunicorn chunked_08; RFC 9112 6.1: chunked is last"),
    refused("te-identity-chunked", post(b"Transfer-Encoding: identity, chunked\r\n", HELLO),
            source="gunicorn chunked_03 (gunicorn 26 accepts this one)"),
    refused("te-identity-chunked-twice", post(b"Transfer-Encoding: identity, chunked, identity, chunked\r\n", HELLO),
            source="gunicorn chunked_03"),
    refused("te-two-fields", post(b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n", HELLO),
            source="gunicorn chunked_04"),
    refused("te-chunked-then-gzip", post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", HELLO),
            source="gunicorn chunked_06"),
    refused("te-chunked-then-identity", post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", HELLO),
            source="gunicorn chunked_08"),
    refused("te-chunked-twice", post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", HELLO),
            source="gunicorn: stacked chunked"),
    refused("te-chunked-chunked", post(b"Transfer-Encoding: chunked, chunked\r\n", HELLO), source="gunicorn: stacked"),
    refused("te-gzip-chunked", post(b"Transfer-Encoding: gzip, chunked\r\n", HELLO),
            source="a coding pywsgi cannot undo (gunicorn 23+ passes it to the app)"),
    refused("te-space-before-colon", post(b"Transfer-Encoding : chunked\r\n", HELLO), source="RFC 9112 5.1"),
    refused("te-vertical-tab", post(b"Transfer-Encoding: \x0bchunked\r\n", HELLO), source="RFC 9110 5.5"),
    refused("te-tab-and-cl", post(b"Content-Length: 12\r\nTransfer-Encoding: \tchunked\r\n", HELLO),
            source="gunicorn chunked_02"),
    refused("te-xchunked", post(b"Transfer-Encoding: xchunked\r\n", HELLO), source="an unknown coding"),
    refused("te-chunked-comma", post(b"Transfer-Encoding: chunked,\r\n", HELLO), source="gunicorn 22: empty codings"),
    refused("te-empty", post(b"Transfer-Encoding:\r\nContent-Length: 5\r\n", b"hello"),
            source="gunicorn 22: empty codings"),
    refused("te-http10", post(b"Transfer-Encoding: chunked\r\n", HELLO, version=b"HTTP/1.0"),
            source="gunicorn chunked_05; RFC 9112 6.1"),
    refused("te-underscore-name", post(b"Transfer_Encoding: chunked\r\nContent-Length: 5\r\n", b"hello"),
            source="gunicorn chunked_07 (header_map=refuse)"),
    # -- the chunked body: sizes, extensions, the CRLFs, trailers ----------------------------------
    refused("chunk-size-not-hex", chunked(b"zz\r\nhello\r\n0\r\n\r\n"),
            source="gevent test_229_incorrect_chunk_non_hex"),
    refused("chunk-size-underscore", chunked(b"5\r\nhello\r\n6_0\r\n world\r\n0\r\n\r\n"),
            source="gunicorn chunked_01"),
    refused("chunk-size-0x", chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), source="RFC 9112 7.1: 1*HEXDIG"),
    refused("chunk-size-minus", chunked(b"-5\r\nhello\r\n0\r\n\r\n"),
            source="gunicorn rfc9112_chunked_size_minus_sign_01"),
    refused("chunk-size-plus", chunked(b"+5\r\nhello\r\n0\r\n\r\n"),
            source="gunicorn rfc9112_chunked_size_plus_sign_01"),
    refused("chunk-size-space-after", chunked(b"5\r\nhello\r\n0 \r\n\r\n"), source="gunicorn chunked_09"),
    refused("chunk-size-space-before", chunked(b"5\r\nhello\r\n 0\r\n\r\n"), source="gunicorn chunked_10"),
    refused("chunk-size-empty", chunked(b"\r\nhello\r\n0\r\n\r\n"), source="gunicorn chunked_13"),
    refused("chunk-size-empty-with-ext", chunked(b" ;foo=bar\r\nhello\r\n0\r\n\r\n"), source="gunicorn chunked_12"),
    refused("chunk-size-17-digits", chunked(b"00000000000000005\r\nhello\r\n0\r\n\r\n"),
            source="gevent: at most 16 hex digits"),
    refused("chunk-size-2-64", chunked(b"10000000000000000\r\nhello\r\n0\r\n\r\n"), source="hex overflow: 2^64"),
    refused("chunk-size-2-63", chunked(b"8000000000000000\r\nhello\r\n0\r\n\r\n"), source="at most 2^63 - 1"),
    refused("chunk-size-huge", chunked(b"f" * 40 + b"\r\nhello\r\n0\r\n\r\n"), source="hex overflow"),
    refused("chunk-size-bare-lf", chunked(b"5\n;\r\nhello\r\n0\r\n\r\n"), source="gunicorn chunked_11"),
    refused("chunk-size-line-bare-lf", chunked(b"5\nhello\r\n0\r\n\r\n"), source="RFC 9112 7.1: CRLF"),
    refused("chunk-ext-bare-lf", chunked(b"5;ext=1\nhello\r\n0\r\n\r\n"), source="RFC 9112 7.1.1; funky chunks"),
    refused("chunk-ext-bare-lf-inside", chunked(b"5;a\nb\r\nhello\r\n0\r\n\r\n"), source="RFC 9112 7.1.1"),
    refused("chunk-ext-bare-cr", chunked(b"5;ext=val\rue\r\nhello\r\n0\r\n\r\n"), source="gunicorn chunked_14"),
    refused("chunk-ext-nul", chunked(b"5;ext=\x00\r\nhello\r\n0\r\n\r\n"), source="RFC 9112 7.1.1"),
    refused("chunk-ext-too-long", chunked(b"5;" + b"_oh_hi" * 4000 + b"\r\nhello\r\n0\r\n\r\n"),
            source="gevent test_229_incorrect_chunk_token_ext_too_long"),
    refused("chunk-data-too-long", chunked(b"5\r\nhelloXX\r\n0\r\n\r\n"), source="RFC 9112 7.1: CRLF after the data"),
    refused("chunk-data-bare-lf", chunked(b"5\r\nhello\n0\r\n\r\n"), source="RFC 9112 7.1"),
    refused("chunk-last-without-crlf", chunked(b"5\r\nhello\r\n0"),
            source="gevent test_trailers_request_smuggling_missing_last_chunk_keep_alive"),
    refused("chunk-no-last-chunk", chunked(b"5\r\nhello\r\n"), source="the next request taken for a chunk size"),
    refused("trailer-is-a-request-line", chunked(b"5\r\nhello\r\n0\r\n"),
            source="gevent test_trailers_request_smuggling_header_first; "
                   "gunicorn rfc9112_chunked_missing_final_crlf_01"),
    refused("trailer-then-request-line", chunked(b"5\r\nhello\r\n0\r\nX-Trailer: value\r\n"),
            source="gevent test_trailers_request_smuggling_header_first"),
    refused("trailer-bare-lf", chunked(b"5\r\nhello\r\n0\r\nX-Trailer: value\n\r\n"), source="CVE-2023-41419"),
    refused("trailer-bare-lf-value", chunked(b"5\r\nhello\r\n0\r\nX-Trailer: a\nb\r\n\r\n"), source="CVE-2023-41419"),
    refused("trailer-no-colon", chunked(b"5\r\nhello\r\n0\r\nX-Trailer\r\n\r\n"), source="RFC 9110 5.1"),
    refused("trailer-obs-fold", chunked(b"5\r\nhello\r\n0\r\nX-Trailer: a\r\n b\r\n\r\n"), source="RFC 9112 5.2"),
    refused("trailer-content-length", chunked(b"5\r\nhello\r\n0\r\nContent-Length: 99\r\n\r\n"),
            source="gunicorn rfc9110_trailer_forbidden_cl_01"),
    refused("trailer-host", chunked(b"5\r\nhello\r\n0\r\nHost: evil.example.com\r\n\r\n"),
            source="gunicorn rfc9110_trailer_forbidden_host_01"),
    refused("trailer-transfer-encoding", chunked(b"5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            source="gunicorn rfc9110_trailer_forbidden_te_01"),
    refused("trailer-too-long", chunked(b"5\r\nhello\r\n0\r\nX-Trailer: " + b"t" * 9000 + b"\r\n\r\n"),
            source="gevent test_trailers_too_long"),
    # -- the header block ---------------------------------------------------------------------------
    refused("bare-lf-after-request-line", b"GET /echo HTTP/1.1\nHost: localhost\r\n\r\n", source="RFC 9112 2.2"),
    refused("bare-lf-header", post(b"X-Newline: a\nContent-Length: 5\r\n", b"hello"),
            source="gunicorn invalid_field_value_01"),
    refused("bare-lf-everywhere", b"GET /echo HTTP/1.1\nHost: localhost\nContent-Length: 5\n\nhello",
            source="RFC 9112 2.2"),
    refused("bare-lf-blank-line", b"GET /echo HTTP/1.1\r\nHost: localhost\r\n\nContent-Length: 5\r\n\r\nhello",
            source="RFC 9112 2.2"),
    refused("bare-cr-header", post(b"X-CR: a\rContent-Length: 5\r\n", b"hello"), source="RFC 9112 2.2"),
    refused("bare-cr-line-end", b"GET /echo HTTP/1.1\r\nHost: localhost\rX: y\r\n\r\n", source="RFC 9112 2.2"),
    refused("obs-fold", get(b"Host: localhost\r\nLong: one\r\n two\r\n"), source="gunicorn obs_fold_01; RFC 9112 5.2"),
    refused("obs-fold-tab", post(b"X-Folded: a\r\n\tContent-Length: 5\r\n", b"hello"), source="RFC 9112 5.2"),
    refused("obs-fold-first-line", b"GET /echo HTTP/1.1\r\n Host: localhost\r\n\r\n", source="RFC 9112 2.2"),
    refused("nul-in-name", get(b"Host: localhost\r\nba\x00z: bar\r\n"), source="gunicorn 005"),
    refused("nul-in-value", get(b"Host: localhost\r\nX-Value: a\x00b\r\n"), source="RFC 9110 5.5"),
    refused("bel-in-value", get(b"Host: localhost\r\nX-Value: plain\x07injected\r\n"),
            source="gunicorn rfc9110_field_value_ctl_bel_01"),
    refused("del-in-value", get(b"Host: localhost\r\nX-Value: plain\x7finjected\r\n"),
            source="gunicorn rfc9110_field_value_ctl_del_01"),
    refused("space-in-name", get(b"Host: localhost\r\nX Value: a\r\n"), source="RFC 9110 5.1: a token"),
    refused("space-before-colon", get(b"Host : localhost\r\n"), source="gunicorn 020; RFC 9112 5.1"),
    refused("tab-before-colon", get(b"Host\t: localhost\r\n"), source="RFC 9112 5.1"),
    refused("name-with-parenthesis", get(b"Host: localhost\r\nX(Value): a\r\n"), source="RFC 9110 5.6.2"),
    refused("name-with-at", get(b"Host: localhost\r\nX@Value: a\r\n"), source="RFC 9110 5.6.2"),
    refused("name-non-ascii", post(b"Content-Length\xc3\x9f: 3\r\nContent-Length: 5\r\n", b"hello"),
            source="gunicorn nonascii_03"),
    refused("name-empty", get(b"Host: localhost\r\n: empty\r\n"), source="gunicorn 22: empty field names"),
    refused("no-colon", get(b"Host: localhost\r\nX-Value\r\n"), source="RFC 9110 5.1"),
    refused("two-hosts", get(b"Host: localhost\r\nHost: evil.example.com\r\n"), source="gunicorn 042; RFC 9112 3.2"),
    refused("no-host", get(b""), source="RFC 9112 3.2"),
    refused("two-content-types", post(b"Content-Type: application/json\r\nContent-Type: text/html\r\n"),
            source="gunicorn 041; RFC 9110 5.3"),
    # -- the request line --------------------------------------------------------------------------
    refused("method-with-colon", line(b"bla:rgh /echo HTTP/1.1"), source="gunicorn 003b"),
    refused("method-lowercase", line(b"-bl /echo HTTP/1.1"), source="gunicorn 003c (its conventional methods)"),
    refused("method-get-lowercase", line(b"get /echo HTTP/1.1"), source="gunicorn 22: methods are not casefolded"),
    refused("method-nul-proxy", line(b"GET\x00PROXY /echo HTTP/1.1"), source="gunicorn prefix_01"),
    refused("method-nul", line(b"GET\x00 /echo HTTP/1.1"), source="gunicorn prefix_02"),
    refused("method-non-ascii", line(b"GET\xc3\x9f /echo HTTP/1.1"), source="gunicorn nonascii_01"),
    refused("method-colon", line(b"GET: /echo HTTP/1.1"), source="gunicorn prefix_05"),
    refused("method-hash", line(b"GET# /echo HTTP/1.1"), source="gunicorn 22: no # in methods"),
    refused("method-too-long", line(b"A" * 21 + b" /echo HTTP/1.1"), source="gunicorn: 3 to 20 characters"),
    refused("no-target", line(b"GET HTTP/1.1"), source="gunicorn 002"),
    refused("newline-separators", b"GET\n/echo\nHTTP/1.1\r\nHost: localhost\r\n\r\n", source="gunicorn 003"),
    refused("two-spaces", line(b"GET  /echo HTTP/1.1"), source="RFC 9112 3: single SP"),
    refused("tab-separators", line(b"GET\t/echo\tHTTP/1.1"), source="RFC 9112 3: single SP"),
    refused("space-in-target", line(b"GET /echo x HTTP/1.1"), source="RFC 9112 3"),
    refused("ctl-in-target", line(b"GET /ec\x01ho HTTP/1.1"), source="RFC 9112 3.2"),
    refused("trailing-space", line(b"GET /echo HTTP/1.1 "), source="RFC 9112 3"),
    refused("http09", b"GET /echo\r\n", source="HTTP/0.9, which pywsgi still reads"),
    refused("target-invalid-uri", line(b"PUT s://]ufd/: HTTP/1.1"), source="gunicorn 016"),
    refused("target-asterisk-not-options", line(b"GET * HTTP/1.1"),
            source="gunicorn rfc9112_target_asterisk_non_options_01"),
    refused("target-authority-not-connect", line(b"GET example.com:443 HTTP/1.1"),
            source="gunicorn rfc9112_target_authority_non_connect_01"),
    refused("target-relative", line(b"GET foo/bar HTTP/1.1"), source="gunicorn rfc9112_target_relative_01"),
    refused("version-ftp", line(b"GET /echo FTP/1.1"), source="gunicorn 004"),
    refused("version-111", line(b"GET /echo HTTP/111"), source="gunicorn 018"),
    refused("version-1-10", line(b"GET /echo HTTP/1.10"), source="RFC 9112 2.3: one digit each"),
    refused("version-0-99", line(b"GET /echo HTTP/0.99"), source="gunicorn version_01"),
    refused("version-2", line(b"GET /echo HTTP/2.0"), source="gunicorn version_02: not on an HTTP/1 connection"),
    refused("version-3", line(b"GET /echo HTTP/3"), source="RFC 9112 2.3"),
    refused("version-long", line(b"GET /echo HTTP/" + b"1" * 90 + b".1"), source="gunicorn prefix_06"),
    refused("version-lowercase", line(b"GET /echo http/1.1"), source="RFC 9112 2.3: case-sensitive"),
    refused("version-0-9", line(b"GET /echo HTTP/0.9"), source="gunicorn 22: versions below 1.0"),
    # -- the limits --------------------------------------------------------------------------------
    refused("request-line-too-long", line(b"GET /" + b"a" * (LIMIT_REQUEST_LINE - 13) + b" HTTP/1.1"),
            status=414, source="gunicorn 006: limit_request_line"),
    refused("request-line-1mb", line(b"GET /" + b"a" * 2**20 + b" HTTP/1.1"), status=414, source="gunicorn 006"),
    refused("field-too-large", get(b"Host: localhost\r\n" + field_of_size(LIMIT_REQUEST_FIELD_SIZE + 1)),
            status=431, source="gunicorn 017: limit_request_field_size"),
    refused("field-1mb", get(b"Host: localhost\r\n" + field_of_size(2**20)), status=431, source="gunicorn 008"),
    refused("too-many-fields", get(b"Host: localhost\r\n" + fields(LIMIT_REQUEST_FIELDS)), status=431,
            source="gunicorn 009: limit_request_fields"),
    refused("fields-10000", get(b"Host: localhost\r\n" + fields(10_000)), status=431, source="gunicorn 009"),
]


def valid(case_id: str, raw: bytes, *bodies: bytes, status: int = 200, source: str = "") -> Case:
    return Case(case_id, raw, status=status, answers=len(bodies), bodies=bodies, source=source)


CLOSE = b"Connection: close\r\n"
GET_CLOSE = b"GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"

VALID = [
    valid("get", GET_CLOSE, b"GET /echo host=localhost 0:"),
    valid("keep-alive", get(b"Host: localhost\r\n") + GET_CLOSE, b"GET /echo", b"GET /echo"),
    valid("pipelined", get(b"Host: localhost\r\n") + post(b"Content-Length: 5\r\n", b"hello")
          + chunked(b"5\r\nhello\r\n0\r\n\r\n") + GET_CLOSE,
          b"GET /echo", b"POST /echo host=localhost 5:hello", b"POST /echo host=localhost 5:hello", b"GET /echo"),
    valid("chunked-extensions-trailers",
          post(b"Transfer-Encoding: chunked\r\n" + CLOSE,
               b'5;name=value\r\nhello\r\n6 ; quoted="a b;c" ;flag\r\n world\r\n0;last\r\n'
               b"X-Checksum: abc\r\nX-Other:\tdef \r\n\r\n"),
          b"11:hello world", source="gevent test_229_correct_chunk_quoted_ext; RFC 9112 7.1.1-7.1.2"),
    valid("chunked-mixed-case", post(b"Transfer-Encoding: cHuNkEd\r\n" + CLOSE, b"A\r\n0123456789\r\n0\r\n\r\n"),
          b"10:0123456789", source="RFC 9112 7: coding names are case-insensitive"),
    valid("chunked-tab-ows", post(b"Transfer-Encoding:\tchunked \r\n" + CLOSE, b"0005\r\nhello\r\n000\r\n\r\n"),
          b"5:hello", source="RFC 9110 5.6.3: OWS; leading zeros"),
    valid("chunked-16-digits", post(b"Transfer-Encoding: chunked\r\n" + CLOSE,
                                    b"0000000000000005\r\nhello\r\n0\r\n\r\n"), b"5:hello"),
    valid("expect-100-continue", post(b"Content-Length: 5\r\nExpect: 100-continue\r\n" + CLOSE, b"hello"),
          b"5:hello", source="RFC 9110 10.1.1"),
    valid("http10-without-host", b"GET /echo HTTP/1.0\r\n\r\n", b"GET /echo", source="RFC 9112 3.2: 1.1 only"),
    valid("http10-keep-alive", b"GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + b"GET /echo HTTP/1.0\r\n\r\n",
          b"GET /echo", b"GET /echo"),
    valid("absolute-form", b"GET http://localhost/echo?x=1 HTTP/1.1\r\nHost: localhost\r\n" + CLOSE + b"\r\n",
          b"GET /echo host=localhost", source="RFC 9112 3.2.2"),
    valid("options-asterisk", b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\n" + CLOSE + b"\r\n", b"serving",
          source="the health check's question"),
    valid("content-length-zero", post(b"Content-Length: 0\r\n" + CLOSE), b"0:"),
    valid("content-length-leading-zero", post(b"Content-Length: 005\r\n" + CLOSE, b"hello"), b"5:hello"),
    valid("obs-text-and-tab-in-value", get(b"Host: localhost\r\nX-Value: caf\xe9\t\xff ok\r\nX-Empty:\r\n" + CLOSE),
          b"GET /echo", source="RFC 9110 5.5: obs-text, HTAB"),
    valid("underscore-name-dropped", get(b"Host: localhost\r\nX_Custom: 1\r\n" + CLOSE), b"GET /echo",
          source="pywsgi and gunicorn drop names with _"),
    valid("request-line-at-limit", line(b"GET /echo?" + b"a" * (LIMIT_REQUEST_LINE - 19) + b" HTTP/1.1",
                                        b"Host: localhost\r\n" + CLOSE), b"GET /echo"),
    valid("field-at-limit", get(b"Host: localhost\r\n" + field_of_size(LIMIT_REQUEST_FIELD_SIZE) + CLOSE),
          b"GET /echo"),
    valid("fields-at-limit", get(b"Host: localhost\r\n" + fields(LIMIT_REQUEST_FIELDS - 2) + CLOSE), b"GET /echo"),
    valid("head", b"HEAD /echo HTTP/1.1\r\nHost: localhost\r\n" + CLOSE + b"\r\n", b""),
]

CASES = REFUSED + VALID
assert len({case.id for case in CASES}) == len(CASES), "case ids are unique"


@dataclass
class Answer:
    status: int | None
    headers: dict[bytes, bytes]
    body: bytes


def answers(raw: bytes) -> list[Answer]:
    """The responses in what a server sent on one connection, in order; interim (1xx) ones included.
    What does not parse as a response is one Answer with status None and that text as its body."""
    found, rest = [], raw
    while rest:
        head, blank, after = rest.partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0].split()
        if not blank or len(status_line) < 2 or not status_line[0].startswith(b"HTTP/") or not status_line[1].isdigit():
            found.append(Answer(None, {}, rest))
            break
        headers = {}
        for field in head.split(b"\r\n")[1:]:
            name, _, value = field.partition(b":")
            headers[name.strip().lower()] = value.strip()
        status = int(status_line[1])
        if status < 200:
            body, rest = b"", after
        elif b"content-length" in headers:
            length = int(headers[b"content-length"])
            body, rest = after[:length], after[length:]
        elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body, rest = _dechunk(after)
        else:
            body, rest = after, b""  # delimited by the close
        found.append(Answer(status, headers, body))
    return found


def _dechunk(data: bytes) -> tuple[bytes, bytes]:
    body = []
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            _, _, data = data.partition(b"\r\n")  # no trailers in these answers
            return b"".join(body), data
        body.append(data[:size])
        data = data[size + 2:]


def final_answers(raw: bytes) -> list[Answer]:
    return [answer for answer in answers(raw) if answer.status is None or answer.status >= 200]


def send_case(host: str, port: int, case: Case, server_hostname: str | None = None,
              ssl_context: ssl.SSLContext | None = None, timeout: float = 5.0) -> tuple[int | None, bool, bytes]:
    """Send the case's bytes on a new connection (TLS with `ssl_context`), read until the server closes
    it or `timeout` passes. Returns (the first final status or None, whether the server closed it, the
    raw answer). A server may close while the bytes are still being sent: that is an answer too."""
    sock = socket.create_connection((host, port), timeout=timeout)
    if ssl_context is not None:
        sock = ssl_context.wrap_socket(sock, server_hostname=server_hostname or host)
    deadline = time.monotonic() + timeout
    chunks, closed = [], False
    with sock:
        try:
            sock.sendall(case.raw)
        except OSError:  # refused before everything was sent: what it answered is still to be read
            pass
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except (ConnectionResetError, ssl.SSLError):  # closed with our bytes unread, or TLS cut short
                closed = True
                break
            if not chunk:
                closed = True
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    finals = final_answers(raw)
    return (finals[0].status if finals else None), closed, raw
