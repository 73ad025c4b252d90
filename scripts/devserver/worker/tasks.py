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
from devserver.settings import option


class Celery:
    """`celery -A module worker ...`: the -A app is imported at load (the tasks' code: its errors are load
    errors), then Celery's CLI runs with the very words given. SIGTERM is Celery's warm shutdown."""

    def __init__(self, words: tuple[str, ...]):
        self.words = words
        # Its gevent pool runs the tasks in this process's loop: one that blocks it holds the others (the
        # report). Known once loaded: the pool may be the app's setting rather than an option.
        self.in_gevent_loop = False
        self.when_ready = None  # what to start once it consumes (the blocking report)
        # Set before the orders' thread starts, which may ask stop_consuming at once (a quick second save).
        self.consumer = None  # once ready (worker_ready): Celery's consumer
        self.hub = gevent.get_hub()  # this thread's, where the consumer runs

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
        pool = option(self.words, "-P", "--pool") or app.conf.worker_pool
        get_implementation(pool)
        self.in_gevent_loop = pool in ("gevent", "eventlet")
        app.connection_for_read().transport  # noqa: B018 - imports the transport's module; connects to nothing

    def run(self) -> int:
        from celery.bin.celery import celery
        from celery.signals import worker_ready

        worker_ready.connect(self.ready, weak=False)
        return exit_code(lambda: celery.main(args=list(self.words[1:]), prog_name="celery"))

    def ready(self, sender, **_) -> None:
        self.consumer = sender
        if self.when_ready is not None:
            self.when_ready()
        cycle = getattr(sender.connection.transport, "cycle", None)
        if hasattr(cycle, "maybe_restore_messages"):  # kombu's Redis transport
            options = sender.connection.transport_options or {}
            gevent.spawn(sweep_unacknowledged, cycle, options.get("unacked_restore_interval", 10))

    def stop_consuming(self) -> None:
        """From the orders' thread, before the warm shutdown: the old worker takes no task from now on.

        Celery's warm shutdown does not stop consuming at once: its loop drains once more after it begins
        (celery/worker/loops.py: drain_events, up to 2 s, in a `finally`), and with Redis a BRPOP left
        outstanding as the loop ends takes a message nobody reads: lost. So, first: every task message
        this worker receives goes back to the queue, for the successor (one attribute, which kombu's
        Consumer reads at each message); then its task consumers are cancelled in the consumer's own loop
        (kombu defers that until the read under way ends, celery/celery#1773, which is before the loop
        next looks at the shutdown), so no BRPOP is issued after."""
        consumer = self.consumer
        if consumer is None:
            return  # not consuming yet: the warm shutdown stops it before it does
        consumer.task_consumer.on_message = requeue
        done = allocate_lock()
        done.acquire()

        def cancel() -> None:
            try:
                for queue in list(consumer.task_consumer.queues):
                    consumer.cancel_task_queue(queue.name)
            except Exception as exc:  # noqa: BLE001 - the warm shutdown follows whatever happened
                say(f"warning: the old task worker could not stop consuming before its warm shutdown: {exc}")
            finally:
                done.release()

        self.hub.loop.run_callback_threadsafe(gevent.spawn, cancel)
        done.acquire(timeout=CANCEL_WAIT)


def sweep_unacknowledged(cycle, interval: float) -> None:
    """Hand out again what a killed worker left unacknowledged (acks_late) once its visibility timeout has
    passed, every `interval` seconds, as kombu's Redis transport does on its event loop's timer. Under
    gevent's patching Celery runs its synchronous loop (kombu's detect_environment() says "gevent", so no
    event loop, whatever the pool), where that sweep never runs: it would run only when a poll returns
    nothing, which BRPOP's own timeout never lets happen. Same method, same throttle and mutex; a
    connection of the pool's, not the consumer's."""
    while True:
        gevent.sleep(interval)
        try:
            cycle.maybe_restore_messages()
        except Exception:  # noqa: BLE001 - the broker away for a moment: the next sweep tries again
            pass


def requeue(message) -> None:
    message.requeue()  # kombu's reject with requeue: Redis gets it back at the head of the queue


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

    def stop_consuming(self) -> None:
        """Nothing before the warm shutdown: RQ's takes no job after it, and raises out of the wait for one."""

    def run(self) -> int:
        from rq.cli import main

        stop_in_this_greenlet()
        return exit_code(lambda: main.main(args=list(self.words[1:]), prog_name="rq"))


def stop_in_this_greenlet() -> None:
    """RQ stops an idle worker by raising StopRequested from its SIGTERM handler. Under gevent the handler
    may run in the hub's greenlet (the worker waits for Redis through it), where that exception is printed
    and lost, and the worker goes on: it is thrown into the worker's own greenlet instead, as gevent's own
    Timeout is. A busy worker's handler raises nothing (it stops after the job), and is left as it is."""
    import sys

    import greenlet
    from rq.worker import Worker

    # The class that has it: BaseWorker in RQ 2 and later (rq/worker/base.py), Worker in RQ 1 (rq/worker.py),
    # and the StopRequested it raises, as its module names it (rq.exceptions' in RQ 2, its own in RQ 1).
    owner = next(cls for cls in Worker.__mro__ if "_shutdown" in vars(cls))
    StopRequested = sys.modules[owner.__module__].StopRequested  # noqa: N806 - a class
    worker_greenlet = greenlet.getcurrent()
    shutdown = owner._shutdown

    def _shutdown(worker) -> None:
        try:
            shutdown(worker)
        except StopRequested:
            if greenlet.getcurrent() is worker_greenlet:
                raise
            gevent.get_hub().loop.run_callback(worker_greenlet.throw, StopRequested())

    owner._shutdown = _shutdown


QUEUES = {"celery": Celery, "rq": RQ}
RealSocket = monkey.get_original("socket", "socket")
start_new_thread, get_ident, allocate_lock = monkey.get_original("_thread", ["start_new_thread", "get_ident",
                                                                            "allocate_lock"])
CANCEL_WAIT = 2.0  # how long the old worker's task consumers may take to be cancelled, before its warm shutdown


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
    start_new_thread(read_orders, (queue, orders, get_ident()))
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


def read_orders(queue, orders: socket.socket, main_thread: int) -> None:
    """DRAIN, STOP, or the supervisor gone: it stops consuming, says DRAINING (the successor then consumes),
    and asks its queue's warm shutdown, once (RQ reads a second SIGTERM as a cold shutdown, which kills
    the running job). Sent to the main thread, where Python runs the queue's handler: its wait (for a
    horse, for the broker) is interrupted at once."""
    while next_word(orders) not in (WorkerWords.DRAIN, WorkerWords.STOP):
        pass
    queue.stop_consuming()
    protocol.send(orders, WorkerWords.DRAINING)
    signal.pthread_kill(main_thread, signal.SIGTERM)
