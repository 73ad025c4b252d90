"""gunicorn's worker class for production: gunicorn's gevent pywsgi worker, running this project's handler.

The arbiter forks it, watches its heartbeat (WORKER_TIMEOUT) and replaces it. Inside, each connection is
read strictly (worker/strict_http.py, the handler the dev server's tests exercise), an idle kept-alive
connection is closed after KEEPALIVE, the health check is answered in front of the app (worker/health.py),
and what gunicorn's pywsgi worker leaves out is here:

- MAX_REQUESTS: gunicorn counts requests only in its own parser's path; here the handler counts them;
- SIGTERM: the health answer turns to 503 at once, the server keeps answering for SHUTDOWN_DELAY (a load
  balancer still sends for a moment), then drains; every answer meanwhile says `Connection: close`;
- the watchdog: an event loop blocked for a quarter of WORKER_TIMEOUT is reported with the request and
  the user's line (worker/blocking.py), before the arbiter kills the worker at WORKER_TIMEOUT.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import gevent
from gevent.pywsgi import WSGIServer
from gevent.socket import wait_read
from gunicorn.errors import AppImportError
from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler

from devserver.log import say
from devserver.worker.blocking import BlockingReport
from devserver.worker.health import UNLOGGED, HealthAnswer
from devserver.worker.server import arrived, no_delay
from devserver.worker.strict_http import StrictHandler

RETRY_SECONDS = 2.0  # between tries of a replacement worker whose code does not load
STOPPING_IDLE = 0.5  # seconds an idle kept-alive connection may still send its next request once stopping
IDLE_SLICE = 0.25  # seconds between looks at whether the worker is stopping, while a connection is idle

# The connections this worker process serves (one worker per process): the watchdog names their requests.
CONNECTIONS: set[Handler] = set()


class Handler(StrictHandler, PyWSGIHandler):
    """One client connection: strict parsing (StrictHandler), gunicorn's access log (PyWSGIHandler)."""

    worker: Worker  # set on the class the worker serves with (Worker.init_process)
    greenlet = None
    requests = 0

    def handle(self):
        self.greenlet = gevent.getcurrent()
        CONNECTIONS.add(self)
        no_delay(self.socket)
        try:
            super().handle()
        finally:
            CONNECTIONS.discard(self)

    def read_requestline(self):
        """A kept-alive connection's next request, if it comes within KEEPALIVE (a moment, once stopping)."""
        if self.requests and not arrived(self) and not self.next_request_comes():
            return None  # pywsgi closes the connection
        self.requests += 1
        return super().read_requestline()

    def next_request_comes(self) -> bool:
        idle_since = time.monotonic()
        while True:
            limit = self.worker.settings.keepalive if self.worker.serving else STOPPING_IDLE
            remaining = idle_since + limit - time.monotonic()
            if remaining <= 0:
                return False
            try:
                wait_read(self.socket.fileno(), timeout=min(remaining, IDLE_SLICE))
                return True
            except TimeoutError:
                continue
            except OSError:
                return False

    def start_response(self, status, headers, exc_info=None):
        if not self.worker.serving:  # stopping, or due for replacement: the client reconnects elsewhere
            self.close_connection = True
            headers = [(k, v) for k, v in headers if k.lower() != "connection"] + [("Connection", "close")]
        return super().start_response(status, headers, exc_info)

    def handle_one_response(self):
        try:
            return super().handle_one_response()
        finally:
            self.worker.served_one()

    def log_request(self):
        if self.environ and self.environ.get(UNLOGGED):
            return  # the health check, every few seconds
        super().log_request()


class Server(WSGIServer):
    """gevent's pywsgi server; SERVER_NAME given, so gevent never resolves getfqdn() at start (a DNS stall)."""

    def __init__(self, *args, environ=None, **kwargs):
        super().__init__(*args, environ={"SERVER_NAME": "localhost", **(environ or {})}, **kwargs)


def count_siblings(arbiter, worker) -> None:
    """gunicorn's post_fork hook, in the new worker: how many workers the arbiter had besides this one."""
    worker.siblings = len(arbiter.WORKERS)


class Worker(GeventPyWSGIWorker):
    server_class = Server
    wsgi_handler = Handler
    siblings = 0

    health: HealthAnswer

    @property
    def settings(self):
        return self.app.settings

    @property
    def serving(self) -> bool:
        """Not stopping and not due for replacement: a kept-alive connection may stay open."""
        return self.alive and not self.stopping

    def init_process(self):
        self.stopping = False
        cfg = self.cfg
        limited = getattr(Handler, "limited", None)
        base = limited(cfg.limit_request_line, cfg.limit_request_fields, cfg.limit_request_field_size) \
            if limited else Handler
        self.wsgi_handler = type("Handler", (base,), {"worker": self})
        if cfg.workers > 1:  # one connection per accept, as gunicorn's gevent worker: a worker about to block
            self.server_class = type("Server", (Server,), {"max_accept": 1})  # takes no one else's with it
        super().init_process()

    def load_wsgi(self):
        try:
            super().load_wsgi()
        except AppImportError:
            if not self.siblings:
                raise  # the first to start: gunicorn halts, and the log has why
            # Replacing a worker (MAX_REQUESTS, a timeout) after the code on disk broke: gunicorn would halt
            # and take the serving workers down with it. They go on; this one goes, and is tried again.
            say(f"worker {os.getpid()}: the code on disk does not load now; the {self.siblings} other "
                "worker(s) go on serving the code they loaded (fix it, then HUP)")
            time.sleep(RETRY_SECONDS)
            sys.exit(1)
        self.health = HealthAnswer(self.wsgi, self.settings.flask_app, None)
        self.wsgi = self.health

    def run(self):
        timeout = self.settings.worker_timeout
        if timeout:
            # gevent's monitor sees a block one to two periods after it starts: a quarter of the timeout
            # has it said before gunicorn's kill, even on a busy machine.
            threshold = int(timeout * 1000 / 4)
            if self.settings.blocking_warn_ms:
                threshold = min(threshold, self.settings.blocking_warn_ms)
            advice = (f"  Every other request of this worker waited meanwhile; past WORKER_TIMEOUT={timeout:g}s "
                      "gunicorn replaces the worker. Make the call cooperative (a gevent-aware driver, "
                      "gevent.sleep, a threadpool).")
            BlockingReport(SimpleNamespace(handlers=CONNECTIONS), Path.cwd(), threshold, advice=advice).start()
        super().run()

    def served_one(self) -> None:
        """A request answered: past MAX_REQUESTS (with its jitter), this worker goes after what is in flight."""
        self.nr += 1
        if self.alive and self.nr >= self.max_requests:
            self.log.info("worker %s: %s requests served (MAX_REQUESTS): replaced after those in flight",
                          self.pid, self.nr)
            self.alive = False

    def handle_exit(self, sig, frame):
        """SIGTERM: unhealthy at once, answering for SHUTDOWN_DELAY, then gunicorn's drain (alive False)."""
        if self.stopping:
            return
        self.stopping = True
        if hasattr(self, "health"):  # not before the app has loaded
            self.health.stopping()
        delay = self.settings.shutdown_delay
        if delay:
            say(f"worker {os.getpid()}: stopping: answering for SHUTDOWN_DELAY={delay:g}s more, then draining")
        gevent.spawn_later(delay, setattr, self, "alive", False)
