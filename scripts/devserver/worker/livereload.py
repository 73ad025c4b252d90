"""Live reload: the browser follows the code, at the moment new code serves.

HTML pages get `<script src=LIVE_SCRIPT data-generation=...>`: the generation of workers that
rendered the page. The script (static/live.js, with static/live-worker.js: one SharedWorker per
browser, so many tabs hold one connection, not one each against the browser's six per host)
listens to an event stream at LIVE_PATH, answered here by the worker, never by the app. Its
first event names the generation serving now; a page rendered by another one reloads. When a
worker retires its streams end, the browser reconnects to the new generation (whose first accept
is the moment new code serves) and the pages reload. Template and static edits need no new
worker: the supervisor tells the serving workers (WorkerWords.ASSETS), which send `reload`, or
for a stylesheet `css`, swapped in place. By hand, after django-browser-reload's design: the
event must come from the server, which knows when new code serves, not from the app.
"""

from __future__ import annotations

import html
import itertools
import json
import posixpath
import re
from pathlib import Path
from urllib.parse import quote

from gevent.event import Event
from gevent.queue import Empty, Queue
from werkzeug.wsgi import ClosingIterator

from devserver.worker.health import UNLOGGED

PREFIX = "/__devserver__/"  # reserved paths, which no Flask route is likely to have
LIVE_PATH = PREFIX + "live"  # the event stream
# The scripts: files (static/, beside this module), not inline, so a page's Content-Security-Policy
# 'self' allows them; served here by their file names.
STATIC = Path(__file__).with_name("static")
PAGE_FILE, WORKER_FILE = "live.js", "live-worker.js"
LIVE_SCRIPT = PREFIX + PAGE_FILE
LIVE_WORKER = PREFIX + WORKER_FILE
# The stream's events:
HELLO = "hello"  # first on every stream: the generation serving now (a page rendered by another reloads)
RELOAD = "reload"  # a page reloads
CSS = "css"  # a stylesheet is swapped in place
EVENTS = {"HELLO": HELLO, "RELOAD": RELOAD, "CSS": CSS}  # as the scripts know them (`live.events`)
HEARTBEAT = 15.0  # seconds: proxies and browsers keep an idle stream open
RETRY_MS = 1000  # how soon a browser reconnects to a server that went away
RETIRING_RETRY_MS = 50  # ... and to one that is handing over to new code
BODY_END = re.compile(rb"</body\s*>", re.IGNORECASE)


def script(name: str, names: dict) -> bytes:
    """A file of static/ as served: it is a function expression, called here with the names it uses
    (so each is written once, in this module)."""
    return (STATIC / name).read_bytes().rstrip() + b"(" + json.dumps(names).encode() + b");\n"


SCRIPTS = {  # read once, at import
    LIVE_SCRIPT: script(PAGE_FILE, {"worker": LIVE_WORKER, "stream": LIVE_PATH, "events": EVENTS}),
    # The worker's stream URL is relative to its own (which carries the app's prefix, SCRIPT_NAME).
    LIVE_WORKER: script(WORKER_FILE, {"stream": posixpath.relpath(LIVE_PATH, posixpath.dirname(LIVE_WORKER)),
                                      "events": EVENTS}),
}


class LiveReload:
    """WSGI in front of the app: the event stream and its scripts, and the script tag in every HTML page
    (one with a `</body>`: Flask labels a bare string text/html too)."""

    def __init__(self, application):
        self.application = application
        self.generation = ""  # set by SERVE: every worker of a generation says the same
        self.streams: set[Queue] = set()
        self.closing = Event()  # set when the worker retires: every stream ends at once

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO")
        if path == LIVE_PATH or path in SCRIPTS:
            environ[UNLOGGED] = True  # a line per page view and reconnect would bury the app's log
            if path == LIVE_PATH:
                return self.stream(start_response)
            return self.script(start_response, SCRIPTS[path])
        return self.with_script(environ, start_response)

    def script(self, start_response, body: bytes):
        start_response("200 OK", [("Content-Type", "text/javascript; charset=utf-8"),
                                  ("Content-Length", str(len(body))), ("Cache-Control", "no-store")])
        return [body]

    # -- the event stream --------------------------------------------------------------------------
    def stream(self, start_response):
        start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-store"),
                                  ("X-Accel-Buffering", "no")])
        return self.events()

    def events(self):
        queue: Queue = Queue()
        self.streams.add(queue)
        try:
            yield f"retry: {RETRY_MS}\nevent: {HELLO}\ndata: {self.generation}\n\n".encode()
            while not self.closing.is_set():
                try:
                    event, data = queue.get(timeout=HEARTBEAT)
                except Empty:
                    yield b": still here\n\n"
                    continue
                if event is not None:  # None: close() says the worker retires
                    yield f"event: {event}\ndata: {data}\n\n".encode()
            yield f"retry: {RETIRING_RETRY_MS}\n\n".encode()  # new code serves in a moment: come back soon
        finally:
            self.streams.discard(queue)

    def assets_changed(self, paths: list[str]) -> None:
        """Templates or static files changed: stylesheets are swapped in place, anything else reloads."""
        paths = [p for p in paths if not p.endswith(".map")]  # a source map beside a compiled stylesheet
        if not paths:
            return
        if all(p.endswith(".css") for p in paths):
            events = [(CSS, p.replace("\\", "/").rsplit("/static/", 1)[-1]) for p in paths]
        else:
            events = [(RELOAD, "assets")]
        for queue in list(self.streams):
            for event in events:
                queue.put(event)

    def close(self) -> None:
        self.closing.set()
        for queue in list(self.streams):
            queue.put((None, None))  # wakes each stream, which then ends

    # -- the script tag in HTML pages --------------------------------------------------------------
    def tag(self, environ) -> bytes:
        """Every value in it escaped: SCRIPT_NAME is the request's to say behind ProxyFix(x_prefix=1)
        (X-Forwarded-Prefix), and the script must come from this server, whatever it says."""
        base = html.escape(script_base(environ.get("SCRIPT_NAME", "")), quote=True)
        generation = html.escape(str(self.generation), quote=True)
        return (f'<script src="{base}{LIVE_SCRIPT}" data-generation="{generation}" data-base="{base}"'
                f' data-devserver-live-reload></script>').encode()

    def with_script(self, environ, start_response):
        """The app's response, with the tag before an HTML page's last `</body>`; any other as it was.

        The capture is by hand, not werkzeug.test.run_wsgi_app: that one calls the app with a copy of
        the environ (the SCRIPT_NAME an app-level ProxyFix sets would not reach the tag), raises the
        exc_info it should pass on, and drops what the app write()s after its first chunk."""
        captured: dict = {"written": []}

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=headers, exc_info=exc_info)
            return captured["written"].append

        body = self.application(environ, capture)
        try:
            chunks = iter(body)
            first = [] if "status" in captured else list(itertools.islice(chunks, 1))  # a lazy app starts here
        except BaseException:
            close(body)
            raise
        written = len(captured["written"])  # what the app wrote with write() before its first chunk
        prefix = captured["written"][:written] + first
        headers = captured["headers"]
        if not self.injectable(environ, captured["status"], headers):
            start_response(captured["status"], headers, captured["exc_info"])
            # As it comes (a stream stays one), and the app's body closed when the server closes this.
            return ClosingIterator(itertools.chain(prefix, chunks), lambda: close(body))
        try:
            content = b"".join(prefix) + b"".join(chunks) + b"".join(captured["written"][written:])
        finally:
            close(body)
        matches = list(BODY_END.finditer(content))
        if matches:
            at = matches[-1].start()
            content = content[:at] + self.tag(environ) + content[at:]
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(content)))], captured["exc_info"])
        return [content]

    @staticmethod
    def injectable(environ, status: str, headers) -> bool:
        """A whole HTML page: not JSON, files, streams, compressed or partial bodies, downloads, or HEAD."""
        names = {k.lower(): v for k, v in headers}
        return (names.get("content-type", "").startswith("text/html") and "content-length" in names
                and "content-encoding" not in names and "content-range" not in names
                and "attachment" not in names.get("content-disposition", "")
                and not status.startswith(("1", "204", "206", "304")) and environ["REQUEST_METHOD"] != "HEAD")


URL_SAFE = "/-._~!$&'()*+,;=:@%"  # a path's own characters (and % escapes already made): left as they are


def script_base(script_name: str) -> str:
    """SCRIPT_NAME as a path on this server: percent-quoted (no quote, bracket or backslash survives), one
    leading slash (`//host` or `/\\host` would load the script from another host), no trailing one."""
    try:
        raw = script_name.encode("latin-1")  # WSGI's strings: the request's bytes, one character each
    except UnicodeEncodeError:
        raw = script_name.encode("utf-8", "replace")
    path = quote(raw, safe=URL_SAFE).rstrip("/")
    return "/" + path.lstrip("/") if path else ""


def close(body) -> None:
    """What WSGI promises an app whose response is done with (PEP 3333: "the close() method")."""
    if hasattr(body, "close"):
        body.close()
