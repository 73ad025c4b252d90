"""Live reload: the browser follows the code, at the moment new code serves.

HTML pages get a small script that opens an event stream at LIVE_PATH, answered here by
the worker, never by the app. The first event names the generation of workers serving;
when a worker retires its streams end, the browser reconnects (to the new generation,
whose first accept is the moment new code serves) and reloads if the generation is new.
Template and static edits need no new worker: the supervisor tells the serving workers
(WorkerWords.ASSETS), which send `reload`, or for a stylesheet `css`, swapped in place.
Written by hand rather than with django-browser-reload's idea in a Flask extension: the
event must come from the server, which knows when new code serves, not from the app.
"""

from __future__ import annotations

import itertools
import json
import re

import gevent
from gevent.event import Event
from gevent.queue import Queue

from devserver.worker.server import UNLOGGED

LIVE_PATH = "/__devserver__/live"  # reserved: a path no Flask route is likely to have
HEARTBEAT = 15.0  # seconds: proxies and browsers keep an idle stream open
RETRY_MS = 50  # how soon the browser reconnects when a stream ends (a worker retired)
BODY_END = re.compile(rb"</body\s*>", re.IGNORECASE)

SCRIPT = """<script data-devserver-live-reload>(() => {
  const path = %(path)s;
  let generation = null;
  const source = new EventSource(path);
  source.addEventListener("hello", (event) => {
    if (generation !== null && event.data !== generation) location.reload();
    generation = event.data;
  });
  source.addEventListener("reload", () => location.reload());
  source.addEventListener("css", (event) => {
    for (const link of document.querySelectorAll('link[rel="stylesheet"]')) {
      const url = new URL(link.href, location.href);
      if (url.pathname.endsWith("/" + event.data)) {
        url.searchParams.set("devserver", Date.now());
        link.href = url.href;
      }
    }
  });
})();</script>"""


class LiveReload:
    """WSGI in front of the app: the event stream at LIVE_PATH, and the script in every HTML page
    (one with a `</body>`: Flask labels a bare string text/html too)."""

    def __init__(self, application):
        self.application = application
        self.generation = ""  # set by SERVE: every worker of a generation says the same
        self.streams: set[Queue] = set()
        self.closing = Event()  # set when the worker retires: every stream ends at once
        self.script = (SCRIPT % {"path": json.dumps(LIVE_PATH)}).encode()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == LIVE_PATH:
            environ[UNLOGGED] = True  # a line per page view and reconnect would bury the app's log
            return self.stream(start_response)
        return self.with_script(environ, start_response)

    # -- the event stream --------------------------------------------------------------------------
    def stream(self, start_response):
        start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-store"),
                                  ("X-Accel-Buffering", "no")])
        return self.events()

    def events(self):
        queue: Queue = Queue()
        self.streams.add(queue)
        try:
            yield f"retry: {RETRY_MS}\nevent: hello\ndata: {self.generation}\n\n".encode()
            while not self.closing.is_set():
                waiter = gevent.spawn(queue.get)
                gevent.wait([waiter, self.closing], timeout=HEARTBEAT, count=1)
                if waiter.ready():
                    event, data = waiter.value
                    yield f"event: {event}\ndata: {data}\n\n".encode()
                else:
                    waiter.kill(block=False)
                    if not self.closing.is_set():
                        yield b": still here\n\n"
        finally:
            self.streams.discard(queue)

    def assets_changed(self, paths: list[str]) -> None:
        """Templates or static files changed: stylesheets are swapped in place, anything else reloads."""
        if all(p.endswith(".css") for p in paths):
            events = [("css", p.replace("\\", "/").rsplit("/static/", 1)[-1]) for p in paths]
        else:
            events = [("reload", "assets")]
        for queue in list(self.streams):
            for event in events:
                queue.put(event)

    def close(self) -> None:
        self.closing.set()

    # -- the script in HTML pages ------------------------------------------------------------------
    def with_script(self, environ, start_response):
        captured: dict = {"written": []}

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=headers, exc_info=exc_info)
            return captured["written"].append

        body = self.application(environ, capture)
        chunks = iter(body)
        first = [] if "status" in captured else list(itertools.islice(chunks, 1))  # a lazy app starts here
        prefix = captured["written"] + first
        headers = captured["headers"]
        names = {k.lower(): v for k, v in headers}
        html = names.get("content-type", "").startswith("text/html")
        whole = "content-length" in names and "content-encoding" not in names and environ["REQUEST_METHOD"] != "HEAD"
        if not (html and whole):  # JSON, files, streams, compressed bodies: untouched
            start_response(captured["status"], headers, captured["exc_info"])
            return Body(prefix, chunks, body)
        try:
            content = b"".join(prefix) + b"".join(chunks)
        finally:
            if hasattr(body, "close"):
                body.close()
        matches = list(BODY_END.finditer(content))
        if matches:  # a page, not a bare string Flask labels text/html
            at = matches[-1].start()
            content = content[:at] + self.script + content[at:]
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(content)))], captured["exc_info"])
        return [content]


class Body:
    """The app's response as it was, after the chunks read ahead to see its headers; closed as WSGI says."""

    def __init__(self, prefix: list[bytes], rest, body):
        self.prefix, self.rest, self.body = prefix, rest, body

    def __iter__(self):
        yield from self.prefix
        yield from self.rest

    def close(self):
        if hasattr(self.body, "close"):
            self.body.close()
