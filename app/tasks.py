# template-only:begin
# This file is Celery's version; the lines between rq:begin and rq:end, commented out here, are RQ's:
# `make new TASKS=rq` keeps them, uncommented, in place of Celery's (scripts/template/generated.jinja).
# template-only:end
# celery:begin
"""Background tasks with Celery: the demo's `echo`, run by the compose `worker` service. Yours to change.

The worker is Celery's own (`celery -A app.tasks worker -P gevent`, TASK_WORKER in docker-compose.yml),
which the dev server runs and reloads as it does the web workers: save this file and a new worker takes
the next task, while a task the old one is running finishes on the code it started with. Tasks and
their results are kept in Redis, REDIS_URL: compose gives its services redis://redis:6379/0; on your
machine (`make dev`, the tests) the default is the redis service's port on 127.0.0.1.

The web side enqueues (`echo.delay(text)`) and reads a task's state and result
(`celery.AsyncResult(id)`), as Flask's docs do (Background Tasks with Celery): app/views.py's
/tasks/echo and /tasks/<id>. A task that needs your Flask app (its config, a database session) runs
it in an app context: the docs' `FlaskTask` shows how.
"""

import os

from celery import Celery

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

celery = Celery(__name__, broker=REDIS_URL, backend=REDIS_URL)
celery.conf.update(
    broker_connection_retry_on_startup=True,  # a worker started before Redis waits for it (Celery 6's default)
    result_expires=3600,  # seconds a result stays in Redis
)


@celery.task
def echo(text: str) -> str:
    """The demo task: its text back, so a round trip through the queue shows."""
    return text
# celery:end
# rq:begin
# """Background tasks with RQ: the demo's `echo`, run by the compose `worker` service. Yours to change.
#
# The worker is RQ's own (`rq worker --url ...`, TASK_WORKER in docker-compose.yml), which the dev server
# runs and reloads as it does the web workers: save this file and a new worker takes the next job, while
# a job the old one is running finishes on the code it started with. A task is a plain function; jobs
# and their results are kept in Redis, REDIS_URL: compose gives its services redis://redis:6379/0; on
# your machine (`make dev`, the tests) the default is the redis service's port on 127.0.0.1.
#
# The web side enqueues (`queue.enqueue(echo, text)`) and reads a job's state and result
# (`Job.fetch(id)`): app/views.py's /tasks/echo and /tasks/<id>.
# """
#
# import os
#
# from redis import Redis
# from rq import Queue
#
# REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
#
# queue = Queue(connection=Redis.from_url(REDIS_URL))  # RQ's "default" queue, the one `rq worker` takes
#
#
# def echo(text: str) -> str:
#     """The demo task: its text back, so a round trip through the queue shows."""
#     return text
# rq:end
