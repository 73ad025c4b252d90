"""Live reload's WSGI side (worker/livereload.py), in process: the HTML injector, its scripts, its stream.

No server, no browser: the WSGI app called directly, or through werkzeug's Client. What the tag says
when the request names a prefix is test_livereload_injection.py's; the browser's side, test_live_reload.py.
"""

import json
import shutil
import subprocess

import pytest
from werkzeug.test import Client, create_environ

from devserver.worker.health import UNLOGGED
from devserver.worker.livereload import (
    EVENTS,
    LIVE_PATH,
    LIVE_SCRIPT,
    LIVE_WORKER,
    SCRIPTS,
    STATIC,
    LiveReload,
)

PAGE = b"<!doctype html><title>t</title><body><p>hello</p></body>\n</html>"
TAG = b'<script src="' + LIVE_SCRIPT.encode()


class App:
    """A WSGI app answering with `chunks` under `headers`, which records how far it was read and closed."""

    def __init__(self, chunks, headers=(("Content-Type", "text/html; charset=utf-8"),), status="200 OK",
                 lazy=False, written=()):
        self.chunks, self.headers, self.status = list(chunks), list(headers), status
        self.lazy, self.written = lazy, written
        self.produced = 0
        self.closed = 0

    def __call__(self, environ, start_response):
        if not self.lazy:
            self.start(start_response)
        return self.Body(self, start_response)

    def start(self, start_response):
        write = start_response(self.status, self.headers)
        for chunk in self.written:
            write(chunk)

    class Body:
        def __init__(self, app, start_response):
            self.app, self.start_response = app, start_response

        def __iter__(self):
            if self.app.lazy:
                self.app.start(self.start_response)  # start_response at the first chunk, as WSGI allows
            for chunk in self.app.chunks:
                self.app.produced += 1
                yield chunk

        def close(self):
            self.app.closed += 1


def call(application, method="GET", path="/"):
    """(status, headers, the response iterable, the environ) without reading the body."""
    environ = create_environ(path=path, method=method)
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen.update(status=status, headers=headers)

    result = application(environ, start_response)
    return seen, result, environ


def with_length(body: bytes):
    return [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))]


def test_an_html_page_gets_the_tag_before_its_last_body_end_and_its_length_fixed():
    app = App([PAGE[:20], PAGE[20:]], with_length(PAGE))
    seen, result, _ = call(LiveReload(app))
    body = b"".join(result)
    assert body.count(TAG) == 1 and body.index(TAG) < body.rindex(b"</body>") and body.endswith(b"</body>\n</html>")
    assert dict(seen["headers"])["Content-Length"] == str(len(body))
    assert [k.lower() for k, _ in seen["headers"]].count("content-length") == 1
    assert app.closed == 1


def test_a_page_with_two_body_ends_gets_it_before_the_last():
    page = b"<body><pre>&lt;/body&gt; </body></pre></BODY >"
    body = b"".join(call(LiveReload(App([page], with_length(page))))[1])
    assert body.endswith(TAG + body.split(TAG, 1)[1].split(b"</script>", 1)[0] + b"</script></BODY >")


def test_what_the_app_writes_with_write_is_kept_in_order():
    page = b"<p>one</p><p>two</p></body>"
    app = App([page[10:]], with_length(page), written=[page[:10]])
    body = b"".join(call(LiveReload(app))[1])
    assert body.replace(body[body.index(TAG):body.index(b"</script>") + 9], b"") == page


def test_a_lazy_app_that_starts_its_response_at_its_first_chunk():
    app = App([PAGE], with_length(PAGE), lazy=True)
    seen, result, _ = call(LiveReload(app))
    assert TAG in b"".join(result) and seen["status"] == "200 OK"


@pytest.mark.parametrize(("headers", "status", "method"), [
    ([("Content-Type", "application/json"), ("Content-Length", "10")], "200 OK", "GET"),
    ([("Content-Type", "text/html")], "200 OK", "GET"),  # no length: a stream
    ([*with_length(PAGE), ("Content-Encoding", "gzip")], "200 OK", "GET"),
    ([*with_length(PAGE), ("Content-Range", "bytes 0-9/99")], "206 Partial Content", "GET"),
    ([*with_length(PAGE), ("Content-Disposition", "attachment; filename=p.html")], "200 OK", "GET"),
    (with_length(PAGE), "304 Not Modified", "GET"),
    (with_length(PAGE), "200 OK", "HEAD"),
])
def test_anything_but_a_whole_html_page_is_left_as_it_is(headers, status, method):
    app = App([PAGE], headers, status)
    seen, result, _ = call(LiveReload(app), method)
    assert b"".join(result) == PAGE and seen["headers"] == headers and seen["status"] == status
    result.close()  # as the server does
    assert app.closed == 1


def test_a_stream_is_streamed_not_read_ahead():
    app = App([b"<p>%d</p>" % n for n in range(5)], [("Content-Type", "text/html")])
    seen, result, _ = call(LiveReload(app))
    assert seen["status"] == "200 OK"  # headers sent on, after one chunk at most
    iterator = iter(result)
    assert next(iterator) == b"<p>0</p>" and app.produced == 1
    assert next(iterator) == b"<p>1</p>" and app.produced == 2
    result.close()
    assert app.closed == 1


def test_an_app_that_fails_before_its_first_chunk_is_still_closed():
    class Failing(App):
        class Body(App.Body):
            def __iter__(self):
                raise RuntimeError("at the first chunk")
                yield

    app = Failing([], lazy=True)  # read here, to see its headers
    with pytest.raises(RuntimeError, match="at the first chunk"):
        call(LiveReload(app))
    assert app.closed == 1


def test_through_werkzeugs_client_as_flask_answers():
    from flask import Flask

    flask = Flask(__name__)

    @flask.get("/")
    def index():
        return PAGE.decode()

    @flask.get("/data")
    def data():
        return {"a": 1}

    client = Client(LiveReload(flask))
    page = client.get("/")
    assert page.text.count("data-devserver-live-reload") == 1
    assert int(page.headers["Content-Length"]) == len(page.get_data())
    assert client.get("/data").json == {"a": 1}


@pytest.mark.parametrize("path", [LIVE_SCRIPT, LIVE_WORKER])
def test_the_scripts_are_the_files_given_the_names_they_share_with_the_stream(path):
    seen, result, environ = call(LiveReload(App([])), path=path)
    body = b"".join(result)
    assert seen["status"] == "200 OK" and environ[UNLOGGED] is True
    assert dict(seen["headers"]) == {"Content-Type": "text/javascript; charset=utf-8",
                                     "Content-Length": str(len(body)), "Cache-Control": "no-store"}
    source = (STATIC / path.rsplit("/", 1)[1]).read_bytes()
    assert body.startswith(source.rstrip()) and body == SCRIPTS[path]
    names = json.loads(body[len(source.rstrip()):].removeprefix(b"(").removesuffix(b");\n"))
    assert names["events"] == EVENTS
    for name in EVENTS.values():  # each event name is written in the Python only
        assert f'"{name}"'.encode() not in source


@pytest.mark.skipif(shutil.which("node") is None, reason="no node: the served scripts' syntax is not checked")
@pytest.mark.parametrize("path", [LIVE_SCRIPT, LIVE_WORKER])
def test_the_served_scripts_are_javascript(path, tmp_path):
    served = tmp_path / "served.js"
    served.write_bytes(SCRIPTS[path])
    check = subprocess.run(["node", "--check", str(served)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr


def test_the_stream_says_hello_with_the_generation_then_ends_when_the_worker_retires():
    live = LiveReload(App([]))
    live.generation = "7"
    seen, result, environ = call(live, path=LIVE_PATH)
    assert seen["status"] == "200 OK" and environ[UNLOGGED] is True
    assert dict(seen["headers"])["Content-Type"] == "text/event-stream"
    assert next(result) == f"retry: 1000\nevent: {EVENTS['HELLO']}\ndata: 7\n\n".encode()
    live.assets_changed(["kiosk/static/site.css", "kiosk/static/site.css.map"])
    assert next(result) == f"event: {EVENTS['CSS']}\ndata: site.css\n\n".encode()
    live.assets_changed(["kiosk/templates/form.html", "kiosk/static/site.css"])
    assert next(result) == f"event: {EVENTS['RELOAD']}\ndata: assets\n\n".encode()
    live.close()
    assert list(result) == [b"retry: 50\n\n"]
    assert live.streams == set()


def test_other_paths_under_the_prefix_are_the_apps():
    app = App([b"the app's"], [("Content-Type", "text/plain")])
    assert b"".join(call(LiveReload(app), path="/__devserver__/other.js")[1]) == b"the app's"
