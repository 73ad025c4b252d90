"""A task worker: Celery's or RQ's own worker, in a worker process the supervisor swaps as it swaps a web one.

Life of a task worker, told over its control socket (the words: protocol.WorkerWords):
  load the app and the queue's app -> LOADED_OK or LOADED_ERROR -> wait for SERVE
  -> run the queue's worker (its own CLI, in this process: its options, its log, its signals)
  -> DRAIN (a successor consumes) or STOP or the supervisor gone: DRAINING, and the queue's own
     warm shutdown (one SIGTERM): it takes no new task, finishes the running ones, and returns -> exit.
The supervisor ends it after TASK_GRACE whatever it is doing, and says so.

Both queues are driven through their command lines rather than their Python APIs: what the user
writes in TASK_WORKER is exactly what runs, as `celery ...` or `rq ...` would run it (the options,
the log format, the SIGTERM handling each documents), with the preloading done before.
"""

from __future__ import annotations

import os
import signal
import socket

import gevent
from gevent import monkey

from devserver import orphans, protocol
from devserver.log import say
from devserver.protocol import WorkerWords


def option(words: tuple[str, ...], *names: str) -> str | None:
    """The value of a command-line option given as `-A x`, `--app x` or `--app=x`."""
    for index, word in enumerate(words):
        for name in names:
            if word == name and index + 1 < len(words):
                return words[index + 1]
            if name.startswith("--") and word.startswith(name + "="):
                return word.split("=", 1)[1]
    return None


class Celery:
    """`celery -A module worker ...`: the -A app is imported at load (the tasks' code: its errors are load
    errors), then Celery's CLI runs with the very words given. SIGTERM is Celery's warm shutdown."""

    def __init__(self, words: tuple[str, ...]):
        self.words = words
        # Its gevent pool runs the tasks in this process's loop: one that blocks it holds the others (the report).
        self.in_gevent_loop = (option(words, "-P", "--pool") or "") in ("gevent", "eventlet")

    def load(self) -> None:
        """The -A app and what the CLI would import after SERVE (its commands, the worker, the pool, the
        broker's transport): imported now, they are learned by the fork server and preloaded next time,
        and the new worker consumes sooner."""
        import celery.apps.worker  # noqa: F401
        import celery.bin.celery  # noqa: F401
        from celery.app.utils import find_app
        from celery.concurrency import get_implementation

        name = option(self.words, "-A", "--app")
        app = find_app(name) if name else celery.current_app  # what the CLI does next finds it imported
        app.loader.import_default_modules()  # the modules it names (`imports`, `include`): their errors are load errors
        get_implementation(option(self.words, "-P", "--pool") or app.conf.worker_pool)
        app.connection_for_read().transport  # noqa: B018 - imports the transport's module; connects to nothing

    def run(self) -> int:
        from celery.bin.celery import celery

        return exit_code(lambda: celery.main(args=list(self.words[1:]), prog_name="celery"))


class RQ:
    """`rq worker ...`: RQ imports each job's function when the job runs, in a fork of this process (its
    work horse); what the Flask app imports (the module that enqueues) is loaded here first, so a horse
    runs this generation's code. SIGTERM is RQ's warm shutdown."""

    def __init__(self, words: tuple[str, ...]):
        self.words = words
        self.in_gevent_loop = False  # each job runs in a work horse; the worker waits for it, holding the loop

    def load(self) -> None:
        import rq.cli  # noqa: F401 - what the CLI needs: imported now, the fork server learns it
        import rq.worker  # noqa: F401

    def run(self) -> int:
        from rq.cli import main

        stop_in_this_greenlet()
        return exit_code(lambda: main.main(args=list(self.words[1:]), prog_name="rq"))


def stop_in_this_greenlet() -> None:
    """RQ stops an idle worker by raising StopRequested from its SIGTERM handler. Under gevent the handler
    may run in the hub's greenlet (the worker waits for Redis through it), where that exception is printed
    and lost, and the worker goes on: it is thrown into the worker's own greenlet instead, as gevent's own
    Timeout is. A busy worker's handler raises nothing (it stops after the job), and is left as it is."""
    import greenlet
    from rq.exceptions import StopRequested
    from rq.worker.base import BaseWorker

    worker_greenlet = greenlet.getcurrent()
    shutdown = BaseWorker._shutdown

    def _shutdown(worker) -> None:
        try:
            shutdown(worker)
        except StopRequested:
            if greenlet.getcurrent() is worker_greenlet:
                raise
            gevent.get_hub().loop.run_callback(worker_greenlet.throw, StopRequested())

    BaseWorker._shutdown = _shutdown


QUEUES = {"celery": Celery, "rq": RQ}
RealSocket = monkey.get_original("socket", "socket")
start_new_thread, get_ident = monkey.get_original("_thread", ["start_new_thread", "get_ident"])


def exit_code(run) -> int:
    """A click CLI's exit status: it ends by raising SystemExit."""
    try:
        run()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def queue_of(words: tuple[str, ...]):
    return QUEUES[words[0]](words)


def consume(queue, control: socket.socket, tell, problem: str | None) -> int:
    """After the load: wait for SERVE, run the queue's worker until it ends; returns the exit status."""
    tell(WorkerWords.LOADED_OK if problem is None else WorkerWords.LOADED_ERROR)
    word = next_word(control)
    if word != WorkerWords.SERVE or problem is not None:
        return 0  # replaced or stopped before it consumed anything (a load error: never asked to)
    # The orders are read on an OS thread, over an unpatched copy of the control socket: RQ's worker waits
    # for its work horse in a call that holds gevent's loop, and a greenlet would hear DRAIN only after the task.
    orders = RealSocket(fileno=os.dup(control.fileno()))
    orders.setblocking(True)
    os.register_at_fork(after_in_child=lambda: (control.close(), orders.close()))  # a work horse reads no orders
    start_new_thread(read_orders, (orders, get_ident()))
    try:
        code = queue.run()
    finally:
        orphans.end(orphans.children(os.getpid()))  # a work horse left behind goes with its worker
    if code:
        say(f"task worker {os.getpid()}: {queue.words[0]} ended with status {code}")
    return code


def next_word(control: socket.socket) -> str:
    message, _ = protocol.receive(control, 0)
    return message.decode().partition(" ")[0] if message else WorkerWords.STOP


def read_orders(orders: socket.socket, main_thread: int) -> None:
    """DRAIN, STOP, or the supervisor gone: DRAINING, and the queue's warm shutdown, asked once (RQ reads a
    second SIGTERM as a cold shutdown, which kills the running job). Sent to the main thread, where Python
    runs the queue's handler: its wait (for a horse, for the broker) is interrupted at once."""
    while next_word(orders) not in (WorkerWords.DRAIN, WorkerWords.STOP):
        pass
    protocol.send(orders, WorkerWords.DRAINING)
    signal.pthread_kill(main_thread, signal.SIGTERM)
