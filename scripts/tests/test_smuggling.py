"""Every request that could be read two ways is refused by the real dev server, and every valid one served.

The cases are smuggling_cases.py's (from gunicorn's and gevent's own tests). Each is sent as it is
over a raw socket; a refused one carries a complete `GET /smuggled` request behind it, and must get
one answer (400, or 414/431 for the limits), the connection closed, and `/smuggled` never answered.

One server for the module: the `devserver` fixture's (a dev server on a copy of the project, the
test app with ECHO_ROUTE), started once instead of once for each of the ~160 cases.
"""

import pytest

from harness import DevServer, copy_project
from smuggling_cases import ECHO_ROUTE, REFUSED, SMUGGLED, VALID, answers, final_answers, send_case

SMUGGLED_LOGGED = '"' + SMUGGLED.split(b"\r\n")[0].decode() + '" '  # its access log line, were it answered


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("smuggling") / "project")
    with open(project / "kiosk" / "views.py", "a") as views:
        views.write(ECHO_ROUTE)
    server = DevServer(project, FLASK_DEBUG="1").start()  # debug on: a crash would be the debugger's page
    yield server
    server.stop()
    leftovers = server.kill_leftovers()
    assert not leftovers, f"processes left behind: {leftovers}\n{server.log()}"
    assert SMUGGLED_LOGGED not in server.log(), "a smuggled request was answered"


def described(raw: bytes) -> str:
    return "\n".join(f"{a.status} {a.body[:200]!r}" for a in answers(raw)) or "(no answer)"


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.id)
def test_a_request_that_could_be_read_two_ways_is_refused_and_the_connection_closed(server, case):
    status, closed, raw = send_case("127.0.0.1", server.port, case)
    assert status == case.status, f"{case.source}\n{described(raw)}"
    assert closed, f"the connection was left open after:\n{described(raw)}"
    finals = final_answers(raw)
    assert len(finals) == 1, f"the request smuggled behind it was answered:\n{described(raw)}"
    assert b"Traceback" not in raw and b"Werkzeug Debugger" not in raw


@pytest.mark.parametrize("case", VALID, ids=lambda case: case.id)
def test_a_valid_request_is_served(server, case):
    status, closed, raw = send_case("127.0.0.1", server.port, case)
    finals = final_answers(raw)
    assert [answer.status for answer in finals] == [case.status] * case.answers, f"{case.source}\n{described(raw)}"
    for answer, expected in zip(finals, case.bodies, strict=True):
        assert expected in answer.body, described(raw)
    assert closed, "the last request asked to close, or was HTTP/1.0"
    if case.id == "expect-100-continue":
        assert raw.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), described(raw)


def test_the_server_serves_on_after_the_refusals(server):
    """Last in the module: every refusal above was the client's error, none the worker's."""
    assert server.get("/pid").status_code == 200
    assert "Traceback" not in server.log()
