# celery:begin
"""Examples of testing your tasks without a worker or Redis: the task's function called directly, and
Celery's eager mode, where queuing a task runs it at once, here (`task_always_eager`).

These are about the demo's `echo` (app/tasks.py): change them with it. A task run for real, by a
worker through Redis, is in tests/integration/test_queued_tasks.py.
"""

import pytest

from app import create_app
from app.tasks import celery, echo


@pytest.fixture
def eager(monkeypatch):
    """Celery's eager mode for one test: `.delay()` runs the task here and now, its errors raised."""
    monkeypatch.setitem(celery.conf, "task_always_eager", True)
    monkeypatch.setitem(celery.conf, "task_eager_propagates", True)


def test_echo_returns_its_text():
    assert echo("hi") == "hi"  # a task called as a function runs in the test, no queue involved


def test_a_queued_echo_runs_at_once_in_eager_mode(eager):
    result = echo.delay("hi")
    assert result.successful() and result.get() == "hi"


def test_the_route_queues_it_and_answers_with_its_id(eager):
    client = create_app().test_client()  # the demo's app (app/), whatever FLASK_APP names
    response = client.get("/tasks/echo?text=hi")
    assert response.status_code == 202 and response.json["id"]
# celery:end
# rq:begin
# """Examples of testing your tasks without a worker or a Redis server: the task's function called directly,
# and RQ's synchronous mode, where queuing a job runs it at once, here (`is_async=False`), its data kept
# in fakeredis, an in-memory Redis (RQ keeps even a synchronous job in Redis).
#
# These are about the demo's `echo` (app/tasks.py): change them with it. A job run for real, by a worker
# through Redis, is in tests/integration/test_queued_tasks.py.
# """
#
# import pytest
# from fakeredis import FakeStrictRedis
# from rq import Queue
#
# from app import create_app
# from app.tasks import echo
#
#
# @pytest.fixture
# def synchronous(monkeypatch):
#     """RQ's synchronous mode for one test: the app's queue, in memory, runs what is queued here and now."""
#     queue = Queue(is_async=False, connection=FakeStrictRedis())
#     monkeypatch.setattr("app.tasks.queue", queue)
#     monkeypatch.setattr("app.views.queue", queue)  # where the routes took it from
#     return queue
#
#
# def test_echo_returns_its_text():
#     assert echo("hi") == "hi"  # a task is a plain function: called, it runs in the test
#
#
# def test_a_queued_echo_runs_at_once_in_synchronous_mode(synchronous):
#     job = synchronous.enqueue(echo, "hi")
#     assert job.get_status() == "finished" and job.return_value() == "hi"
#
#
# def test_the_route_queues_it_and_answers_with_its_id(synchronous):
#     client = create_app().test_client()  # the demo's app (app/), whatever FLASK_APP names
#     response = client.get("/tasks/echo?text=hi")
#     assert response.status_code == 202
#     assert synchronous.fetch_job(response.json["id"]).return_value() == "hi"
# rq:end
