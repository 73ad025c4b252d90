"""A worker: one process that serves the app with gevent on the socket the supervisor owns (or, with
TASK_WORKER, runs the queue's task worker instead: worker/tasks.py).

Life of a worker, told over its control socket (the words: protocol.WorkerWords):
  load the app -> LOADED_OK or LOADED_ERROR -> wait for SERVE -> accept and serve
  -> DRAIN (a successor serves: its hand-over channel comes with the word)
     or STOP / SIGTERM / SIGINT / supervisor gone
  -> stop accepting, answer DRAINING, finish in-flight requests, pass every other
     connection to the successor (or close it when stopping), exit.
One word per message on a SOCK_SEQPACKET pair; a hand-over channel rides along by SCM_RIGHTS.
It never binds a port of its own, so the port is never closed by a reload.

A process the app forks (os.fork, multiprocessing's fork) inherits all of this, gevent's hub
with its accept loop and the reader of orders included. It is made inert at the fork: it
closes its copies of the listening socket, the control socket and every connection, so it
never accepts, answers or reads an order, whatever it does with gevent afterwards.
"""

# Monkey-patching must come before anything else imports socket, ssl or threading.
from gevent import monkey

monkey.patch_all()

import os
import signal
import socket
import sys
from pathlib import Path

import gevent
from gevent.event import AsyncResult

from devserver import orphans, processes, protocol
from devserver.log import say
from devserver.protocol import WorkerWords
from devserver.settings import PIN_ENV, SETTINGS_ENV, Settings
from devserver.stamps import stamp
from devserver.worker import appload, imports, tasks
from devserver.worker.blocking import TASKS_ADVICE, BlockingReport
from devserver.worker.health import HealthAnswer
from devserver.worker.livereload import LiveReload
from devserver.worker.server import DrainingServer

IMPORTED_PER_MESSAGE = 1000  # module names per IMPORTED message


def serve(listen_fd: int, control_fd: int) -> int:
    """Run one worker to the end; returns the exit status."""
    stamp("worker")
    settings = enter_project()
    listener = socket.socket(fileno=listen_fd)
    control = socket.socket(fileno=control_fd)

    def tell(word: str) -> None:
        protocol.send(control, word)  # False: the supervisor is gone; the read side notices

    if settings.task_worker:  # a task worker (worker/tasks.py): the queue's worker, no port
        listener.close()
        queue = tasks.queue_of(settings.task_worker)
        _, problem = load_app(settings, tell, also=queue.load,
                              also_what=f"the task worker's app ({' '.join(settings.task_worker)})")
        if settings.blocking_warn_ms and queue.in_gevent_loop:  # from when it consumes: not its own start-up
            queue.when_ready = BlockingReport(None, Path(os.environ[protocol.ROOT_ENV]), settings.blocking_warn_ms,
                                              TASKS_ADVICE).start
        return tasks.consume(queue, control, tell, problem)
    app, problem = load_app(settings, tell)
    live = LiveReload(app) if settings.live_reload else None
    server = DrainingServer(listener, HealthAnswer(live or app, settings.flask_app, problem),
                            access_log=settings.access_log, host=settings.host,
                            limits=(settings.limit_request_line, settings.limit_request_fields,
                                    settings.limit_request_field_size))
    if settings.blocking_warn_ms:
        BlockingReport(server, Path(os.environ[protocol.ROOT_ENV]), settings.blocking_warn_ms).start()
    stamp("loaded")
    tell(WorkerWords.LOADED_OK if problem is None else WorkerWords.LOADED_ERROR)

    order = AsyncResult()  # what ends serving: (DRAIN, the successor's channel) or (STOP, None)
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, order.set, (WorkerWords.STOP, None))
    worker_pid = os.getpid()

    def inert_after_fork() -> None:
        """In a process the app forked from this one: not a worker, whatever it does with gevent."""
        server.go_inert()
        control.close()
        if live:
            live.close()

    os.register_at_fork(after_in_child=inert_after_fork)
    reader = gevent.spawn(read_orders, control, server, live, order, worker_pid)
    word, successor = order.get()
    retire(server, live, successor if word == WorkerWords.DRAIN else None, tell, settings.graceful_timeout)
    reader.kill(block=False)
    orphans.end(orphans.children(os.getpid()))  # nothing the app started outlives its worker
    return 0


def enter_project() -> Settings:
    """The worker's place and settings: the project directory, the subreaper, the parsed settings."""
    try:
        os.chdir(os.environ.get(protocol.ROOT_ENV, "."))  # by path: the directory may have been re-created
    except OSError:
        pass  # gone for now: the app fails to import, and the error page says so
    orphans.become_subreaper()  # what the app starts in a session of its own comes back here
    settings = Settings.loads(os.environ.pop(SETTINGS_ENV))  # parsed once, by the supervisor
    os.environ.pop(PIN_ENV, None)  # the debugger has it from the settings: not the app's processes' business
    return settings


def load_app(settings: Settings, tell, also=None, also_what: str = "") -> tuple[object, str | None]:
    """The app (or the error page the supervisor asked for), and the problem that kept it from loading
    (None: it loaded); `also`, what else to import (appload.load). What it imported from outside the
    project is told, for the next fork server."""
    error = os.environ.get(protocol.ERROR_ENV)
    if error:
        status, problem = protocol.parse_error_page(error)
        return appload.error_app(problem, settings, status), problem
    before = set(sys.modules)
    app, problem = appload.load(settings, also, also_what)
    if problem is None and settings.preload.enabled and not settings.preload.modules:
        # What the next fork server may preload (PRELOAD=1 learns; an explicit list does not).
        learned = imports.outside_project(set(sys.modules) - before, Path(os.environ[protocol.ROOT_ENV]),
                                          settings.reload_paths)
        for start in range(0, len(learned), IMPORTED_PER_MESSAGE):  # a message holds ~200 KB at most
            tell(f"{WorkerWords.IMPORTED} {','.join(learned[start:start + IMPORTED_PER_MESSAGE])}")
    return app, problem


def read_orders(control: socket.socket, server: DrainingServer, live: LiveReload | None, order: AsyncResult,
                worker_pid: int) -> None:
    """The supervisor's words, until it closes the control socket: SERVE, ASSETS, then DRAIN or STOP."""
    while True:
        message, fds = protocol.receive(control, 1)  # gevent's patched socket: this greenlet waits, no other
        if not message:
            break
        word, _, rest = message.decode().partition(" ")
        channel = socket.socket(fileno=fds[0]) if fds else None
        if channel is not None:
            channel.settimeout(None)  # not the app's socket.setdefaulttimeout(): it waits for a predecessor
        if word == WorkerWords.SERVE:
            if live:
                live.generation = rest
            if channel is not None:
                server.adopt(channel)  # what the retiring worker passes on
            server.start()
            stamp("serving")
        elif word == WorkerWords.ASSETS and live:
            live.assets_changed(rest.split("\n"))
        elif word in (WorkerWords.DRAIN, WorkerWords.STOP):
            order.set((word, channel))
    if os.getpid() == worker_pid:  # not in a fork of it, which closed its copy of the socket
        order.set((WorkerWords.STOP, None))  # the supervisor went away: nobody will ever send more


def retire(server: DrainingServer, live: LiveReload | None, successor: socket.socket | None, tell,
           graceful_timeout: float) -> None:
    """Stop serving: hand every connection not being answered to `successor` (None: stopping), finish the rest."""
    if live:
        live.close()  # event streams end now: browsers reconnect to the successor
    if server.started:
        server.begin_drain(successor)
    tell(WorkerWords.DRAINING)
    if not server.wait_drained(graceful_timeout):
        say(f"worker {os.getpid()}: requests still running after GRACEFUL_TIMEOUT="
            f"{graceful_timeout:g}s were cut off")


def main() -> None:
    try:
        listen_fd = int(os.environ[protocol.LISTEN_FD_ENV])
        control_fd = int(os.environ[protocol.CONTROL_FD_ENV])
    except (KeyError, ValueError):
        sys.exit("this module is started by the dev server's supervisor: run scripts/entrypoint.py")
    processes.exit_now(serve(listen_fd, control_fd))


if __name__ == "__main__":
    main()
