"""The demo's routes: a page, and a blocking route that shows off gevent. Yours to change."""

import time

from flask import Blueprint, abort, current_app, jsonify, render_template, request
# tasks:begin
# celery:begin
from kombu.exceptions import OperationalError
# celery:end
from redis.exceptions import ConnectionError as RedisConnectionError
# rq:begin
# from rq.exceptions import NoSuchJobError
# from rq.job import Job
# rq:end

# celery:begin
from app.tasks import celery, echo
# celery:end
# rq:begin
# from app.tasks import echo, queue
# rq:end
# tasks:end

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    """A page rendered from app/templates/, so template reload can be seen."""
    return render_template("index.html", app_env=current_app.config["APP_ENV"])


def seconds_arg(default: float, most: float) -> float:
    """?seconds=, checked: a number from 0 to `most` (400 otherwise)."""
    try:
        seconds = float(request.args.get("seconds", default))
    except ValueError:
        abort(400, "seconds must be a number")
    if not 0 <= seconds <= most:
        abort(400, f"seconds must be between 0 and {most:g}")
    return seconds


@bp.get("/testsleep")
def testsleep():
    """Block for ?seconds= (default 10). Under gevent, time.sleep yields: nothing else waits."""
    seconds = seconds_arg(default=10, most=300)
    time.sleep(seconds)
    return jsonify(slept=seconds)
# tasks:begin


def redis_down(error: Exception):
    """The answer while Redis, where the tasks wait and their results are kept, does not answer."""
    first_line = str(error.__cause__ or error).strip().splitlines()[0].rstrip(".")
    return jsonify(error=f"Redis is not reachable: {first_line}. With compose, is the redis service running "
                         "(`docker compose ps redis`)?"), 503
# celery:begin


@bp.route("/tasks/echo", methods=["GET", "POST"])
def tasks_echo():
    """Queue the demo task (app/tasks.py) with ?text= and answer at once, 202, with its id; the worker runs it."""
    try:
        task = echo.delay(request.values.get("text", ""))
    except (OperationalError, RuntimeError) as error:  # Redis as the queue, or as the result store (after ~20 s)
        return redis_down(error)
    return jsonify(id=task.id), 202


@bp.get("/tasks/<task_id>")
def task_state(task_id: str):
    """A task's state (PENDING, also for an id nobody knows; then SUCCESS or FAILURE) and its result."""
    result = celery.AsyncResult(task_id)
    try:
        state = result.state
    except RedisConnectionError as error:
        return redis_down(error)
    return jsonify(id=task_id, state=state, result=result.result if state == "SUCCESS" else None)
# celery:end
# rq:begin
#
#
# @bp.route("/tasks/echo", methods=["GET", "POST"])
# def tasks_echo():
#     """Queue the demo task (app/tasks.py) with ?text= and answer at once, 202, with its id; the worker runs it."""
#     try:
#         job = queue.enqueue(echo, request.values.get("text", ""))
#     except RedisConnectionError as error:
#         return redis_down(error)
#     return jsonify(id=job.id), 202
#
#
# @bp.get("/tasks/<task_id>")
# def task_state(task_id: str):
#     """A job's state (queued, started, finished, failed) and its result; 404 for an id Redis does not know."""
#     try:
#         job = Job.fetch(task_id, connection=queue.connection)
#         state = job.get_status()
#     except NoSuchJobError:
#         return jsonify(id=task_id, state=None, result=None, error="no such job"), 404
#     except RedisConnectionError as error:
#         return redis_down(error)
#     return jsonify(id=task_id, state=state.value, result=job.return_value() if state == "finished" else None)
# rq:end
# tasks:end
# postgres:begin


@bp.get("/db")
def db():
    """One query to PostgreSQL (DATABASE_URL), sleeping ?seconds= (default 0) in the server.

    psycopg 3 yields to gevent while it waits: open /testsleep?seconds=5 or /db?seconds=5 in
    one tab and this page in another, and neither waits for the other.
    """
    import psycopg  # here rather than at the top, so this block is the whole of the demo's database code

    url = current_app.config["DATABASE_URL"]
    if not url:
        return jsonify(error="no database configured: set DATABASE_URL, e.g. "
                             "postgresql://app:app@127.0.0.1:5432/app"), 503
    seconds = seconds_arg(default=0, most=60)
    try:
        with psycopg.connect(url, connect_timeout=5) as connection:
            version = connection.execute("SELECT current_setting('server_version'), pg_sleep(%s)",
                                         (seconds,)).fetchone()[0]
    except psycopg.OperationalError as error:
        first_line = str(error).strip().splitlines()[0]
        return jsonify(error=f"PostgreSQL is not reachable: {first_line}. With compose, is the db service "
                             "running (`docker compose ps db`)?"), 503
    return jsonify(postgres=version, slept=seconds)
# postgres:end
