"""Traffic across reloads: no request is refused, reset, lost, or answered by the old code once the new code has.

A retiring worker hands every connection it holds (idle kept-alive ones, freshly accepted ones,
pipelined bytes it has already read) to the new worker, so the new code answers them, with the
real client address. Each test drives real connections through real reloads of a probe app of
its own: the tests of the dev environment never depend on the user's app in app/.
"""

from __future__ import annotations

import bisect
import hashlib
import http.client
import itertools
import os
import socket
import threading
import time
from contextlib import contextmanager

import pytest
import requests

from harness import wait_for

both_launch_modes = pytest.mark.parametrize("preload", ["1", "0"], ids=["preloaded", "spawned"])

PROBE = '''\
import hashlib
import time

from flask import Flask, Response, request

VERSION = 1

app = Flask(__name__)


@app.get("/version")
def version():
    return str(VERSION)


@app.get("/slow")
def slow():
    time.sleep(float(request.args["seconds"]))  # yields under gevent
    return str(VERSION)


@app.post("/echo")
def echo():
    return f"{VERSION}:" + hashlib.sha256(request.get_data()).hexdigest()


@app.get("/stream")
def stream():
    def chunks():
        for i in range(5):
            yield f"{VERSION}:chunk{i}\\n"
            time.sleep(0.3)
    return Response(chunks(), mimetype="text/plain")


@app.get("/addr")
def addr():
    return request.remote_addr
'''


def write_version(project, n: int) -> None:
    """Save the probe with VERSION = n. The file grows with each version: Python trusts a cached .pyc
    whose source has the same size and the same mtime in whole seconds, and two edits a second apart
    of `VERSION = 2` and `VERSION = 3` would otherwise look alike to it."""
    (project / "probe.py").write_text(PROBE.replace("VERSION = 1\n", f"VERSION = {n}\n") + "#" * n + "\n")


def log_tail(server, lines: int = 30) -> str:
    return "\n--- server log (tail) ---\n" + "\n".join(server.log().splitlines()[-lines:])


def served_version(server) -> int:
    """The version a fresh connection is answered by (nothing kept alive to skew it)."""
    return int(server.get("/version", headers={"Connection": "close"}, timeout=5).text)


def wait_version(server, n: int, timeout: float = 10) -> float:
    """Wait until fresh connections get version n; returns the time it was seen."""
    try:
        wait_for(lambda: served_version(server) == n, timeout, message=f"version {n} to be served")
    except AssertionError as exc:
        raise AssertionError(f"{exc}{log_tail(server)}") from None
    return time.monotonic()


def reload_to(server, n: int) -> float:
    write_version(server.project, n)
    return wait_version(server, n)


def start_probe(devserver, project, preload: str):
    write_version(project, 1)
    server = devserver(FLASK_APP="probe", RELOAD_PATHS="probe.py", ACCESS_LOG="0", PRELOAD=preload)
    wait_version(server, 1)  # the probe really loads: a failure later is the reload's
    return server


@contextmanager
def kept_alive(server, source: str = "127.0.0.1"):
    """An http.client connection that has been answered once and is kept alive: yields it and that version."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", "/version")
        response = conn.getresponse()
        version = response.read()
        assert response.status == 200 and not response.will_close, (response.status, response.getheaders())
        yield conn, int(version)
    finally:
        conn.close()


def exchange(conn, method: str, path: str, **kwargs) -> tuple[int | None, bytes]:
    """One request on the connection opened before the reload: (status, body), or (None, what went wrong)."""
    if conn.sock is None:  # http.client would quietly open a new connection
        return None, b"the kept-alive connection was closed before the request was sent"
    try:
        conn.request(method, path, **kwargs)
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        return None, repr(exc).encode()


# -- raw sockets, for pipelining: several requests in one write, answers read in order ----------
GET_VERSION = b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n"


def read_response(reader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response from a buffered reader: status, headers (lower-case names), body."""
    status_line = reader.readline()
    if not status_line:
        raise ConnectionError("the connection closed before a response")
    status = int(status_line.split()[1])
    headers = {}
    while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while size := int(reader.readline().split(b";")[0], 16):
            body += reader.read(size)
            reader.readline()
        while reader.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
    elif "content-length" in headers:
        body = reader.read(int(headers["content-length"]))
        if len(body) < int(headers["content-length"]):
            raise ConnectionError(f"body cut short: {body!r}")
    else:
        body = reader.read()  # delimited by the server closing
    return status, headers, body


@contextmanager
def raw_kept_alive(server):
    """A socket answered once and kept alive: yields it, its reader and that version."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock, sock.makefile("rb") as reader:
        sock.sendall(GET_VERSION)
        status, headers, body = read_response(reader)
        assert status == 200 and headers.get("connection", "").lower() != "close", (status, headers)
        yield sock, reader, int(body)


def pipelined(sock, reader, count: int, timeout: float = 10) -> tuple[list[tuple[int, bytes]], str | None]:
    """Send `count` GET /version in one write; the answers read within `timeout`, and why reading stopped early."""
    deadline = time.monotonic() + timeout
    answers = []
    try:
        sock.sendall(GET_VERSION * count)
        while len(answers) < count:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            status, _, body = read_response(reader)
            answers.append((status, body))
    except (OSError, ValueError, IndexError) as exc:  # timed out, closed, or not HTTP
        return answers, repr(exc)
    return answers, None


# -- load: client threads polling /version without pause -----------------------------------------
class Traffic:
    """Keep-alive clients (a requests.Session each) and new-connection clients (Connection: close).

    Every answer is kept with when it was sent and received: an answer is stale when, before its
    request was even sent, a newer version had already answered someone.
    """

    def __init__(self, server, keep_alive: int, fresh: int):
        self.url = server.url + "/version"
        self.answers: list[tuple[float, float, int, str]] = []  # sent, received, version, client
        self.failures: list[tuple[str, str]] = []
        self.latest: dict[str, int] = {}
        self.done = threading.Event()
        names = [f"keep-alive-{i}" for i in range(keep_alive)] + [f"fresh-{i}" for i in range(fresh)]
        self.threads = [threading.Thread(target=self.poll, args=(name,)) for name in names]

    def poll(self, name: str) -> None:
        session = requests.Session() if name.startswith("keep-alive") else None
        while not self.done.is_set():
            sent = time.monotonic()
            try:
                if session:
                    response = session.get(self.url, timeout=10)
                else:
                    response = requests.get(self.url, headers={"Connection": "close"}, timeout=10)
            except requests.RequestException as exc:
                self.failures.append((name, repr(exc)))
                continue
            if response.status_code != 200 or not response.text.isdigit():
                self.failures.append((name, f"{response.status_code} {response.text[:200]!r}"))
                continue
            version = int(response.text)
            self.answers.append((sent, time.monotonic(), version, name))
            self.latest[name] = version

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.done.set()
        for thread in self.threads:
            thread.join(15)

    def wait_all_answered_by(self, n: int, server) -> None:
        try:
            wait_for(lambda: len(self.latest) == len(self.threads) and min(self.latest.values()) >= n, 10,
                     message=f"every client answered by version {n}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; latest: {self.latest}; failures: {self.failures[:5]}"
                                 f"{log_tail(server)}") from None

    def stale(self, observed: list[tuple[float, int]]) -> list[tuple[str, int, int]]:
        """(client, answered version, newer version seen before the request was sent)."""
        seen = sorted([(received, version) for _, received, version, _ in self.answers] + observed)
        times = [t for t, _ in seen]
        newest = list(itertools.accumulate((v for _, v in seen), max))
        found = []
        for sent, _, version, name in self.answers:
            i = bisect.bisect_left(times, sent)
            if i and newest[i - 1] > version:
                found.append((name, version, newest[i - 1]))
        return found


def run_load(server, keep_alive: int, fresh: int, reloads: int = 8) -> None:
    observed = []  # (when the test first saw version n served, n)
    with Traffic(server, keep_alive, fresh) as traffic:
        for n in range(2, reloads + 2):
            edited = time.monotonic()
            observed.append((reload_to(server, n), n))
            traffic.wait_all_answered_by(n, server)
            # Pacing, not readiness: about one reload a second, so each version takes real traffic.
            time.sleep(max(0.0, edited + 1.0 - time.monotonic()))
    stale = traffic.stale(observed)
    assert traffic.failures == [], f"{len(traffic.failures)} failed, first: {traffic.failures[:5]}{log_tail(server)}"
    assert stale == [], f"{len(stale)} stale answers, first: {stale[:5]}{log_tail(server)}"
    assert len(traffic.answers) > 200, f"only {len(traffic.answers)} requests made"


# -- the tests -----------------------------------------------------------------------------------
@both_launch_modes
def test_new_connection_per_request_is_never_failed_nor_stale_across_reloads(devserver, project, preload):
    """Six clients each opening a connection per request, through eight reloads."""
    server = start_probe(devserver, project, preload)
    run_load(server, keep_alive=0, fresh=6)


@both_launch_modes
def test_slow_request_on_a_connection_kept_alive_across_a_reload_is_answered_by_the_new_code(
        devserver, project, preload):
    """A connection idle through the reload then asks for something slow: the new code answers it whole,
    even though the request outlives any grace the old worker may have."""
    server = start_probe(devserver, project, preload)
    for n in range(2, 5):
        with kept_alive(server) as (conn, before):
            assert before == n - 1
            reload_to(server, n)
            time.sleep(0.3)  # scenario timing, not readiness: the request comes a moment after the swap
            answer = exchange(conn, "GET", "/slow?seconds=2")
        assert answer == (200, str(n).encode()), f"reload {n - 1}: {answer}{log_tail(server)}"


@both_launch_modes
def test_slow_request_sent_in_the_middle_of_a_reload_is_answered(devserver, project, preload):
    """Sent on a kept-alive connection 0.3 s after the save, before the new version is known to serve:
    whichever code answers, it answers (200), and it is never older than before the save."""
    server = start_probe(devserver, project, preload)
    for n in range(2, 5):
        with kept_alive(server) as (conn, before):
            write_version(project, n)
            time.sleep(0.3)  # scenario timing, not readiness: the request lands while the reload runs
            answer = exchange(conn, "GET", "/slow?seconds=2")
        status, body = answer
        assert status == 200 and body.isdigit() and int(body) >= before, f"reload {n - 1}: {answer}{log_tail(server)}"
        wait_version(server, n)


@both_launch_modes
def test_pipelined_requests_after_a_reload_are_all_answered_by_the_new_code(devserver, project, preload):
    """Three requests in one write on a connection kept alive through the reload: none is lost."""
    server = start_probe(devserver, project, preload)
    for n in range(2, 5):
        with raw_kept_alive(server) as (sock, reader, before):
            assert before == n - 1
            reload_to(server, n)
            answers, error = pipelined(sock, reader, 3)
        assert answers == [(200, str(n).encode())] * 3 and error is None, \
            f"reload {n - 1}: {answers}, stopped by {error}{log_tail(server)}"


@both_launch_modes
def test_pipelined_requests_sent_right_after_a_save_are_all_answered_in_order(devserver, project, preload):
    """The same, sent the moment the file is saved: all answered, versions never going backwards."""
    server = start_probe(devserver, project, preload)
    for n in range(2, 5):
        with raw_kept_alive(server) as (sock, reader, before):
            write_version(project, n)
            answers, error = pipelined(sock, reader, 3)
        versions = [int(body) if body.isdigit() else None for _, body in answers]
        assert len(answers) == 3 and error is None and all(status == 200 for status, _ in answers) \
            and all(v is not None and before <= v <= n for v in versions) and versions == sorted(versions), \
            f"reload {n - 1}: {answers}, stopped by {error}{log_tail(server)}"
        wait_version(server, n)


@both_launch_modes
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_request_body_after_a_reload_reaches_the_new_code_whole(devserver, project, preload, framing):
    """A 1 MiB POST on a connection kept alive through the reload, framed by length or in chunks."""
    server = start_probe(devserver, project, preload)
    body = os.urandom(1 << 20)
    digest = hashlib.sha256(body).hexdigest()

    def post(conn):
        if framing == "chunked":
            chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))
            return exchange(conn, "POST", "/echo", body=chunks, headers={"Transfer-Encoding": "chunked"},
                            encode_chunked=True)
        return exchange(conn, "POST", "/echo", body=body)  # http.client sends Content-Length

    with kept_alive(server) as (conn, _):
        # Before any reload: the probe reads this framing whole, so a failure below is the reload's.
        assert post(conn) == (200, f"1:{digest}".encode())
        reload_to(server, 2)
        answer = post(conn)
    assert answer == (200, f"2:{digest}".encode()), f"{answer}{log_tail(server)}"


@both_launch_modes
def test_streamed_response_after_a_reload_streams_from_the_new_code(devserver, project, preload):
    """Five chunks 0.3 s apart, asked on a connection kept alive through the reload: the first arrives
    before the rest (not after the whole answer was buffered somewhere), all arrive, all from the new code."""
    server = start_probe(devserver, project, preload)
    with kept_alive(server) as (conn, _):
        reload_to(server, 2)
        assert conn.sock is not None, "the kept-alive connection was closed before the request was sent"
        sent = time.monotonic()
        try:
            conn.request("GET", "/stream")
            response = conn.getresponse()
            lines = [response.readline()]
            first = time.monotonic() - sent
            lines += response.read().splitlines(keepends=True)
            whole = time.monotonic() - sent
        except (OSError, http.client.HTTPException) as exc:
            raise AssertionError(f"GET /stream after the reload: {exc!r}{log_tail(server)}") from None
    expected = [f"2:chunk{i}\n".encode() for i in range(5)]
    assert (response.status, lines) == (200, expected), f"{response.status} {lines}{log_tail(server)}"
    assert whole >= 1.2, f"the stream took {whole:.2f}s: the probe did not stream"
    # Streamed, the rest comes at least 1.2 s (the probe's sleeps) after the first chunk; buffered, with it.
    assert whole - first > 0.2, \
        f"the first chunk came {first:.2f}s after the request; the whole stream took {whole:.2f}s"


@both_launch_modes
def test_client_address_survives_a_reload_and_cannot_be_spoofed(devserver, project, preload):
    """The new code sees the real peer of a handed-over connection, and X-Forwarded-For from the client
    changes nothing. The client connects from 127.0.0.2 (still loopback, to the server on 127.0.0.1):
    an answer of 127.0.0.1 would be the server's own hop, not the client."""
    client = "127.0.0.2"
    server = start_probe(devserver, project, preload)
    spoofed = {"X-Forwarded-For": "203.0.113.9"}
    with kept_alive(server, source=client) as (plain, _), kept_alive(server, source=client) as (spoofing, _):
        # Before any reload: the probe reports the peer and ignores the header.
        assert exchange(plain, "GET", "/addr") == (200, client.encode())
        assert exchange(spoofing, "GET", "/addr", headers=spoofed) == (200, client.encode())
        reload_to(server, 2)
        answers = [exchange(plain, "GET", "/addr"), exchange(spoofing, "GET", "/addr", headers=spoofed)]
    assert answers == [(200, client.encode())] * 2, f"{answers}{log_tail(server)}"


@both_launch_modes
def test_keep_alive_and_new_connection_clients_together_across_reloads(devserver, project, preload):
    """Three keep-alive clients and three opening a connection per request, through eight reloads:
    nothing failed, nothing stale (and the fixture checks no process is left behind)."""
    server = start_probe(devserver, project, preload)
    run_load(server, keep_alive=3, fresh=3)


@both_launch_modes
def test_a_connection_busy_across_two_quick_reloads_is_passed_on_twice(devserver, project, preload):
    """Save, then format-on-save: the first new worker is already retiring when the oldest one
    finishes a slow request and passes its connection on. It must pass it on again, not drop it."""
    server = start_probe(devserver, project, preload)
    with kept_alive(server) as (conn, _):
        conn.request("GET", "/slow?seconds=1.5")
        reload_to(server, 2)
        reload_to(server, 3)
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"1")  # in flight before the saves
        conn.request("GET", "/version")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"3"), log_tail(server)
