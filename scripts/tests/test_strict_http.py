"""The strict HTTP reading (worker/strict_http.py), in process: no server, pywsgi's own parser and input.

Through a real server these are test_serving.py's and test_traffic.py's smuggling and chunked cases.
"""

import io

import pytest
from gevent.pywsgi import Input, _InvalidClientRequest
from werkzeug.exceptions import BadRequest

from devserver.worker.strict_http import StrictChunkedInput, StrictHandler, check_framing


class Handler:
    """What StrictChunkedInput needs of its handler."""

    close_connection = False


def handler_reading(head: bytes) -> StrictHandler:
    """A handler whose client sent `head` (the headers, the blank line, maybe a body) after its request line."""
    return StrictHandler(None, ("192.0.2.1", 40000), object(), io.BufferedReader(io.BytesIO(head)))


class RecordedInput(Input):
    """pywsgi's input, saying whether pywsgi's after-the-response discard reached it."""

    discarded = False

    def _discard(self):
        self.discarded = True
        super()._discard()


def chunked(body: bytes) -> tuple[StrictChunkedInput, Handler, RecordedInput]:
    handler = Handler()
    wrapped = RecordedInput(io.BufferedReader(io.BytesIO(body)), None, chunked_input=True)
    return StrictChunkedInput(wrapped, handler), handler, wrapped


@pytest.mark.parametrize(("head", "why"), [
    (b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "conflicting Content-Length headers: 3, 4"),
    (b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "both Content-Length and Transfer-Encoding"),
    (b"Transfer-Encoding: gzip, chunked\r\n\r\n", "unsupported Transfer-Encoding: gzip, chunked"),
    (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
     "unsupported Transfer-Encoding: chunked, chunked"),
])
def test_a_request_that_could_be_read_two_ways_is_the_clients_error(head, why):
    with pytest.raises(_InvalidClientRequest) as raised:  # pywsgi answers it 400 and closes the connection
        handler_reading(b"Host: example\r\n" + head).read_request("POST / HTTP/1.1\r\n")
    assert raised.value.formatted_message == why


@pytest.mark.parametrize("head", [
    b"\r\n",
    b"Content-Length: 3\r\n\r\nabc",
    b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc",  # the same length twice says one thing
    b"Transfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
])
def test_a_request_framed_one_way_is_read(head):
    assert handler_reading(b"Host: example\r\n" + head).read_request("POST / HTTP/1.1\r\n") is True


def test_check_framing_alone():
    check_framing(["5"], [])
    check_framing([], [" chunked "])
    with pytest.raises(_InvalidClientRequest):
        check_framing(["5", "6"], [])


def test_a_well_formed_chunked_body_reads_as_pywsgi_reads_it():
    body, handler, wrapped = chunked(b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
    assert body.read() == b"abcdefg"
    assert not handler.close_connection and not body.broken
    body._discard()  # what pywsgi calls after the response, to reach the next request
    assert wrapped.discarded


def test_lines_and_iteration_pass_through():
    body, _, _ = chunked(b"8\r\none\ntwo\n\r\n0\r\n\r\n")
    assert list(body) == [b"one\n", b"two\n"]
    body, _, _ = chunked(b"8\r\none\ntwo\n\r\n0\r\n\r\n")
    assert body.readline() == b"one\n" and body.readlines() == [b"two\n"]


@pytest.mark.parametrize("raw", [b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabc", b"3\r\nabcXY0\r\n\r\n"])
def test_a_malformed_chunked_body_is_a_400_and_the_connection_is_not_trusted_again(raw):
    body, handler, wrapped = chunked(raw)
    with pytest.raises(BadRequest, match="Malformed chunked request body"):
        body.read()
    assert handler.close_connection and body.broken
    body._discard()  # what pywsgi calls after the response: the rest of a broken stream is not read
    assert not wrapped.discarded


def test_an_error_that_is_not_the_clients_is_left_as_it_is():
    class Failing:
        def read(self, *args):
            raise OSError("the disk")

    body = StrictChunkedInput(Failing(), Handler())
    with pytest.raises(OSError, match="the disk"):
        body.read()
    assert not body.broken


def test_what_it_does_not_wrap_is_the_wrapped_inputs():
    body, _, wrapped = chunked(b"0\r\n\r\n")
    assert body.chunked_input is wrapped.chunked_input is True
