"""An example of testing a task for real: queued through the stack's web service, kept in its Redis, run by
a real worker on your code (`task_worker`, tests/integration/conftest.py). The task's own logic is tested
faster, without any of them, in tests/test_tasks.py."""

import time

import requests

# celery:begin
DONE = ("SUCCESS", "FAILURE")  # Celery's final states
# celery:end
# rq:begin
# DONE = ("finished", "failed")  # RQ's final states
# rq:end


def test_a_queued_echo_comes_back_from_the_worker(stack_url, task_worker):
    queued = requests.get(stack_url + "/tasks/echo", params={"text": "hi"}, timeout=30)
    assert queued.status_code == 202, queued.text
    task = stack_url + "/tasks/" + queued.json()["id"]
    deadline = time.monotonic() + 30
    while (answer := requests.get(task, timeout=10).json())["state"] not in DONE and time.monotonic() < deadline:
        time.sleep(0.2)
    assert answer["state"] == DONE[0] and answer["result"] == "hi", answer
