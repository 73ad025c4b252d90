"""Live reload, seen in a real headless Chromium: the page follows the code by itself.

No navigation command comes from the test after the first load: every change shows because the
page's own script (injected by the worker) reloaded it, or swapped the stylesheet in place.
"""

import os
import statistics
import threading
import time

import pytest
import requests
from browser import Browser, find_chromium

from harness import wait_for

CHROMIUM = find_chromium()
VERSION_ROUTE = '''

@bp.get("/version")
def version():
    return "<!doctype html><html><body><p>version v0</p></body></html>"
'''


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("no chromium: under CI=true the browser tests must run (apt-get install chromium)",
                        pytrace=False)
        pytest.skip("no chromium (apt-get install chromium)")
    b = Browser(CHROMIUM)
    yield b
    b.close()


def first_served(url: str, text: str, deadline: float = 10) -> float:
    """When a plain client first gets `text` from `url` (monotonic seconds): the new code serving."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if text in requests.get(url, timeout=2).text:
                return time.monotonic()
        except requests.RequestException:
            pass
    raise AssertionError(f"{text!r} never served at {url}")


def test_a_saved_view_shows_as_the_new_code_serves_not_at_a_reconnect_timer(devserver, browser):
    """The page reloads at its stream's hello from the new code. What this guards: a page that learns of
    the new code only when its event stream reconnects on a timer (RETRY_MS, 1 s) shows every save
    ~1.05 s after it serves; the good case is ~0.1 s (how fast is a benchmark's question, not a test's)."""
    server = devserver(ACCESS_LOG="0")
    server.append("kiosk/views.py", VERSION_ROUTE)
    wait_for(lambda: "version v0" in server.get("/version").text, 10, message="the route")
    tab = browser.tab(server.url + "/version")
    tab.wait_text("version v0")
    lags = []
    for n in range(1, 11):
        served: dict = {}
        poller = threading.Thread(target=lambda n=n, served=served: served.update(
            at=first_served(server.url + "/version", f"version v{n}")))
        poller.start()
        server.edit("kiosk/views.py", f"version v{n - 1}", f"version v{n}")
        shown = tab.wait_text(f"version v{n}")
        poller.join(15)
        lags.append(shown - served["at"])
        time.sleep(0.3)  # the page settles before the next save
    median = statistics.median(lags)
    print(f"\nlive reload: page shows new code {median * 1000:.0f} ms (median of 10) after it first serves")
    # Under the 1 s a reconnect timer costs, over 5x the good case: a slow runner stays far below it.
    assert median < 0.8, [round(lag, 3) for lag in lags]


def test_template_edit_reloads_and_stylesheet_edit_keeps_what_was_typed(devserver, browser):
    server = devserver(ACCESS_LOG="0")
    tab = browser.tab(server.url + "/form")
    tab.wait_text("Form v0")
    color = "getComputedStyle(document.querySelector('h1')).color"
    wait_for(lambda: tab.evaluate(color) == "rgb(0, 0, 255)", 10, 0.01, "the stylesheet")  # it loads after the text
    # The page listens once its stream has said hello: an edit before that is not heard (a swap) or
    # reloads the page (new code).
    wait_for(lambda: tab.evaluate("document.documentElement.dataset.devserverLive") == "listening", 10, 0.01,
             "the page listening")
    tab.evaluate("document.getElementById('name').value = 'typed by hand'; window.sameDocument = 'yes'")
    server.edit("kiosk/static/style.css", "rgb(0, 0, 255)", "rgb(255, 0, 0)")
    wait_for(lambda: tab.evaluate(color) == "rgb(255, 0, 0)", 10, 0.01, "the new stylesheet")
    assert tab.evaluate("document.getElementById('name').value") == "typed by hand"  # no reload
    assert tab.evaluate("window.sameDocument") == "yes"
    server.edit("kiosk/templates/form.html", "Form v0", "Form v1")
    tab.wait_text("Form v1")  # a template edit: no new worker, the page reloads itself
    assert tab.evaluate("window.sameDocument") is None
    assert "reloaded in" not in server.log()


def test_a_syntax_error_shows_by_itself_and_so_does_the_fix_in_eight_tabs(devserver, browser):
    """Eight tabs: more than the six connections a browser opens to one host (one stream for them all)."""
    server = devserver(ACCESS_LOG="0")
    server.append("kiosk/views.py", VERSION_ROUTE)
    wait_for(lambda: "version v0" in server.get("/version").text, 10, message="the route")
    tabs = [browser.tab(server.url + "/version") for _ in range(8)]
    for tab in tabs:
        tab.wait_text("version v0")
    server.append("kiosk/views.py", "\ndef broken(:\n")
    for tab in tabs:
        tab.wait_text("SyntaxError")  # the debugger's error page, by itself
    server.edit("kiosk/views.py", "\ndef broken(:\n", "\n")
    server.edit("kiosk/views.py", "version v0", "version v1")
    for tab in tabs:
        tab.wait_text("version v1")


def test_json_and_streams_are_left_alone_and_the_stream_does_not_hold_a_stop(devserver):
    server = devserver(GRACEFUL_TIMEOUT="30")  # far above the good case: a held stop shows as one
    assert server.get("/pid").headers["Content-Type"] == "application/json"
    assert "data-devserver-live-reload" not in server.get("/pid").text
    assert "data-devserver-live-reload" not in server.get("/").text  # no </body>: not a page to touch
    page = server.get("/form")
    assert page.text.count("data-devserver-live-reload") == 1 and int(page.headers["Content-Length"]) == len(
        page.content)
    stream = requests.get(server.url + "/__devserver__/live", stream=True, timeout=10)
    assert stream.headers["Content-Type"] == "text/event-stream"
    assert next(stream.iter_lines()) == b"retry: 1000"
    start = time.monotonic()
    assert server.stop() == 0
    # A stream that held the stop would take GRACEFUL_TIMEOUT (30 s); the good case is ~0.1 s.
    assert time.monotonic() - start < 10
    assert "/__devserver__/live" not in server.log()


DOWNLOADS = '''

@bp.get("/download")
def download():
    from flask import Response
    page = "<html><body>a saved page</body></html>"
    return Response(page, mimetype="text/html", headers={"Content-Disposition": "attachment; filename=p.html"})
'''


def test_downloads_are_left_alone(devserver):
    server = devserver()
    server.append("kiosk/views.py", DOWNLOADS)
    wait_for(lambda: server.get("/download").status_code == 200, 10, message="the route")
    assert server.get("/download").text == "<html><body>a saved page</body></html>"


def test_off_with_live_reload_0(devserver):
    server = devserver(LIVE_RELOAD="0")
    assert "data-devserver-live-reload" not in server.get("/form").text
    assert server.get("/__devserver__/live").status_code == 404  # the app's own 404: nothing reserved
