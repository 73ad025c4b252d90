"""The health check of a task worker's container (TASK_WORKER): is this host's worker consuming?

A task worker has no port to ask, so the queue is asked, the way each queue's own tools ask it:
- Celery: a remote-control ping of this worker's node (`celery@<host name>`, or the worker's
  `-n/--hostname`), what `celery inspect ping --destination` sends; only a worker whose consumer
  runs answers it.
- RQ: a worker registered in Redis from this host name (what `rq info --only-workers` lists),
  whose process runs here (a worker killed with -9 stays registered until its key expires).

Run by scripts/healthcheck.py in the container, where the worker runs: the same host name and the
same processes. Celery's check imports the `-A` app, as `celery -A app inspect ping` would, to use
its broker settings: a second or two, so these containers ask every 30 s (docker-compose.yml).
"""

from __future__ import annotations

import os
import socket
import sys
import warnings

from devserver.settings import option

PING_TIMEOUT = 5.0  # seconds a worker has to answer Celery's ping; a consuming one answers in milliseconds


def check(words: tuple[str, ...]) -> tuple[bool, str]:
    """(healthy, what to print) for the worker command `words` (TASK_WORKER, as parsed)."""
    sys.path.insert(0, os.getcwd())  # the app's package, as the queue's CLI finds it (the image's WORKDIR)
    return celery_check(words) if words[0] == "celery" else rq_check(words)


def celery_check(words: tuple[str, ...]) -> tuple[bool, str]:
    from celery.bin.base import CeleryCommandException
    from celery.bin.celery import celery
    from celery.utils.nodenames import default_nodename, host_format

    # Celery's own `inspect ping`, with the options the worker was given before `worker` (-A, --broker):
    # the broker and app it reads are the worker's.
    at = words.index("worker")
    node = host_format(default_nodename(option(words[at + 1:], "-n", "--hostname")))  # as the worker names itself
    args = [*words[1:at], "inspect", "ping", "--destination", node, "--timeout", f"{PING_TIMEOUT:g}"]
    try:
        if celery.main(args=args, prog_name="celery", standalone_mode=False) in (None, 0):
            return True, f"{node} answers"
    except CeleryCommandException:  # "No nodes replied within time constraint"
        pass
    return False, (f"{node} did not answer a ping within {PING_TIMEOUT:g}s: not consuming (still starting, "
                   "stopped, or its app sets worker_enable_remote_control off)")


def rq_check(words: tuple[str, ...]) -> tuple[bool, str]:
    from rq.cli.cli import main
    from rq.cli.helpers import CliConfig

    # Read by RQ's own command line (--url, -c, RQ_REDIS_URL, --worker-class), as `rq worker` reads them.
    with warnings.catch_warnings():  # RQ 1.x declares --serializer twice, and click says so at each parse
        warnings.simplefilter("ignore", UserWarning)
        worker = main.get_command(None, "worker").make_context("worker", list(words[words.index("worker") + 1:]))
    config = CliConfig(**worker.params)
    host = socket.gethostname()
    mine = [w for w in config.worker_class.all(connection=config.connection) if w.hostname == host]
    running = [w.name for w in mine if alive(w.pid)]
    if running:
        return True, f"RQ worker {running[0]} is registered and runs"
    if mine:
        return False, f"RQ worker {mine[0].name} is registered from {host} but its process is gone"
    return False, f"no RQ worker of {host} is registered in Redis: not consuming (still starting, or stopped)"


def alive(pid: int | None) -> bool:
    """Whether `pid` runs in this container (the check shares the worker's process namespace)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user's
    return True
