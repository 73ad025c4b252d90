"""What blocks gevent's event loop is said once, with the request and the user's own line of code."""

from harness import wait_for

BLOCKING = '''

@bp.get("/block")
def block():
    from gevent import monkey
    monkey.get_original("time", "sleep")(0.3)  # the real sleep: as a C driver's socket wait would
    return "blocked"
'''


def test_a_blocking_call_is_reported_once_with_the_request_and_the_line(devserver):
    server = devserver(ACCESS_LOG="0")
    server.append("kiosk/views.py", BLOCKING)
    wait_for(lambda: server.get("/block").text == "blocked", 10, message="the route")
    assert server.get("/testsleep?seconds=0.3").status_code == 200  # a cooperative wait: nothing to say
    wait_for(lambda: "the event loop was blocked for more than 100 ms while serving GET /block, at "
             "kiosk/views.py:" in server.log(), 5, message="the report")
    assert 'monkey.get_original("time", "sleep")(0.3)' in server.log()
    assert "testsleep" not in server.log()
    server.get("/block")
    wait_for(lambda: "blocked again at kiosk/views.py:" in server.log(), 5, message="the count")
    assert server.log().count("blocked for more than") == 1  # counted, not repeated


def test_off_with_blocking_warn_ms_0(devserver):
    server = devserver(BLOCKING_WARN_MS="0")
    server.append("kiosk/views.py", BLOCKING)
    wait_for(lambda: server.get("/block").text == "blocked", 10, message="the route")
    server.get("/block")
    assert "event loop was blocked" not in server.log()
