"""Background tasks on the compose stack (issue 24): the tasks profile's redis and worker services beside
the dev server, the demo's Celery task through its routes, and the worker reloaded as the web workers are.

The stack runs the project's own demo (FLASK_APP=app: its /tasks/ routes and app/tasks.py, which the worker
watches) with the profile on, as a user turns it on (COMPOSE_PROFILES=tasks). A task of the test's own,
`slow_version`, is added to app/tasks.py before the build and queued from this machine on the stack's
Redis. CI passes a stand-in for the official Redis image (REDIS_IMAGE, scripts/ci/official-or-standin.sh).
"""

import time

import pytest
from celery import Celery

from compose_stack import Stack
from harness import wait_for

SLOW_TASK = '''

VERSION = "old"  # which code ran a task: the test edits it with echo


@celery.task
def slow_version(seconds: float) -> str:
    import time

    time.sleep(seconds)
    return VERSION
'''
TASK_GRACE = 30  # the engine's default; the worker service's stop_grace_period is above it
DONE = ("SUCCESS", "FAILURE")


@pytest.fixture(scope="module")
def tasks_stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("tasks"), COMPOSE_PROFILES="tasks")
    s.write_env(FLASK_APP="app")  # the demo, whose package holds the tasks the worker runs and watches
    with open(s.dir / "app" / "tasks.py", "a") as f:
        f.write(SLOW_TASK)
    try:
        s.compose("up", "-d", "--build", "web", "worker")
        s.wait_healthy("web")
        wait_for(lambda: "task worker loaded in" in s.logs("worker"), 90, interval=0.5,
                 message="the task worker's first generation")
        yield s
    finally:
        s.down()


@pytest.fixture(scope="module")
def queue(tasks_stack) -> Celery:
    """A Celery client on the stack's Redis, from this machine (its published port)."""
    url = f"redis://127.0.0.1:{tasks_stack.env['REDIS_PORT']}/0"
    return Celery("from-the-host", broker=url, backend=url)


def echoed(s: Stack, text: str, url: str | None = None) -> dict:
    """/tasks/echo?text=, then /tasks/<id> until the task is done: that last answer."""
    queued = s.get("/tasks/echo", url, params={"text": text})
    assert queued.status_code == 202, queued.text
    answers = []

    def done() -> bool:
        answers.append(s.get(f"/tasks/{queued.json()['id']}", url).json())
        return answers[-1]["state"] in DONE

    wait_for(done, 30, interval=0.2, message=f"the echo task's result, last {answers[-1:]}")
    return answers[-1]


def started(s: Stack, task_id: str) -> None:
    """Wait until the worker has the task (Celery's gevent pool starts what it receives)."""
    wait_for(lambda: f"[{task_id}] received" in s.logs("worker"), 30, interval=0.2,
             message=f"the worker to receive {task_id}")


def line_count(s: Stack, words: str) -> int:
    return sum(words in line for line in s.logs("worker").splitlines())


def test_redis_and_the_worker_run_beside_the_web_service(tasks_stack):
    redis = tasks_stack.inspect("redis")
    assert redis["State"]["Health"]["Status"] == "healthy"
    assert redis["HostConfig"]["PortBindings"]["6379/tcp"] == [{"HostIp": "127.0.0.1",
                                                               "HostPort": tasks_stack.env["REDIS_PORT"]}]
    mounts = {m["Destination"]: m for m in redis["Mounts"]}
    assert mounts["/data"]["Type"] == "volume" and mounts["/data"]["Name"] == f"{tasks_stack.name}_redis-data"
    worker = tasks_stack.inspect("worker")
    assert redis["State"]["StartedAt"] < worker["State"]["StartedAt"]  # depends_on: redis healthy
    assert worker["Config"]["Image"] == tasks_stack.inspect("web")["Config"]["Image"]  # the web service's image
    assert not worker["HostConfig"]["PortBindings"]  # nothing published
    assert {m["Destination"]: m["Type"] for m in worker["Mounts"]}["/app"] == "bind"  # the same source mount
    command = "celery -A app.tasks worker -P gevent --without-mingle --without-gossip -l INFO"
    assert f"TASK_WORKER={command}" in worker["Config"]["Env"]
    assert worker["HostConfig"]["Init"] is True  # the entrypoint under tini, as for the web service


def test_a_queued_echo_comes_back_through_the_routes(tasks_stack):
    answer = echoed(tasks_stack, "hi")
    assert answer["state"] == "SUCCESS" and answer["result"] == "hi", answer
    assert tasks_stack.get("/tasks/no-such-task").json() == {"id": "no-such-task", "state": "PENDING", "result": None}


def test_an_edit_reloads_the_worker_and_a_running_task_finishes_on_the_old_code(tasks_stack, queue):
    slow = queue.send_task("app.tasks.slow_version", args=[2])
    started(tasks_stack, slow.id)
    reloads = line_count(tasks_stack, "task worker reloaded in")
    tasks = tasks_stack.dir / "app" / "tasks.py"
    text = tasks.read_text()
    assert text.count("\n    return text\n") == 1 and text.count('VERSION = "old"') == 1  # echo's, not RQ's
    tasks.write_text(text.replace("\n    return text\n", "\n    return text.upper()\n").replace('"old"', '"new"'))
    wait_for(lambda: line_count(tasks_stack, "task worker reloaded in") > reloads, 30, interval=0.2,
             message="the worker's reload")
    answer = echoed(tasks_stack, "hi")
    assert answer["state"] == "SUCCESS" and answer["result"] == "HI", answer  # the new code
    assert slow.get(timeout=30) == "old"  # queued and started before the edit: the code it started with
    assert echoed(tasks_stack, "again")["result"] == "AGAIN"
    print("\n".join(line for line in tasks_stack.logs("worker").splitlines()
                    if "[devserver]" in line or "shutdown" in line or "slow_version" in line))


def test_the_worker_turns_healthy_by_its_own_check(tasks_stack):
    """The image's health check, which in a task worker asks the queue whether this container's worker answers."""
    tasks_stack.wait_healthy("worker", timeout=150)  # a first check 30 s (its interval) after the start
    log = tasks_stack.inspect("worker")["State"]["Health"]["Log"]
    assert log[-1]["ExitCode"] == 0, log
    assert "answers" in log[-1]["Output"], log  # Celery's ping of this container's node (task_health.py)
    image_check = ["CMD", "python", "/app/scripts/healthcheck.py"]  # the Dockerfile's HEALTHCHECK
    assert tasks_stack.inspect("worker")["Config"]["Healthcheck"]["Test"] == image_check


def test_stopping_the_worker_lets_its_task_finish_and_ends_within_the_grace_period(tasks_stack, queue):
    slow = queue.send_task("app.tasks.slow_version", args=[2])
    started(tasks_stack, slow.id)
    begun = time.monotonic()
    tasks_stack.compose("stop", "worker", timeout=120)
    took = time.monotonic() - begun
    state = tasks_stack.inspect("worker")["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 0, (state, tasks_stack.logs("worker")[-3000:])
    assert took < TASK_GRACE, f"docker compose stop worker took {took:.1f} s"
    assert slow.get(timeout=10) == "new"  # Celery's warm shutdown: the running task finished first
    print(f"docker compose stop worker: {took:.1f} s, with a 2 s task running")


def test_production_runs_the_queues_own_worker_on_the_prod_image(tasks_stack):
    """APP_ENV=production: the entrypoint becomes Celery's worker command, as its docs run it (no supervisor,
    no reload), beside the prod service, on a Redis database of their own."""
    s = tasks_stack
    s.env["SECRET_KEY"] = "a-long-random-test-key-" * 3
    profiles = ("--profile", "prod", "--profile", "tasks", "--profile", "prod-tasks")  # as the compose file says
    s.compose(*profiles, "up", "-d", "--build", "prod", "prod-worker", timeout=900)
    s.wait_healthy("prod", timeout=120)
    wait_for(lambda: " ready." in s.logs("prod-worker"), 90, interval=0.5, message="Celery's worker ready")
    answer = echoed(s, "in production", url=f"http://127.0.0.1:{s.env['PROD_PORT']}")
    # The source baked in as the edit above left it: echo upper-cases.
    assert answer["state"] == "SUCCESS" and answer["result"] == "IN PRODUCTION", answer
    processes = s.compose("top", "prod-worker").stdout
    assert "celery -A app.tasks worker -P gevent -l INFO" in processes, processes
    # The entrypoint became the queue's command: only tini's own arguments still name it.
    assert all("docker-init" in line for line in processes.splitlines() if "entrypoint.py" in line), processes
    assert "devserver" not in processes, processes
    assert s.inspect("prod-worker")["Config"]["Image"] == f"{s.name}-web:prod"
    s.wait_healthy("prod-worker", timeout=150)  # the image's check asks Celery, as for the dev worker
